//! What one token says and how its header reads: a builder the issuer turns into a token. Times
//! are offsets in seconds from the moment the token is made, so a test never hard-codes a date.

use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

/// One token's claims and header choices. `Claims::new()`: `iss` the issuer's, `iat` now, `exp`
/// in one hour, no `nbf`, `sub` or `aud`; signed by the issuer's first published key, with its
/// `kid` and algorithm.
#[derive(Debug, Clone)]
pub struct Claims {
    pub(crate) members: Map<String, Value>,
    pub(crate) iss: Option<String>,
    pub(crate) exp: Option<i64>,
    pub(crate) nbf: Option<i64>,
    pub(crate) iat: Option<i64>,
    pub(crate) without: BTreeSet<String>,
    /// The kid of the issuer's key that signs (`None`: its first published key).
    pub(crate) key: Option<String>,
    pub(crate) kid: Kid,
    pub(crate) alg: Option<Algorithm>,
    pub(crate) header_alg: Option<String>,
    pub(crate) header_extra: Map<String, Value>,
}

/// The header's `kid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kid {
    OfKey,
    Absent,
    Named(String),
}

impl Default for Claims {
    fn default() -> Self {
        Self::new()
    }
}

impl Claims {
    pub fn new() -> Self {
        Claims {
            members: Map::new(),
            iss: None,
            exp: Some(3600),
            nbf: None,
            iat: Some(0),
            without: BTreeSet::new(),
            key: None,
            kid: Kid::OfKey,
            alg: None,
            header_alg: None,
            header_extra: Map::new(),
        }
    }

    /// Named after the claim, as the other setters are; it is no subtraction.
    #[allow(clippy::should_implement_trait)]
    pub fn sub(self, sub: &str) -> Self {
        self.claim("sub", sub)
    }

    /// `aud` as one string.
    pub fn aud(self, aud: &str) -> Self {
        self.claim("aud", aud)
    }

    /// `aud` as an array.
    pub fn auds(self, auds: &[&str]) -> Self {
        self.claim("aud", auds.to_vec())
    }

    /// `iss` other than the issuer's own.
    pub fn iss(mut self, iss: &str) -> Self {
        self.iss = Some(iss.to_string());
        self.without.remove("iss");
        self
    }

    /// `exp` this many seconds from now (negative: already expired).
    pub fn exp_in(mut self, secs: i64) -> Self {
        self.exp = Some(secs);
        self.without.remove("exp");
        self
    }

    pub fn nbf_in(mut self, secs: i64) -> Self {
        self.nbf = Some(secs);
        self.without.remove("nbf");
        self
    }

    pub fn iat_in(mut self, secs: i64) -> Self {
        self.iat = Some(secs);
        self.without.remove("iat");
        self
    }

    /// Any claim, any JSON value (objects, arrays, numbers, booleans); it replaces one set
    /// before, including `iss`, `exp`, `nbf` and `iat` given literally.
    pub fn claim(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.members.insert(name.to_string(), value.into());
        self.without.remove(name);
        self
    }

    /// No `name` in the payload at all (e.g. `iss` or `exp`).
    pub fn without(mut self, name: &str) -> Self {
        self.members.remove(name);
        self.without.insert(name.to_string());
        self
    }

    /// Signed by the issuer's key `kid` (published or not); the header names that kid.
    pub fn signed_by(mut self, kid: &str) -> Self {
        self.key = Some(kid.to_string());
        self
    }

    /// The header names `kid`, whichever key signs.
    pub fn kid(mut self, kid: &str) -> Self {
        self.kid = Kid::Named(kid.to_string());
        self
    }

    /// No `kid` in the header.
    pub fn no_kid(mut self) -> Self {
        self.kid = Kid::Absent;
        self
    }

    /// Sign with `alg` (of the signing key's family, e.g. PS256 or RS512 with an RSA key) and say
    /// so in the header.
    pub fn alg(mut self, alg: Algorithm) -> Self {
        self.alg = Some(alg);
        self
    }

    /// The header's `alg` says `alg` (any text) whatever the signature was made with: a lie.
    pub fn header_alg(mut self, alg: &str) -> Self {
        self.header_alg = Some(alg.to_string());
        self
    }

    /// Another header member (`typ`, `crit`, `jku`, ...), replacing the default one if any.
    pub fn header(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.header_extra.insert(name.to_string(), value.into());
        self
    }

    /// The payload as of `now` (seconds since the epoch), `iss` defaulting to `issuer`.
    pub fn payload_at(&self, issuer: &str, now: i64) -> Value {
        let mut p = Map::new();
        p.insert(
            "iss".into(),
            self.iss.as_deref().unwrap_or(issuer).to_string().into(),
        );
        for (name, offset) in [("iat", self.iat), ("nbf", self.nbf), ("exp", self.exp)] {
            if let Some(offset) = offset {
                p.insert(name.into(), now.saturating_add(offset).into());
            }
        }
        for (name, value) in &self.members {
            p.insert(name.clone(), value.clone());
        }
        for name in &self.without {
            p.remove(name);
        }
        Value::Object(p)
    }
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
