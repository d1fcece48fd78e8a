//! The flow against a fake host: clock and counters we control.

use super::*;
use crate::decision::Unreachable;
use crate::host::fake::FakeHost;
use crate::reply::Verdict;

fn authorizer(extra: &str) -> Authorizer {
    let text = format!(
        r#"{{"authService": {{"cluster": "c", "authority": "a"}}, "identityHeaders": ["x-user-id"],
            "bypass": [{{"pathPrefix": "/healthz"}}] {extra} }}"#
    );
    Authorizer::new(Config::parse(text.as_bytes()).unwrap())
}

fn req(path: &'static [u8], token: &'static [u8]) -> Vec<(&'static str, &'static [u8])> {
    vec![
        (":method", b"GET"),
        (":path", path),
        (":authority", b"app"),
        ("authorization", token),
    ]
}

/// Runs one request (its headers end the stream) through the flow; `answer` plays the auth
/// service when a callout is made.
fn run(
    a: &Authorizer,
    host: &FakeHost,
    h: &[(&str, &[u8])],
    answer: Result<Pairs<'_>, CalloutError>,
) -> (Outcome, bool) {
    run_ending(a, host, RequestHead::new(h).ending(true), answer)
}

fn run_ending(
    a: &Authorizer,
    host: &FakeHost,
    head: RequestHead<'_>,
    answer: Result<Pairs<'_>, CalloutError>,
) -> (Outcome, bool) {
    match a.start(host, &head) {
        Start::Done(v) => (v, false),
        Start::Miss(walk, ..) => {
            let answer = answer.map(|(headers, body)| Answer { headers, body });
            (a.finish(host, &walk.key, answer).0, true)
        }
        Start::AwaitKeys { .. } => panic!("no token checks configured here"),
    }
}

type Headers<'a> = &'a [(&'a str, &'a [u8])];
type Pairs<'a> = (Headers<'a>, &'a [u8]);

const ALLOW: &[(&str, &[u8])] = &[(":status", b"200"), ("x-user-id", b"alice")];

#[test]
fn an_allow_is_cached_until_its_ttl() {
    let a = authorizer("");
    let host = FakeHost::default();
    let h = req(b"/x", b"Bearer a");
    let (_, called) = run(&a, &host, &h, Ok((ALLOW, b"")));
    assert!(called);
    host.now.set(59_999);
    let (v, called) = run(&a, &host, &h, Ok((ALLOW, b"")));
    assert!(!called, "served from cache");
    assert!(matches!(v, Outcome::Decided(_)));
    host.now.set(60_000);
    let (_, called) = run(&a, &host, &h, Ok((ALLOW, b"")));
    assert!(called, "expired after allowTtlSeconds");
    assert_eq!(host.count_of(Metric::CacheHits), 1);
    assert_eq!(host.count_of(Metric::CacheMisses), 2);
}

#[test]
fn two_credentials_never_share_a_decision() {
    let a = authorizer("");
    let host = FakeHost::default();
    run(&a, &host, &req(b"/x", b"Bearer a"), Ok((ALLOW, b"")));
    let deny: &[(&str, &[u8])] = &[(":status", b"401")];
    let (v, called) = run(&a, &host, &req(b"/x", b"Bearer b"), Ok((deny, b"")));
    assert!(called);
    let Outcome::Decided(decision) = v else {
        panic!()
    };
    assert!(matches!(*decision, Decision::Deny { status: 401, .. }));
}

#[test]
fn bypass_makes_no_callout_and_no_cache_lookup() {
    let a = authorizer("");
    let host = FakeHost::default();
    let (v, called) = run(
        &a,
        &host,
        &req(b"/healthz/live", b""),
        Err(CalloutError::Unreachable(Unreachable::NoAnswer)),
    );
    assert!(!called);
    assert_eq!(v, Outcome::Bypass);
    assert_eq!(host.count_of(Metric::CacheMisses), 0);
    a.count(&host, &v);
    assert_eq!(
        reply::action(a.config(), &v),
        Verdict::Continue { identity: vec![] }
    );
    assert_eq!(host.count_of(Metric::Bypassed), 1);
}

