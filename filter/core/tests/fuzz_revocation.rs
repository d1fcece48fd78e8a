//! Fuzzing the revocation feed: its answers come from the network and the shared set from any
//! worker (or another module version). Any bytes parse or are refused, never a panic; a page
//! that parses is within its bounds; a shared set decodes within the VM's limits or not at all.

#![cfg(test)]

use mesh_authz_core::revocation::feed::{self, parse};
use mesh_authz_core::revocation::record::decode_set;
use mesh_authz_core::revocation::set::{Limits, RevocationSet};
use proptest::collection::vec;
use proptest::prelude::*;

const LIMITS: Limits = Limits {
    max_entries: 8,
    max_bytes: 1 << 12,
    keep_ms: 1_000,
};

fn json_ish() -> impl Strategy<Value = String> {
    let subject = "[a-z\\\\\"\\u{0}-\\u{7f}é]{0,8}";
    (
        0u32..3,
        "[a-z0-9&?% ._~-]{0,10}",
        vec(subject, 0..5),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(version, cursor, subjects, flush, more)| {
            let revs: Vec<String> = subjects
                .iter()
                .map(|s| format!(r#"{{"subject":{}}}"#, serde_json::Value::from(s.as_str())))
                .collect();
            format!(
                r#"{{"version":{version},"cursor":{},"revocations":[{}],"flush":{flush},"more":{more}}}"#,
                serde_json::Value::from(cursor),
                revs.join(",")
            )
        })
}

proptest! {
    #[test]
    fn any_bytes_parse_within_bounds_or_are_refused(bytes in vec(any::<u8>(), 0..200)) {
        if let Ok(p) = parse(&bytes) {
            prop_assert!(feed::cursor_ok(&p.cursor));
            prop_assert!(p.subjects.len() <= feed::MAX_REVOCATIONS_PER_PAGE);
        }
    }

    #[test]
    fn near_pages_parse_within_bounds_or_are_refused(text in json_ish(), cut in any::<prop::sample::Index>()) {
        let bytes = text.as_bytes();
        let n = cut.index(bytes.len() + 1);
        for body in [bytes, bytes.get(..n).unwrap_or_default()] {
            if let Ok(p) = parse(body) {
                prop_assert!(feed::cursor_ok(&p.cursor));
                prop_assert!(p.subjects.iter().all(|s| !s.is_empty() && s.len() <= feed::MAX_SUBJECT_BYTES));
            }
        }
    }

    #[test]
    fn a_shared_set_decodes_within_the_limits_or_not_at_all(bytes in vec(any::<u8>(), 0..160), now in any::<u64>()) {
        if let Some(s) = decode_set(&bytes, LIMITS, now) {
            prop_assert!(s.set.len() <= LIMITS.max_entries);
            prop_assert!(s.set.bytes() <= LIMITS.max_bytes);
        }
    }

    /// Whatever is revoked, in any order, the set stays bounded and never forgets: a subject
    /// revoked at `t` drops every decision stamped at or before `t`.
    #[test]
    fn the_set_is_bounded_and_never_forgets(revs in vec((0u8..20, 0u64..500), 0..60)) {
        let mut set = RevocationSet::new(LIMITS);
        let mut now = 0;
        for (i, (subject, step)) in revs.iter().enumerate() {
            now += step;
            let name = [*subject];
            set.revoke(&name, now);
            prop_assert!(set.len() <= LIMITS.max_entries && set.bytes() <= LIMITS.max_bytes);
            for (s, t) in revs.iter().take(i + 1).scan(0u64, |acc, (s, st)| { *acc += st; Some((*s, *acc)) }) {
                if t + LIMITS.keep_ms >= now {
                    prop_assert!(set.revoked(Some(&[s]), t), "{s} revoked at {t}, now {now}");
                }
            }
        }
    }
}
