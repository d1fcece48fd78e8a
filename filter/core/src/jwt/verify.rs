//! One token judged: decoded, its provider chosen by `iss`, its claims checked, its key picked,
//! its signature checked, its `claimHeaders` read. The checks that need no key come first, so that
//! before a JWKS is fetched a malformed, expired or foreign token is still a 401.

use super::alg::Alg;
use super::claim_headers;
use super::claims;
use super::config::JwtConfig;
use super::error::JwtError;
use super::extract::Token;
use super::jwks::PublicKey;
use super::keys::Keys;
use super::signature::{RustCrypto, SignatureCheck};
use super::token;
use crate::tagged::TaggedHeaders;

/// A token that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Index into `JwtConfig::providers`.
    pub provider: usize,
    /// The provider's `claimHeaders` (empty in gate mode), tagged by `identityHeaders` index.
    pub identity: TaggedHeaders,
    /// Seconds since 1970; a decision made for this token must not outlive it.
    pub exp: u64,
}

pub fn verify(
    config: &JwtConfig,
    keys: &Keys,
    token: &Token<'_>,
    now_secs: u64,
) -> Result<Verified, JwtError> {
    verify_with(config, keys, token, now_secs, &RustCrypto)
}

/// `verify` with another signature checker (Envoy's BoringSSL through a foreign function).
pub fn verify_with(
    config: &JwtConfig,
    keys: &Keys,
    token: &Token<'_>,
    now_secs: u64,
    checker: &dyn SignatureCheck,
) -> Result<Verified, JwtError> {
    let parsed = token::parse(&token.value)?;
    let iss = claims::issuer(&parsed.claims)?;
    let (index, provider) = config
        .providers
        .iter()
        .enumerate()
        .find(|(_, p)| p.issuer == iss)
        .ok_or(JwtError::UnknownIssuer)?;
    if !provider.from.contains(&token.source) {
        return Err(JwtError::WrongPlace);
    }
    if !provider.algorithms.contains(&parsed.alg) {
        return Err(JwtError::AlgRefused);
    }
    let exp = claims::check_times(&parsed.claims, now_secs, provider.clock_skew_secs)?;
    claims::check_audience(&parsed.claims, provider.audiences.as_deref())?;
    let set = keys
        .get(index)
        .ok_or(JwtError::KeysMissing { provider: index })?;
    let candidates: Vec<&PublicKey> = match parsed.kid.as_deref() {
        Some(kid) => {
            if !set.has_kid(kid) {
                return Err(JwtError::UnknownKid { provider: index });
            }
            set.fitting(parsed.alg)
                .filter(|k| k.kid.as_deref() == Some(kid))
                .collect()
        }
        None => set.fitting(parsed.alg).collect(),
    };
    if candidates.is_empty() {
        return Err(JwtError::NoFittingKey);
    }
    if !any_verifies(
        checker,
        parsed.alg,
        &candidates,
        parsed.signed,
        &parsed.signature,
    )? {
        return Err(JwtError::BadSignature);
    }
    let identity = claim_headers::identity(&parsed.claims, &provider.claim_headers)?;
    Ok(Verified {
        provider: index,
        identity,
        exp,
    })
}

fn any_verifies(
    checker: &dyn SignatureCheck,
    alg: Alg,
    keys: &[&PublicKey],
    message: &[u8],
    signature: &[u8],
) -> Result<bool, JwtError> {
    for key in keys {
        if checker
            .check(alg, key, message, signature)
            .map_err(|_| JwtError::CheckUnavailable)?
        {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests;
