//! Local JWT validation: pure functions the request flow calls, no host calls.
//!
//! - `raw` / `config`: the `jwt` object of the plugin configuration, checked into `JwtConfig`.
//! - `extract`: the request's one token (or none, or a refusal) and, for `forwardToken: false`,
//!   what to remove.
//! - `token` / `strict`: the compact form taken apart strictly; `claims`: `iss`, `exp`, `nbf`,
//!   `iat`, `aud`; `claim_headers`: claims as identity header values.
//! - `alg` / `jwks` / `keys`: the accepted algorithms, JWKS documents, the key sets in use.
//! - `signature`: the check over `header.payload`, pluggable (`SignatureCheck`); `envoy_verify`
//!   runs it in Envoy's `verify_signature` (with `der` and `proto` for its input and answer).
//! - `verify`: all of the above in order; `cache`: verified tokens by digest.
//!
//! The flow for the caller: `extract`; on a token, `cache::token_key` and `TokenCache::get`; on a
//! miss, `verify` (or `verify_with` Envoy's checker) and `TokenCache::put`. `JwtError::refetch`
//! asks for one JWKS refetch, `JwtError::is_own_failure` for `onError`, any other error is 401.

pub mod alg;
pub mod cache;
pub mod checks;
pub mod claim_headers;
pub mod claims;
pub mod config;
pub mod der;
pub mod envoy_verify;
pub mod error;
pub mod extract;
pub mod fetch;
pub mod jwks;
pub mod keys;
pub mod raw;
pub mod shared_tokens;
pub mod signature;
mod strict;
pub mod token;
pub mod verify;

#[cfg(test)]
pub(crate) mod testing;

pub use alg::Alg;
pub use cache::{token_key, TokenCache};
pub use config::{JwtConfig, Mode};
pub use envoy_verify::EnvoyVerify;
pub use error::JwtError;
pub use extract::{extract, removal, Extracted, Removal, Token};
pub use jwks::{KeySet, PublicKey};
pub use keys::Keys;
pub use signature::{RustCrypto, SignatureCheck};
pub use verify::{verify, verify_with, Verified};
