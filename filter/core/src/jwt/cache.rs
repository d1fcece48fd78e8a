//! Verified tokens per VM, so that a repeated token costs a digest and a lookup instead of a
//! signature check. The key is a BLAKE3 digest (`crate::key`) of the token (never the token) and its place; the
//! value is what `verify` decided. A success lives until the token's `exp` (plus the provider's
//! skew, as `verify` allows); a failure lives `FAILURE_TTL_SECS`. Either is reused only with the
//! key sets it was decided with: a fetch that changes them (a rotation, a revoked key, the first
//! keys) makes every cached verdict a miss.
//!
//! Failures live apart, in a smaller cache: any client can send a stream of unique forged tokens
//! for free, and those must not push the verified tokens of real users out (each would then cost
//! a signature check again).

use super::config::JwtConfig;
use super::error::JwtError;
use super::extract::Token;
use super::verify::Verified;
use crate::cache::{DecisionCache, Weigh};
use crate::key::{CacheKey, KeyBuilder};
use std::rc::Rc;

pub const FAILURE_TTL_SECS: u64 = 5;
/// Refused tokens kept per VM: enough for a client retrying a bad token, small enough that a flood
/// of unique forged ones costs little memory.
pub const FAILURE_ENTRIES: usize = 1_024;
const FAILURE_BYTES: usize = 256 << 10;

/// The cache key of a token under a configuration `generation` (`Config::generation`).
pub fn token_key(generation: &[u8; 32], token: &Token<'_>) -> CacheKey {
    let mut k = KeyBuilder::new(generation);
    k.field(b"jwt")
        .field(&(token.source as u64).to_le_bytes())
        .field(token.value.as_bytes());
    k.finish()
}

pub struct Cached {
    keys_generation: u64,
    verdict: Result<Verified, JwtError>,
}

impl Weigh for Cached {
    fn payload_bytes(&self) -> usize {
        self.verdict
            .as_ref()
            .map_or(0, |v| v.identity.as_bytes().len())
    }
}

pub struct TokenCache {
    verified: DecisionCache<Cached>,
    refused: DecisionCache<Cached>,
}

impl TokenCache {
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        TokenCache {
            verified: DecisionCache::new(max_entries, max_bytes),
            refused: DecisionCache::new(FAILURE_ENTRIES.min(max_entries), FAILURE_BYTES),
        }
    }

    /// The cached verdict, if it is live and was made with the key sets of `keys_generation`.
    pub fn get(
        &mut self,
        key: &CacheKey,
        now_ms: u64,
        keys_generation: u64,
    ) -> Option<Result<Verified, JwtError>> {
        let hit = match self.verified.get(key, now_ms) {
            Some(hit) => hit,
            None => self.refused.get(key, now_ms)?,
        };
        (hit.keys_generation == keys_generation).then(|| hit.verdict.clone())
    }

    /// Keeps a verdict. The filter's own failures (keys not fetched, checker down) are not kept.
    pub fn put(
        &mut self,
        config: &JwtConfig,
        key: CacheKey,
        verdict: &Result<Verified, JwtError>,
        keys_generation: u64,
        now_ms: u64,
    ) {
        let expires_ms = match verdict {
            Ok(v) => {
                let skew = config
                    .providers
                    .get(v.provider)
                    .map_or(0, |p| p.clock_skew_secs);
                v.exp.saturating_add(u64::from(skew)).saturating_mul(1000)
            }
            // Never cached: a refetch may bring the kid, and the keys may come at any moment.
            Err(e) if e.is_own_failure() || e.refetch().is_some() => return,
            Err(_) => now_ms.saturating_add(FAILURE_TTL_SECS * 1000),
        };
        if expires_ms <= now_ms {
            return;
        }
        let entry = Rc::new(Cached {
            keys_generation,
            verdict: verdict.clone(),
        });
        match verdict {
            Ok(_) => self.verified.put_until(key, entry, expires_ms),
            Err(_) => self.refused.put_until(key, entry, expires_ms),
        }
    }

    pub fn len(&self) -> usize {
        self.verified.len() + self.refused.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn bytes(&self) -> usize {
        self.verified.bytes() + self.refused.bytes()
    }
}

#[cfg(test)]
mod tests;