#[test]
fn errors_are_never_cached() {
    let a = authorizer("");
    let host = FakeHost::default();
    let h = req(b"/x", b"Bearer a");
    let (v, _) = run(
        &a,
        &host,
        &h,
        Err(CalloutError::Unreachable(Unreachable::NoAnswer)),
    );
    assert_eq!(
        v,
        Outcome::Error(CalloutError::Unreachable(Unreachable::NoAnswer))
    );
    let five: &[(&str, &[u8])] = &[(":status", b"500")];
    let (_, called) = run(&a, &host, &h, Ok((five, b"")));
    assert!(called);
    let (_, called) = run(&a, &host, &h, Ok((ALLOW, b"")));
    assert!(called, "neither error left a cache entry");
    assert_eq!(a.cached_entries(), 1);
}

#[test]
fn no_cache_means_every_request_calls_out() {
    let a = authorizer(r#", "cache": {"enabled": false}"#);
    let host = FakeHost::default();
    let h = req(b"/x", b"Bearer a");
    for _ in 0..3 {
        assert!(run(&a, &host, &h, Ok((ALLOW, b""))).1);
    }
    assert_eq!(
        host.count_of(Metric::CacheMisses),
        0,
        "no cache, no misses to count"
    );
}

#[test]
fn a_broken_clock_degrades_to_no_cache() {
    let a = authorizer("");
    let host = FakeHost::default();
    host.broken_clock.set(true);
    let h = req(b"/x", b"Bearer a");
    assert!(run(&a, &host, &h, Ok((ALLOW, b""))).1);
    assert!(run(&a, &host, &h, Ok((ALLOW, b""))).1);
}

#[test]
fn conclude_counts_each_outcome_once() {
    let a = authorizer("");
    let host = FakeHost::default();
    let (v, _) = run(&a, &host, &req(b"/x", b"Bearer a"), Ok((ALLOW, b"")));
    a.count(&host, &v);
    let (v, _) = run(
        &a,
        &host,
        &req(b"/y", b"Bearer a"),
        Err(CalloutError::ServerError(502)),
    );
    a.count(&host, &v);
    assert_eq!(host.count_of(Metric::Allowed), 1);
    assert_eq!(host.count_of(Metric::Errors), 1);
}

/// Two workers: separate VMs (authorizers and caches), one shared data.
fn two_workers(extra: &str) -> ((Authorizer, FakeHost), (Authorizer, FakeHost)) {
    let w1 = FakeHost::default();
    let w2 = FakeHost {
        shared: Rc::clone(&w1.shared),
        ..FakeHost::default()
    };
    ((authorizer(extra), w1), (authorizer(extra), w2))
}

#[test]
fn a_decision_made_on_one_worker_is_served_on_another() {
    let ((a1, h1), (a2, h2)) = two_workers("");
    let h = req(b"/x", b"Bearer a");
    assert!(run(&a1, &h1, &h, Ok((ALLOW, b""))).1, "worker 1 calls out");
    let (v, called) = run(
        &a2,
        &h2,
        &h,
        Err(CalloutError::Unreachable(Unreachable::NoAnswer)),
    );
    assert!(!called, "worker 2 reads worker 1's decision");
    let Outcome::Decided(decision) = v else {
        panic!("{v:?}")
    };
    assert!(matches!(*decision, Decision::Allow { .. }));
    assert_eq!(h2.count_of(Metric::SharedHits), 1);
    // Now in worker 2's own cache: no second shared read is counted.
    run(
        &a2,
        &h2,
        &h,
        Err(CalloutError::Unreachable(Unreachable::NoAnswer)),
    );
    assert_eq!(h2.count_of(Metric::SharedHits), 1);
    assert_eq!(h2.count_of(Metric::CacheHits), 2);
}

#[test]
fn the_shared_copy_keeps_its_expiry() {
    let ((a1, h1), (a2, h2)) = two_workers("");
    let h = req(b"/x", b"Bearer a");
    run(&a1, &h1, &h, Ok((ALLOW, b"")));
    h2.now.set(60_000);
    assert!(
        run(&a2, &h2, &h, Ok((ALLOW, b""))).1,
        "expired in the shared level too"
    );
}

#[test]
fn a_slot_collision_is_a_miss_never_a_wrong_decision() {
    // One slot: every key lands in it.
    let ((a1, h1), (a2, h2)) = two_workers(r#", "cache": {"sharedSlots": 1}"#);
    run(&a1, &h1, &req(b"/x", b"Bearer a"), Ok((ALLOW, b"")));
    let (_, called) = run(
        &a2,
        &h2,
        &req(b"/x", b"Bearer b"),
        Err(CalloutError::Unreachable(Unreachable::NoAnswer)),
    );
    assert!(called, "bob must not get alice's decision");
    assert_eq!(h1.shared.borrow().len(), 1, "the key space stays one slot");
}

#[test]
fn shared_slots_zero_turns_the_shared_level_off() {
    let ((a1, h1), (a2, h2)) = two_workers(r#", "cache": {"sharedSlots": 0}"#);
    let h = req(b"/x", b"Bearer a");
    run(&a1, &h1, &h, Ok((ALLOW, b"")));
    assert!(run(&a2, &h2, &h, Ok((ALLOW, b""))).1);
    assert!(h1.shared.borrow().is_empty());
}

#[test]
fn shared_slots_stay_bounded_under_many_keys() {
    let ((a1, h1), _) = two_workers(r#", "cache": {"maxEntries": 100, "sharedSlots": 16}"#);
    for n in 0..500u32 {
        let token: &'static [u8] = Box::leak(format!("Bearer {n}").into_bytes().into_boxed_slice());
        run(&a1, &h1, &req(b"/x", token), Ok((ALLOW, b"")));
    }
    assert!(h1.shared.borrow().len() <= 16);
    assert_eq!(a1.cached_entries(), 100);
}

/// The sharing decision of one answer, and whether a second identical request then calls out
/// (the answer reached neither cache level).
fn sharing_and_recall(a: &Authorizer, host: &FakeHost, answer: Pairs<'_>) -> (Sharing, bool) {
    let h = req(b"/x", b"");
    let Start::Miss(walk, ..) = a.start(host, &RequestHead::new(&h)) else {
        panic!("first request must miss")
    };
    let (headers, body) = answer;
    let (_, sharing) = a.finish(host, &walk.key, Ok(Answer { headers, body }));
    let in_shared = !host.shared.borrow().is_empty();
    let recalls = run(a, host, &h, Ok((ALLOW, b""))).1;
    assert_eq!(in_shared, !recalls, "the two levels agree");
    (sharing, recalls)
}

#[test]
fn an_answer_for_one_client_is_not_cached_nor_shared_in_either_level() {
    let cases: &[(Headers<'_>, Sharing, bool)] = &[
        (&[(":status", b"401")], Sharing::All, false),
        (
            &[(":status", b"401"), ("set-cookie", b"pre=1")],
            Sharing::OpenerOnly,
            true,
        ),
        (
            &[(":status", b"200"), ("set-cookie", b"s=1")],
            Sharing::OpenerOnly,
            true,
        ),
        (
            &[(":status", b"401"), ("cache-control", b"private")],
            Sharing::OpenerOnly,
            true,
        ),
        (
            &[(":status", b"200"), ("cache-control", b"a=\xff, no-store")],
            Sharing::OpenerOnly,
            true,
        ),
        (
            &[(":status", b"302"), ("location", b"/login")],
            Sharing::All,
            true,
        ),
    ];
    for (headers, sharing, recalls) in cases {
        let ((a1, h1), (_, _)) = two_workers("");
        assert_eq!(
            sharing_and_recall(&a1, &h1, (headers, b"")),
            (*sharing, *recalls),
            "{headers:?}"
        );
    }
}

#[test]
fn errors_are_shared_with_waiters() {
    let a = authorizer("");
    let host = FakeHost::default();
    let h = req(b"/x", b"");
    let Start::Miss(walk, ..) = a.start(&host, &RequestHead::new(&h)) else {
        panic!()
    };
    assert_eq!(
        a.finish(
            &host,
            &walk.key,
            Err(CalloutError::Unreachable(Unreachable::NoAnswer))
        )
        .1,
        Sharing::All
    );
    let informational: &[(&str, &[u8])] = &[(":status", b"103"), ("set-cookie", b"s=1")];
    let (v, sharing) = a.finish(
        &host,
        &walk.key,
        Ok(Answer {
            headers: informational,
            body: b"",
        }),
    );
    assert_eq!(
        (v, sharing),
        (Outcome::Error(CalloutError::Malformed), Sharing::All)
    );
}

#[test]
fn a_large_deny_is_passed_on_but_kept_in_neither_level() {
    let ((a1, h1), _) = two_workers(r#", "maxDenyBodyBytes": 1048576"#);
    let body = vec![b'x'; 1 << 20];
    let deny: &[(&str, &[u8])] = &[(":status", b"403")];
    let (sharing, recalls) = sharing_and_recall(&a1, &h1, (deny, &body));
    assert_eq!((sharing, recalls), (Sharing::All, true));
}

#[test]
fn an_oversized_shared_value_reads_as_a_miss() {
    let ((a1, h1), (a2, h2)) = two_workers("");
    let h = req(b"/x", b"Bearer a");
    run(&a1, &h1, &h, Ok((ALLOW, b"")));
    for (value, _) in h1.shared.borrow_mut().values_mut() {
        value.resize(shared::MAX_VALUE_BYTES + 1, 0);
    }
    assert!(run(&a2, &h2, &h, Ok((ALLOW, b""))).1);
}

#[test]
fn the_byte_budget_bounds_the_cache() {
    let a = authorizer(r#", "maxDenyBodyBytes": 8192, "cache": {"maxBytes": 65536}"#);
    let host = FakeHost::default();
    let body = vec![b'x'; 4000];
    let deny: &[(&str, &[u8])] = &[(":status", b"403")];
    for n in 0..100u32 {
        let token: &'static [u8] = Box::leak(format!("Bearer {n}").into_bytes().into_boxed_slice());
        run(&a, &host, &req(b"/x", token), Ok((deny, &body)));
    }
    let per_entry = crate::cache::ENTRY_OVERHEAD_BYTES + 4000;
    assert_eq!(a.cached_entries(), 65536 / per_entry);
}

#[test]
fn a_dot_segment_is_refused_before_bypass_cache_and_callout() {
    let a = authorizer("");
    let host = FakeHost::default();
    for path in [
        b"/healthz/../admin".as_slice(),
        b"/healthz/%2e%2e/admin",
        b"/healthz/..;/admin",
        b"/../metrics",
    ] {
        let h: Vec<(&str, &[u8])> = vec![(":method", b"GET"), (":path", path)];
        let (v, called) = run(&a, &host, &h, Ok((ALLOW, b"")));
        assert!(!called, "{path:?} made a callout");
        assert_eq!(v, Outcome::BadRequest(BadRequest::DotSegment));
        a.count(&host, &v);
        assert!(matches!(
            reply::action(a.config(), &v),
            Verdict::Respond { status: 400, .. }
        ));
    }
    assert_eq!(host.count_of(Metric::BadPaths), 4);
    assert_eq!(host.count_of(Metric::Denied), 4);
    assert_eq!(host.count_of(Metric::Bypassed), 0);
    assert_eq!(host.count_of(Metric::CacheMisses), 0);
}

#[test]
fn only_a_real_preflight_is_bypassed() {
    let a = Authorizer::new(
        Config::parse(
            br#"{"authService": {"cluster": "c", "authority": "a"}, "bypass": [{"corsPreflight": true}]}"#,
        )
        .unwrap(),
    );
    let host = FakeHost::default();
    let preflight: &[(&str, &[u8])] = &[
        (":method", b"OPTIONS"),
        (":path", b"/api/items"),
        ("origin", b"https://app.example"),
        ("access-control-request-method", b"DELETE"),
    ];
    assert_eq!(
        run(&a, &host, preflight, Ok((ALLOW, b""))),
        (Outcome::Bypass, false)
    );
    let plain: &[(&str, &[u8])] = &[
        (":method", b"OPTIONS"),
        (":path", b"/api/items"),
        ("x-http-method-override", b"DELETE"),
    ];
    let (_, called) = run(&a, &host, plain, Ok((ALLOW, b"")));
    assert!(called, "a plain OPTIONS is checked");
    let with_body = RequestHead::new(preflight).ending(false);
    let (outcome, _) = run_ending(&a, &host, with_body, Ok((ALLOW, b"")));
    assert_ne!(
        outcome,
        Outcome::Bypass,
        "a preflight-shaped request with a body is checked"
    );
}

#[test]
fn an_expired_decision_serves_when_the_callout_fails_within_the_stale_window() {
    let ((a1, h1), (a2, h2)) = two_workers(r#", "cache": {"staleIfErrorSeconds": 30}"#);
    let h = req(b"/x", b"Bearer a");
    run(&a1, &h1, &h, Ok((ALLOW, b"")));
    // Expired (allowTtlSeconds 60) but within the window: the callout is tried first, and only
    // its failure brings the stale decision out, from this worker's cache or the shared level.
    for (a, host) in [(&a1, &h1), (&a2, &h2)] {
        host.now.set(60_000);
        let (v, called) = run(a, host, &h, Err(CalloutError::Timeout));
        assert!(called, "the callout is always tried first");
        assert!(matches!(v, Outcome::Stale(..)), "{v:?}");
        a.count(host, &v);
        assert!(
            matches!(reply::action(a.config(), &v), Verdict::Continue { identity } if !identity.is_empty())
        );
        assert_eq!(host.count_of(Metric::StaleServed), 1);
    }
    // Past the window: onError.
    h1.now.set(90_000);
    let (v, _) = run(&a1, &h1, &h, Err(CalloutError::Timeout));
    assert_eq!(v, Outcome::Error(CalloutError::Timeout));
    // An answer, even a deny, always wins over a stale decision.
    let fresh = authorizer(r#", "cache": {"staleIfErrorSeconds": 30}"#);
    let host = FakeHost::default();
    run(&fresh, &host, &h, Ok((ALLOW, b"")));
    host.now.set(60_001);
    let deny: &[(&str, &[u8])] = &[(":status", b"403")];
    let (v, _) = run(&fresh, &host, &h, Ok((deny, b"")));
    assert!(matches!(v, Outcome::Decided(d) if matches!(*d, Decision::Deny { .. })));
}

#[test]
fn without_a_stale_window_an_expired_decision_never_serves() {
    let a = authorizer("");
    let host = FakeHost::default();
    let h = req(b"/x", b"Bearer a");
    run(&a, &host, &h, Ok((ALLOW, b"")));
    host.now.set(60_000);
    let (v, _) = run(&a, &host, &h, Err(CalloutError::ServerError(500)));
    assert_eq!(v, Outcome::Error(CalloutError::ServerError(500)));
}

mod tokens {
    //! Token checks before the decision cache, and the decision cache before the token checks.
    use super::*;
    use crate::jwt::testing::{claims, rsa, sign, two_providers, NOW};
    use serde_json::json;

    fn gate(forward: &[&str]) -> Authorizer {
        let text = json!({
            "authService": {"cluster": "c", "authority": "a", "forwardHeaders": forward},
            "identityHeaders": ["x-user-id", "x-user-roles", "x-tenant-id"],
            "jwt": two_providers("gate"),
        });
        Authorizer::new(Config::parse(text.to_string().as_bytes()).unwrap())
    }

    fn at_now() -> FakeHost {
        let host = FakeHost::default();
        host.now.set(NOW * 1000);
        host
    }

    #[test]
    fn a_decision_for_forwarded_tokens_is_served_before_the_token_checks() {
        let bearer = format!("Bearer {}", sign(rsa(), &claims(json!({}))));
        let h = vec![
            (":method", b"GET".as_slice()),
            (":path", b"/x"),
            (":authority", b"app"),
            ("authorization", bearer.as_bytes()),
        ];
        // The provider reads the authorization header, a cookie and the query: only with all
        // three in the key does a decision hit prove the tokens passed.
        let cases: [(&[&str], bool); 2] = [
            (&["authorization", "cookie"], false),
            (&["authorization"], true),
        ];
        for (forward, checked_again) in cases {
            let a = gate(forward);
            let host = at_now();
            let (_, called) = run(&a, &host, &h, Ok((ALLOW, b"")));
            assert!(called, "{forward:?}: the first request calls out");
            let (outcome, called) = run(&a, &host, &h, Ok((ALLOW, b"")));
            assert!(
                !called && matches!(outcome, Outcome::Decided(_)),
                "{forward:?}"
            );
            assert_eq!(host.count_of(Metric::JwtVerified), 1, "{forward:?}");
            assert_eq!(
                host.count_of(Metric::JwtCacheHits),
                usize::from(checked_again),
                "{forward:?}: the token checked again on the second request"
            );
        }
    }
}

mod token_exp {
    //! A decision made behind a token check lives no longer than the token, skew or not.
    use super::*;
    use crate::jwt::testing::{claims, rsa, sign, two_providers, NOW};
    use serde_json::json;

    /// `run` as the flow does it: the answer cached with the cap `start` found (`run` drops it).
    fn run_capped(a: &Authorizer, host: &FakeHost, h: &[(&str, &[u8])]) -> (Outcome, bool) {
        match a.start(host, &RequestHead::new(h)) {
            Start::Done(v) => (v, false),
            Start::Miss(walk, now, cap, _) => {
                let answer = Answer {
                    headers: ALLOW,
                    body: b"",
                };
                (a.finish_at(host, &walk.key, Ok(answer), now, cap).0, true)
            }
            Start::AwaitKeys { .. } => panic!("the keys are inline"),
        }
    }

    #[test]
    fn a_decision_is_never_cached_past_the_token_exp_even_within_the_skew() {
        // exp 30 s away, under allowTtlSeconds (60): only the cap can expire the decision then.
        // The provider's clockSkewSeconds (60) still lets the token pass at exp.
        let exp = NOW + 30;
        let bearer = format!("Bearer {}", sign(rsa(), &claims(json!({"exp": exp}))));
        let h = vec![
            (":method", b"GET".as_slice()),
            (":path", b"/x"),
            (":authority", b"app"),
            ("authorization", bearer.as_bytes()),
        ];
        // The decision looked up before the token checks, and after them.
        for forward in [&["authorization"][..], &["authorization", "cookie"]] {
            let text = json!({
                "authService": {"cluster": "c", "authority": "a", "forwardHeaders": forward},
                "identityHeaders": ["x-user-id"],
                "jwt": two_providers("gate"),
            });
            let a = Authorizer::new(Config::parse(text.to_string().as_bytes()).unwrap());
            let host = FakeHost::default();
            host.now.set(NOW * 1000);
            let (_, called) = run_capped(&a, &host, &h);
            assert!(called, "{forward:?}: the first request calls out");
            host.now.set(exp * 1000 - 1);
            let (v, called) = run_capped(&a, &host, &h);
            assert!(
                !called && matches!(v, Outcome::Decided(_)),
                "{forward:?}: served from cache while the token lives: {v:?}"
            );
            host.now.set(exp * 1000);
            let (v, called) = run_capped(&a, &host, &h);
            assert!(called, "{forward:?}: the decision outlived the token");
            assert!(
                matches!(v, Outcome::Decided(_)),
                "{forward:?}: within the skew the token still passes: {v:?}"
            );
        }
    }
}
