//! The second cache level, shared by every worker's VM through proxy-wasm shared data.
//!
//! Envoy never deletes shared-data keys, so the key space is bounded by construction: a fixed number
//! of slots, addressed by the decision's key digest. A slot holds one entry with the full digest, so
//! a collision reads as a miss, never as someone else's decision. Entries are written with the CAS
//! value shared data returns; losing a race just means another worker's fresh entry stays.
//!
//! Entry layout (little endian): version 4, digest (32), expires at (u64 ms, the host's wall clock,
//! which all workers share), decided at (u64 ms, same clock: what a revocation is compared with),
//! then the decision: 0 = allow, u16 status, u32 length, packed identity
//! headers;
//! 1 = deny, u16 status, u32 length, packed deny headers, u32 body length, body (see `tagged`).
//!
//! Version 2 (before revocations) had no decision time: such an entry, left by an older module
//! in the same Envoy, is a miss (it could not be checked against a revocation), and either
//! version overwrites the other's slots. Version 3 is version 4's layout with a SHA-256 digest
//! (version 4: BLAKE3, see `key`): a miss too, so an entry is only ever matched against a digest
//! of its own hash, never across hashes. The slot names are unchanged, so an upgrade costs
//! callouts, never more keys.

use crate::cache::MAX_ENTRY_PAYLOAD_BYTES;
use crate::decision::{Decision, TaggedHeaders};
use crate::key::CacheKey;

const VERSION: u8 = 4;
/// The fixed part of a deny entry (the larger): version, digest, expiry, decision time, tag, status, two lengths.
const FIXED_BYTES: usize = 1 + 32 + 8 + 8 + 1 + 2 + 4 + 4;
/// No value above this is written, and one read above it is a miss: the shared level holds no
/// more per slot than one per-VM cache entry may.
pub const MAX_VALUE_BYTES: usize = FIXED_BYTES + MAX_ENTRY_PAYLOAD_BYTES;
pub const KEY_PREFIX: &str = "mesh-authz/v1/";

/// The shared-data key of the slot for `key`, one of `slots` (`slots` > 0).
pub fn slot_name(key: &CacheKey, slots: u32) -> String {
    let [_, _, _, _, a, b, c, d, ..] = key.0;
    let slot = u32::from_le_bytes([a, b, c, d]) % slots.max(1);
    format!("{KEY_PREFIX}{slot:x}")
}

/// What a slot holds for its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamped {
    pub decision: Decision,
    pub expires_ms: u64,
    pub decided_ms: u64,
}

pub fn encode(key: &CacheKey, expires_ms: u64, decided_ms: u64, decision: &Decision) -> Vec<u8> {
    let mut out = Vec::with_capacity(72);
    out.push(VERSION);
    out.extend_from_slice(&key.0);
    out.extend_from_slice(&expires_ms.to_le_bytes());
    out.extend_from_slice(&decided_ms.to_le_bytes());
    let headers = |out: &mut Vec<u8>, hs: &TaggedHeaders| {
        let packed = hs.as_bytes();
        out.extend_from_slice(&(packed.len() as u32).to_le_bytes());
        out.extend_from_slice(packed);
    };
    match decision {
        Decision::Allow { status, identity } => {
            out.push(0);
            out.extend_from_slice(&status.to_le_bytes());
            headers(&mut out, identity);
        }
        Decision::Deny {
            status,
            headers: hs,
            body,
        } => {
            out.push(1);
            out.extend_from_slice(&status.to_le_bytes());
            headers(&mut out, hs);
            out.extend_from_slice(&(body.len() as u32).to_le_bytes());
            out.extend_from_slice(body);
        }
    }
    out
}

/// The entry in `bytes` if it is for `key` and still live at `now_ms`.
pub fn decode(bytes: &[u8], key: &CacheKey, now_ms: u64) -> Option<Stamped> {
    decode_entry(bytes, key).filter(|e| e.expires_ms > now_ms)
}

