//! A JWT issuer for tests, `make run` and the benchmark: RSA 2048, P-256 and Ed25519 keys generated
//! at run time (nothing secret is checked in), a JWKS of the keys it publishes (publish and
//! unpublish to rotate), tokens built from `Claims` (times relative to now, any claims, header
//! overrides), and the forged tokens of the attacks a verifier must refuse: `alg: none`, HS256
//! keyed with the RSA public key, a tampered payload, a key the JWKS does not have.
//!
//! ```no_run
//! use mesh_authz_integration::jwt::{Claims, Issuer, KeyKind};
//! let mut issuer = Issuer::new("https://issuer.example");
//! issuer.add_key(KeyKind::Rsa, "rsa-1")?;
//! let jwks = issuer.jwks();
//! let token = issuer.token(&Claims::new().sub("alice").aud("orders").exp_in(600))?;
//! # Ok::<(), mesh_authz_integration::jwt::IssuerError>(())
//! ```

mod claims;
pub mod forge;
mod issuer;
mod key;

pub use claims::{now, Claims};
pub use forge::{forge, parts, tamper, Parts};
pub use issuer::Issuer;
pub use jsonwebtoken::Algorithm;
pub use key::KeyKind;

use std::fmt;

/// The issuer of the tokens `make run` prints; the `jwt` provider of the checked-in Envoy config
/// must name the same `issuer`.
pub const EXAMPLE_ISSUER: &str = "https://auth.example";
/// Their audience (`aud`), for a provider that lists `audiences`.
pub const EXAMPLE_AUDIENCE: &str = "mesh-authz-example";

/// What went wrong making a key or a token (a test's mistake, e.g. an unknown kid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerError(pub String);

impl fmt::Display for IssuerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "jwt issuer: {}", self.0)
    }
}

impl std::error::Error for IssuerError {}

#[cfg(test)]
mod tests;
