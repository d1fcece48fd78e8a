//! Fuzzing how the auth service's answer is judged and turned into what Envoy does, and the promise
//! the filter is built on: an identity header reaches the upstream only from an allow answer.
//!
//! A request is random headers, forged identity under random spellings among them; an answer is a
//! random status, random headers (identity and deny names, `set-cookie`, `cache-control` with random
//! directives, bytes that are not UTF-8) and a body. The upstream request is what the adapter builds:
//! the request minus every name `identity::forged` finds, plus the identity of a `Continue`.

#![cfg(test)]

use mesh_authz_core::decision::{CalloutError, Decision, Outcome};
use mesh_authz_core::identity::{forged, same_name};
use mesh_authz_core::reply::{action, Verdict};
use mesh_authz_core::response::judge;
use mesh_authz_core::Config;
use proptest::collection::vec;
use proptest::prelude::*;
use std::rc::Rc;

fn config() -> Config {
    Config::parse(
        br#"{"authService": {"cluster": "c", "authority": "a"},
             "identityHeaders": ["x-user-id", "x-tenant-id"]}"#,
    )
    .unwrap()
}

const NAMES: &[&str] = &[
    "x-user-id",
    "x_user_id",
    "X-User_Id",
    "x-tenant-id",
    "X_TENANT_ID",
    "x-user-ids",
    "www-authenticate",
    "location",
    "set-cookie",
    "Set-Cookie",
    "content-type",
    "cache-control",
    "Cache-Control",
    "x-other",
    "authorization",
    "cookie",
];

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..16),
        prop::sample::select(vec![
            "private",
            "no-store",
            "no-cache",
            "max-age=30",
            "public, max-age=5",
            "NO-STORE",
            "x=\"\u{e9}\", no-cache",
            "max-age=abc",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
    ]
}

fn headers() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    vec(
        (
            prop::sample::select(NAMES).prop_map(str::to_string),
            value(),
        ),
        0..8,
    )
}

fn status() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (0u16..1000).prop_map(|s| s.to_string().into_bytes()),
        vec(any::<u8>(), 0..4),
    ]
}

fn borrow(h: &[(String, Vec<u8>)]) -> Vec<(&str, &[u8])> {
    h.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect()
}

fn has_directive(values: &[&[u8]], directive: &str) -> bool {
    values.iter().any(|v| {
        v.split(|b| *b == b',')
            .any(|d| d.trim_ascii().eq_ignore_ascii_case(directive.as_bytes()))
    })
}

proptest! {
    #[test]
    fn identity_reaches_the_upstream_only_from_an_allow(
        request in headers(),
        status in status(),
        answer in headers(),
        body in vec(any::<u8>(), 0..64),
    ) {
        let cfg = config();
        let mut answer_pairs = borrow(&answer);
        answer_pairs.insert(0, (":status", status.as_slice()));
        let outcome = match judge(&cfg, &answer_pairs, &body) {
            Ok(j) => Outcome::Decided(Rc::new(j.decision)),
            Err(e) => Outcome::Error(e),
        };
        let request_pairs = borrow(&request);
        let removed = forged(request_pairs.iter().map(|(n, _)| *n), &cfg.identity_headers);
        let mut upstream: Vec<(&str, &[u8])> = request_pairs
            .iter()
            .filter(|(n, _)| !removed.contains(n))
            .copied()
            .collect();
        let allowed = matches!(&outcome, Outcome::Decided(decision)
            if matches!(decision.as_ref(), Decision::Allow { .. }));
        match action(&cfg, &outcome) {
            Verdict::Continue { identity } => {
                prop_assert!(allowed || identity.is_empty());
                for (name, v) in &identity {
                    prop_assert!(answer_pairs.contains(&(*name, *v)), "{name} not from the answer");
                }
                upstream.extend(identity);
            }
            Verdict::Respond { headers, .. } => {
                prop_assert!(!allowed);
                for (name, _) in headers {
                    prop_assert!(
                        cfg.deny_headers.iter().any(|d| d == name) || name == "content-type",
                        "{name} passed to a denied client"
                    );
                }
                return Ok(());
            }
        }
        for (name, v) in &upstream {
            if cfg.identity_headers.iter().any(|id| same_name(name, id)) {
                prop_assert!(allowed, "{name} reached the upstream without an allow");
                prop_assert!(answer_pairs.contains(&(*name, *v)), "{name} was forged");
            }
        }
    }

    /// Only 2xx allows, 3xx/4xx deny, the rest is an error; an answer made for one client is never
    /// cached nor handed to another; an allow or deny never outlives `maxTtlSeconds`.
    #[test]
    fn answers_are_judged_by_the_rules(
        status in status(),
        answer in headers(),
        body in vec(any::<u8>(), 0..64),
    ) {
        let cfg = config();
        let mut pairs = borrow(&answer);
        pairs.insert(0, (":status", status.as_slice()));
        let code = std::str::from_utf8(&status).ok().and_then(|s| s.parse::<u16>().ok());
        match judge(&cfg, &pairs, &body) {
            Ok(j) => {
                let code = code.unwrap_or(0);
                match j.decision {
                    Decision::Allow { .. } => prop_assert!((200..300).contains(&code)),
                    Decision::Deny { status, .. } => {
                        prop_assert!((300..500).contains(&code));
                        prop_assert_eq!(status, code);
                    }
                }
                let cc: Vec<&[u8]> = pairs
                    .iter()
                    .filter(|(n, _)| n.eq_ignore_ascii_case("cache-control"))
                    .map(|(_, v)| *v)
                    .collect();
                let per_client = pairs.iter().any(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
                    || ["private", "no-store", "no-cache"].iter().any(|d| has_directive(&cc, d));
                if per_client {
                    prop_assert_eq!(j.ttl_secs, 0);
                    prop_assert!(!j.shareable);
                }
                prop_assert!(j.ttl_secs <= cfg.cache.map_or(0, |p| p.max_ttl_secs));
            }
            Err(e) => {
                let is_error = code.is_none_or(|c| !(200..500).contains(&c));
                prop_assert!(is_error, "{code:?} became {e:?}");
                if code.is_some_and(|c| (100..200).contains(&c)) {
                    prop_assert_eq!(e, CalloutError::Malformed);
                }
            }
        }
    }
}