/// The entry in `bytes` if it is for `key`, live or not (`staleIfErrorSeconds` may still use an
/// expired one).
pub fn decode_entry(bytes: &[u8], key: &CacheKey) -> Option<Stamped> {
    let mut r = Reader(bytes);
    if r.u8()? != VERSION || r.take(32)? != key.0.as_slice() {
        return None;
    }
    let expires_ms = u64::from_le_bytes(r.take(8)?.try_into().ok()?);
    let decided_ms = u64::from_le_bytes(r.take(8)?.try_into().ok()?);
    let decision = match r.u8()? {
        0 => Decision::Allow {
            status: u16::from_le_bytes(r.take(2)?.try_into().ok()?),
            identity: r.headers()?,
        },
        1 => {
            let status = u16::from_le_bytes(r.take(2)?.try_into().ok()?);
            let headers = r.headers()?;
            let len = r.u32()? as usize;
            Decision::Deny {
                status,
                headers,
                body: r.take(len)?.into(),
            }
        }
        _ => return None,
    };
    r.0.is_empty().then_some(Stamped {
        decision,
        expires_ms,
        decided_ms,
    })
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn headers(&mut self) -> Option<TaggedHeaders> {
        let len = self.u32()? as usize;
        TaggedHeaders::from_bytes(self.take(len)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(n: u8) -> CacheKey {
        CacheKey([n; 32])
    }

    fn allow() -> Decision {
        Decision::Allow {
            status: 200,
            identity: TaggedHeaders::from_pairs([
                (0, b"alice".as_slice()),
                (2, b"acme".as_slice()),
            ]),
        }
    }

    fn deny() -> Decision {
        Decision::Deny {
            status: 401,
            headers: TaggedHeaders::from_pairs([(0, b"Bearer realm=\"x\"".as_slice())]),
            body: b"no".as_slice().into(),
        }
    }

    #[test]
    fn round_trip() {
        for d in [allow(), deny()] {
            let bytes = encode(&k(1), 5_000, 4_000, &d);
            let want = Stamped {
                decision: d,
                expires_ms: 5_000,
                decided_ms: 4_000,
            };
            assert_eq!(decode(&bytes, &k(1), 4_999), Some(want));
        }
    }

    #[test]
    fn another_key_or_an_expired_entry_is_a_miss() {
        let bytes = encode(&k(1), 5_000, 1, &allow());
        assert_eq!(
            decode(&bytes, &k(2), 0),
            None,
            "slot collision reads as a miss"
        );
        assert_eq!(decode(&bytes, &k(1), 5_000), None, "expired");
    }

    #[test]
    fn garbage_never_decodes_and_never_panics() {
        let good = encode(&k(1), 5_000, 1, &deny());
        for cut in 0..good.len() {
            assert_eq!(decode(&good[..cut], &k(1), 0), None);
        }
        let mut long = good.clone();
        long.push(0);
        assert_eq!(decode(&long, &k(1), 0), None, "trailing bytes");
        let mut other_version = good.clone();
        other_version[0] = 9;
        assert_eq!(decode(&other_version, &k(1), 0), None);
        // A version 3 entry (the same layout, a SHA-256 digest) from an older module.
        let mut v3 = good.clone();
        v3[0] = 3;
        assert_eq!(decode(&v3, &k(1), 0), None, "another hash's digest: a miss");
        // A version 2 entry (no decision time) from an older module in the same Envoy.
        let mut v2 = good;
        v2.drain(41..49);
        v2[0] = 2;
        assert_eq!(decode(&v2, &k(1), 0), None, "unknown decision time: a miss");
    }

    #[test]
    fn slots_are_bounded() {
        let names: std::collections::HashSet<String> = (0..=255u8)
            .map(|n| slot_name(&CacheKey([n; 32]), 16))
            .collect();
        assert!(names.len() <= 16);
        assert!(names.iter().all(|n| n.starts_with(KEY_PREFIX)));
    }

    #[test]
    fn the_largest_cacheable_deny_fits_a_value() {
        let d = Decision::Deny {
            status: 403,
            headers: TaggedHeaders::from_pairs([(0, b"abc".as_slice())]),
            body: vec![b'x'; MAX_ENTRY_PAYLOAD_BYTES - 8].into(),
        };
        assert_eq!(encode(&k(1), 1, 1, &d).len(), MAX_VALUE_BYTES);
    }
}
