//! Fuzzing the shared cache level's entry decoding: a slot's bytes come from shared data, which any
//! worker (or an older module version) may have written. Any bytes decode or are a miss, never a
//! panic; what is encoded for one key reads back for that key only; whatever decodes for a key was
//! written for exactly that key, so a slot never yields another key's decision.

#![cfg(test)]

use mesh_authz_core::decision::{Decision, TaggedHeaders};
use mesh_authz_core::key::CacheKey;
use mesh_authz_core::shared::{decode, encode, Stamped};
use proptest::collection::vec;
use proptest::prelude::*;

fn key() -> impl Strategy<Value = CacheKey> {
    any::<[u8; 32]>().prop_map(CacheKey)
}

fn tagged() -> impl Strategy<Value = TaggedHeaders> {
    vec((0u8..8, vec(any::<u8>(), 0..24)), 0..4)
        .prop_map(|hs| TaggedHeaders::from_pairs(hs.iter().map(|(i, v)| (*i, v.as_slice()))))
}

fn decision() -> impl Strategy<Value = Decision> {
    prop_oneof![
        tagged().prop_map(|identity| Decision::Allow {
            status: 200,
            identity
        }),
        (100u16..600, tagged(), vec(any::<u8>(), 0..64)).prop_map(|(status, headers, body)| {
            Decision::Deny {
                status,
                headers,
                body: body.into(),
            }
        }),
    ]
}

proptest! {
    #[test]
    fn any_bytes_are_a_decision_for_their_own_key_or_a_miss(
        bytes in vec(any::<u8>(), 0..160),
        k in key(),
        now in any::<u64>(),
    ) {
        if decode(&bytes, &k, now).is_some() {
            prop_assert_eq!(bytes.get(1..33), Some(k.0.as_slice()));
        }
    }

    #[test]
    fn an_entry_reads_back_for_its_key_only(
        k in key(),
        other in key(),
        d in decision(),
        expires in 1u64..u64::MAX,
        decided in any::<u64>(),
    ) {
        let bytes = encode(&k, expires, decided, &d);
        let want = Stamped { decision: d, expires_ms: expires, decided_ms: decided };
        prop_assert_eq!(decode(&bytes, &k, expires - 1), Some(want));
        if other != k {
            prop_assert_eq!(decode(&bytes, &other, 0), None);
        }
        prop_assert_eq!(decode(&bytes, &k, expires), None, "expired");
    }

    /// One byte changed anywhere: a miss, or a decision that still carries this key (the body or
    /// a header value changed): never a panic and never another key's entry.
    #[test]
    fn damaged_entries_never_cross_keys(
        k in key(),
        d in decision(),
        at in any::<prop::sample::Index>(),
        xor in 1u8..=255,
    ) {
        let mut bytes = encode(&k, u64::MAX, 1, &d);
        let i = at.index(bytes.len());
        bytes[i] ^= xor;
        if decode(&bytes, &k, 0).is_some() {
            prop_assert_eq!(bytes.get(1..33), Some(k.0.as_slice()));
        }
        if (1..33).contains(&i) {
            prop_assert_eq!(decode(&bytes, &k, 0), None, "the digest no longer matches");
        }
    }
}
