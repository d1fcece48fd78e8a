//! The tokens file: token -> identity headers the service answers with on a 200.

use crate::error::io;
use crate::HarnessError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// `{"tokens": {"alice-token": {"x-user-id": "alice", ...}}}`. Its `Debug` never prints a token.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tokens {
    tokens: BTreeMap<String, BTreeMap<String, String>>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tokens({} entries)", self.tokens.len())
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
        ] {
            let identity = BTreeMap::from([
                ("x-user-id".to_string(), user.to_string()),
                ("x-user-roles".to_string(), roles.to_string()),
                ("x-tenant-id".to_string(), "acme".to_string()),
            ]);
            tokens.insert(token.to_string(), identity);
        }
        Tokens { tokens }
    }

    pub fn insert(&mut self, token: &str, identity: &[(&str, &str)]) {
        let identity = identity
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        self.tokens.insert(token.to_string(), identity);
    }

    pub fn identity(&self, token: &str) -> Option<&BTreeMap<String, String>> {
        self.tokens.get(token)
    }
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
        assert_eq!(format!("{:?}", Tokens::example()), "Tokens(2 entries)");
    }

    #[test]
    fn unknown_fields_are_rejected() {
        assert!(Tokens::parse(r#"{"tokens": {}, "extra": 1}"#).is_err());
    }
}
