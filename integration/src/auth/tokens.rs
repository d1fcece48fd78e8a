//! The tokens file: token -> identity headers the service answers with on a 200.

use crate::error::io;
use crate::HarnessError;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// `{"tokens": {"alice-token": {"x-user-id": "alice", ...}}}`. Its `Debug` never prints a token.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tokens {
    tokens: BTreeMap<String, BTreeMap<String, String>>,
    /// `Some(prefix)`: every `<prefix>-<n>-token` is also valid, for user `<prefix><n>`, so a load
    /// test can use a million credentials without a million entries in memory.
    #[serde(skip)]
    generated: Option<String>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tokens({} entries)", self.tokens.len())?;
        match &self.generated {
            Some(_) => write!(f, " + generated"),
            None => Ok(()),
        }
    }
}

impl Tokens {
    pub fn load(path: &Path) -> Result<Self, HarnessError> {
        let text =
            std::fs::read_to_string(path).map_err(io(format!("reading {}", path.display())))?;
        Self::parse(&text).map_err(|e| HarnessError::Config(format!("{}: {e}", path.display())))
    }

    pub fn parse(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// The token file `integration/example/tokens.json` holds, for tests that do not read files.
    pub fn example() -> Self {
        let mut tokens = BTreeMap::new();
        for (token, user, roles) in [
            ("alice-token", "alice", "admin"),
            ("bob-token", "bob", "viewer"),
            // Logged out by `make run` at start (its revocation demo), and one to log out by hand:
            // a logout lasts as long as the service, and the other printed lines use alice and bob.
            ("carol-token", "carol", "viewer"),
            ("dave-token", "dave", "viewer"),
        ] {
            let identity = BTreeMap::from([
                ("x-user-id".to_string(), user.to_string()),
                ("x-user-roles".to_string(), roles.to_string()),
                ("x-tenant-id".to_string(), "acme".to_string()),
            ]);
            tokens.insert(token.to_string(), identity);
        }
        Tokens {
            tokens,
            generated: None,
        }
    }

    /// Also accepts every `<prefix>-<n>-token` (`n` decimal, any width), answering `x-user-id:
    /// <prefix><n>`, `x-user-roles: viewer`, `x-tenant-id: acme`. See `generated_token`.
    pub fn with_generated(mut self, prefix: &str) -> Self {
        self.generated = Some(prefix.to_string());
        self
    }

    pub fn insert(&mut self, token: &str, identity: &[(&str, &str)]) {
        let identity = identity
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        self.tokens.insert(token.to_string(), identity);
    }

    pub fn identity(&self, token: &str) -> Option<Cow<'_, BTreeMap<String, String>>> {
        if let Some(identity) = self.tokens.get(token) {
            return Some(Cow::Borrowed(identity));
        }
        let prefix = self.generated.as_deref()?;
        let n = token
            .strip_prefix(prefix)?
            .strip_prefix('-')?
            .strip_suffix("-token")?;
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(Cow::Owned(BTreeMap::from([
            ("x-user-id".to_string(), generated_user(prefix, n)),
            ("x-user-roles".to_string(), "viewer".to_string()),
            ("x-tenant-id".to_string(), "acme".to_string()),
        ])))
    }
}

/// The `n`-th generated token of `prefix` (see `Tokens::with_generated`).
pub fn generated_token(prefix: &str, n: u64) -> String {
    format!("{prefix}-{n:07}-token")
}

/// The user the service names for generated token number `n` (written as in the token).
pub fn generated_user(prefix: &str, n: &str) -> String {
    format!("{prefix}{n}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_in_file_matches_the_builtin_example() {
        let file = Tokens::load(&crate::paths::default_tokens()).unwrap();
        assert_eq!(file.tokens, Tokens::example().tokens);
    }

    #[test]
    fn debug_hides_tokens() {
        assert_eq!(format!("{:?}", Tokens::example()), "Tokens(4 entries)");
    }

    #[test]
    fn generated_tokens_have_their_own_user() {
        let t = Tokens::example().with_generated("gen");
        let id = t.identity(&generated_token("gen", 42)).unwrap();
        assert_eq!(id.get("x-user-id").map(String::as_str), Some("gen0000042"));
        assert!(t.identity("alice-token").is_some());
        for bad in [
            "gen--token",
            "gen-12x-token",
            "gen-12",
            "other-1-token",
            "gen1-token",
        ] {
            assert!(t.identity(bad).is_none(), "{bad}");
        }
        assert!(Tokens::example().identity("gen-1-token").is_none());
        assert_eq!(format!("{t:?}"), "Tokens(4 entries) + generated");
    }

    #[test]
    fn unknown_fields_are_rejected() {
        assert!(Tokens::parse(r#"{"tokens": {}, "extra": 1}"#).is_err());
    }
}
