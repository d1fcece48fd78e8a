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

/// The most keys one token's signature is checked against. A token without `kid` is tried against
/// every key that fits its `alg`, and each check of a forged signature costs as much as a real one
/// (about 1 ms in the VM for RSA-PSS), so the set's size must not multiply what an anonymous
/// request costs. Two covers a rotation's overlap (the old key and the new); an issuer with more
/// keys of one type must put `kid` in its tokens.
pub const MAX_KEYS_TRIED: usize = 2;
// The refusal texts below are static and say "2".
const _: () = assert!(MAX_KEYS_TRIED == 2);

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
    let kid = parsed.kid.as_deref();
    if let Some(kid) = kid {
        if !set.has_kid(kid) {
            return Err(JwtError::UnknownKid { provider: index });
        }
    }
    // One more than the bound is enough to know the bound is passed.
    let candidates: Vec<&PublicKey> = set
        .fitting(parsed.alg)
        .filter(|k| kid.is_none_or(|kid| k.kid.as_deref() == Some(kid)))
        .take(MAX_KEYS_TRIED + 1)
        .collect();
    if candidates.is_empty() {
        return Err(JwtError::NoFittingKey);
    }
    if candidates.len() > MAX_KEYS_TRIED {
        // Refused before any check rather than checked against some: which keys would be tried
        // must not depend on the order of the issuer's document.
        return Err(JwtError::Malformed(if kid.is_some() {
            "kid names more than 2 of the issuer's keys for the alg"
        } else {
            "no kid, and more than 2 of the issuer's keys fit the alg"
        }));
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
