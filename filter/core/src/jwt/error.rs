//! Why a token was refused. Every variant is a fixed text for logs: never the token, never a claim.
//! Almost all of them are a 401; `KeysMissing` and `CheckUnavailable` are the filter's own
//! failure (`onError`), and `UnknownKid` asks the caller to refetch that provider's JWKS once.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtError {
    /// Two token values in the request (two places, or twice in one place).
    TwoTokens,
    /// Over `MAX_TOKEN_BYTES` after its prefix.
    TooLarge,
    /// Not three base64url parts of JSON, or a header field of the wrong type.
    Malformed(&'static str),
    /// `alg` is `none`, HMAC, unknown, or not among the provider's `algorithms`.
    AlgRefused,
    /// A `crit` header: extensions this verifier does not understand (RFC 7515 4.1.11).
    CritHeader,
    /// No `iss`, or one no provider has.
    UnknownIssuer,
    /// Found in a place its issuer's provider does not read tokens from.
    WrongPlace,
    MissingExp,
    Expired,
    /// `nbf` after now (beyond the skew).
    NotYetValid,
    /// `iat` after now (beyond the skew).
    IssuedInFuture,
    WrongAudience,
    /// A registered claim of the wrong type, or a claim for a header that is not a header value.
    BadClaim(&'static str),
    /// The provider's keys have not been fetched yet.
    KeysMissing {
        provider: usize,
    },
    /// The `kid` is not in the provider's keys: they may have rotated.
    UnknownKid {
        provider: usize,
    },
    /// No key of the provider fits the `alg` (`kty`, `crv`, `alg` of the key).
    NoFittingKey,
    BadSignature,
    /// The signature checker could not run (an external one that failed).
    CheckUnavailable,
}

impl JwtError {
    pub fn reason(&self) -> &'static str {
        match self {
            JwtError::TwoTokens => "more than one token in the request",
            JwtError::TooLarge => "token over 8192 bytes",
            JwtError::Malformed(why) => why,
            JwtError::AlgRefused => "alg not accepted",
            JwtError::CritHeader => "crit header not understood",
            JwtError::UnknownIssuer => "iss missing or not a configured issuer",
            JwtError::WrongPlace => "token in a place its issuer's provider does not read",
            JwtError::MissingExp => "exp missing",
            JwtError::Expired => "expired",
            JwtError::NotYetValid => "nbf in the future",
            JwtError::IssuedInFuture => "iat in the future",
            JwtError::WrongAudience => "aud matches no configured audience",
            JwtError::BadClaim(why) => why,
            JwtError::KeysMissing { .. } => "the issuer's keys are not fetched yet",
            JwtError::UnknownKid { .. } => "kid not among the issuer's keys",
            JwtError::NoFittingKey => "no key of the issuer fits the alg",
            JwtError::BadSignature => "signature does not verify",
            JwtError::CheckUnavailable => "the signature check failed to run",
        }
    }

    /// The filter could not decide (answer `onError`), as opposed to a token found invalid.
    pub fn is_own_failure(&self) -> bool {
        matches!(
            self,
            JwtError::KeysMissing { .. } | JwtError::CheckUnavailable
        )
    }

    /// The provider whose JWKS should be refetched once before the token is judged.
    pub fn refetch(&self) -> Option<usize> {
        match self {
            JwtError::UnknownKid { provider } => Some(*provider),
            _ => None,
        }
    }
}

impl fmt::Display for JwtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for JwtError {}
