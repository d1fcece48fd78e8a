//! The verified-token cache's level shared by every worker's VM, so that a token is verified once
//! per Envoy rather than once per worker. Only successes are shared.
//!
//! As the decision cache's shared level (`crate::shared`), a fixed number of slots addressed by
//! the key's digest, each holding one entry with the full digest (a collision reads as a miss).
//! The key covers the configuration, the token and its place, and the fingerprint of the keys it
//! was verified with: a VM holding other keys (a rotation not adopted yet, a revoked key) never
//! reads it.
//!
//! Entry layout (little endian): version 2, digest (32), expires at (u64 ms: `exp` plus the
//! provider's skew), `exp` (u64 s), provider (u16), packed identity headers (see `tagged`).
//! Version 1, the same layout with a SHA-256 digest (version 2: BLAKE3, see `crate::key`), left
//! by an older module in the same Envoy, is a miss.

use super::extract::Token;
use super::verify::Verified;
use crate::cache::MAX_ENTRY_PAYLOAD_BYTES;
use crate::key::{CacheKey, KeyBuilder};
use crate::tagged::TaggedHeaders;

const VERSION: u8 = 2;
const FIXED_BYTES: usize = 1 + 32 + 8 + 8 + 2;
pub const MAX_VALUE_BYTES: usize = FIXED_BYTES + MAX_ENTRY_PAYLOAD_BYTES;
pub const KEY_PREFIX: &str = "mesh-authz/jwt/v1/";

pub fn key(generation: &[u8; 32], fingerprint: &[u8; 32], token: &Token<'_>) -> CacheKey {
    let mut k = KeyBuilder::new(generation);
    k.field(b"jwt-shared")
        .field(fingerprint)
        .field(&(token.source as u64).to_le_bytes())
        .field(token.value.as_bytes());
    k.finish()
}

pub fn slot_name(key: &CacheKey, slots: u32) -> String {
    let [_, _, _, _, a, b, c, d, ..] = key.0;
    let slot = u32::from_le_bytes([a, b, c, d]) % slots.max(1);
    format!("{KEY_PREFIX}{slot:x}")
}

pub fn encode(key: &CacheKey, expires_ms: u64, v: &Verified) -> Option<Vec<u8>> {
    let provider = u16::try_from(v.provider).ok()?;
    let packed = v.identity.as_bytes();
    if packed.len() > MAX_ENTRY_PAYLOAD_BYTES {
        return None;
    }
    let mut out = Vec::with_capacity(FIXED_BYTES + packed.len());
    out.push(VERSION);
    out.extend_from_slice(&key.0);
    out.extend_from_slice(&expires_ms.to_le_bytes());
    out.extend_from_slice(&v.exp.to_le_bytes());
    out.extend_from_slice(&provider.to_le_bytes());
    out.extend_from_slice(packed);
    Some(out)
}

/// The verdict in `bytes` if it is for `key` and live at `now_ms`, with its expiry.
pub fn decode(bytes: &[u8], key: &CacheKey, now_ms: u64) -> Option<(Verified, u64)> {
    if bytes.len() > MAX_VALUE_BYTES {
        return None;
    }
    let (&version, rest) = bytes.split_first()?;
    if version != VERSION || rest.get(..32)? != key.0.as_slice() {
        return None;
    }
    let word = |at: usize| -> Option<u64> {
        Some(u64::from_le_bytes(rest.get(at..at + 8)?.try_into().ok()?))
    };
    let expires = word(32)?;
    let exp = word(40)?;
    let provider = u16::from_le_bytes(rest.get(48..50)?.try_into().ok()?);
    let identity = TaggedHeaders::from_bytes(rest.get(50..)?)?;
    (expires > now_ms).then_some((
        Verified {
            provider: usize::from(provider),
            identity,
            exp,
        },
        expires,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn token(value: &str, source: usize) -> Token<'_> {
        Token {
            value: Cow::Borrowed(value),
            source,
        }
    }

    #[test]
    fn an_entry_reads_back_only_for_its_key_and_until_it_expires() {
        let k = key(&[1; 32], &[2; 32], &token("a.b.c", 0));
        let v = Verified {
            provider: 3,
            identity: TaggedHeaders::from_pairs([(0, b"alice".as_slice()), (2, b"acme")]),
            exp: 1_000,
        };
        let bytes = encode(&k, 1_060_000, &v).unwrap();
        assert_eq!(decode(&bytes, &k, 1_000_000), Some((v.clone(), 1_060_000)));
        assert_eq!(decode(&bytes, &k, 1_060_000), None, "expired");
        let others = [
            key(&[9; 32], &[2; 32], &token("a.b.c", 0)),
            key(&[1; 32], &[9; 32], &token("a.b.c", 0)),
            key(&[1; 32], &[2; 32], &token("a.b.c", 1)),
            key(&[1; 32], &[2; 32], &token("a.b.d", 0)),
        ];
        for other in others {
            assert_ne!(other, k);
            assert_eq!(
                decode(&bytes, &other, 0),
                None,
                "another configuration, keys set, place or token"
            );
        }
        for cut in 0..bytes.len() {
            let _ = decode(&bytes[..cut], &k, 0);
        }
        let mut v1 = bytes.clone();
        v1[0] = 1;
        assert_eq!(
            decode(&v1, &k, 0),
            None,
            "a version 1 (SHA-256) entry: a miss"
        );
        assert!(slot_name(&k, 16).starts_with(KEY_PREFIX));
    }
}
