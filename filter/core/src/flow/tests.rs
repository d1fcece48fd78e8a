//! The request flow through its one entry point, waiters included, with the test adapter
//! (`drive.rs`) carrying out the actions against a fake host.

use super::drive::{Driver, Fate};
use super::*;
use crate::decision::{CalloutError, Unreachable};
use crate::host::Metric;
use crate::Outcome;

fn driver(extra: &str) -> Driver {
    Driver::parse(&format!(
        r#"{{"authService": {{"cluster": "auth", "authority": "a"}}, "identityHeaders": ["x-user-id"],
            "bypass": [{{"pathPrefix": "/healthz"}}] {extra} }}"#
    ))
}

fn req<'a>(path: &'a [u8], token: &'a [u8]) -> Vec<(&'a str, &'a [u8])> {
    vec![
        (":method", b"GET"),
        (":path", path),
        (":authority", b"app"),
        ("authorization", token),
    ]
}

const ALLOW: &[(&str, &[u8])] = &[(":status", b"200"), ("x-user-id", b"alice")];
const COOKIE_401: &[(&str, &[u8])] = &[(":status", b"401"), ("set-cookie", b"pre=1")];

fn allowed_as(who: &[u8], resumed: bool) -> Fate {
    Fate::Continued {
        identity: vec![("x-user-id".into(), who.to_vec())],
        removal: None,
        resumed,
    }
}

#[test]
fn forged_identity_is_stripped_first_whatever_comes_next() {
    let mut d = driver("");
    let h: &[(&str, &[u8])] = &[
        (":method", b"GET"),
        (":path", b"/healthz"),
        ("x_user_id", b"mallory"),
        ("X-User-Id", b"eve"),
        ("x-user-ids", b"not identity"),
    ];
    let out = d.flow.handle(
        &d.host,
        Event::RequestHeaders {
            ctx: 1,
            headers: h,
            end_of_stream: true,
        },
    );
    let Some(Action::Strip { names, part, .. }) = out.actions.first() else {
        panic!("the strip comes first")
    };
    assert_eq!(
        (names.as_slice(), *part),
        (["x_user_id", "X-User-Id"].as_slice(), Part::Headers)
    );
    assert!(matches!(
        out.actions.get(1),
        Some(Action::Conclude(c)) if *c.outcome() == Outcome::Bypass && !c.resume
    ));
}

#[test]
fn one_callout_serves_every_request_waiting_on_its_key() {
    let mut d = driver("");
    let h = req(b"/x", b"Bearer a");
    for ctx in 1..=3 {
        assert!(!d.arrive(ctx, &h, true), "held");
    }
    assert_eq!(d.calls.len(), 1, "one callout");
    let sent = &d.calls[&1].headers;
    assert!(sent.contains(&(":path".into(), b"/x".to_vec())), "{sent:?}");
    assert!(!d.body(2) && !d.trailers(3, &[]), "held while waiting");
    d.tick();
    assert_eq!(d.gauges.map(|g| (g.in_flight, g.waiting)), Some((1, 3)));
    d.answer(1, ALLOW, b"");
    for ctx in 1..=3 {
        assert_eq!(d.fate(ctx), Some(&allowed_as(b"alice", true)));
    }
    assert!(d.body(2), "no longer held");
    assert!(d.is_empty());
    assert_eq!(d.host.count_of(Metric::Callouts), 1);
    assert!(d.arrive(4, &h, true), "cached: on at once");
    assert_eq!(d.fate(4), Some(&allowed_as(b"alice", false)));
}

#[test]
fn a_waiter_gone_before_the_answer_is_not_resumed() {
    let mut d = driver("");
    let h = req(b"/x", b"Bearer a");
    d.arrive(1, &h, true);
    d.arrive(2, &h, true);
    d.gone(1);
    d.gone(2);
    assert!(d.flow.flights.waiting() == 0);
    d.answer(1, ALLOW, b"");
    assert!(d.fates.is_empty());
    // The callout went on without them and still filled the cache.
    assert!(d.arrive(3, &h, true));
    d.answer(1, ALLOW, b"");
    assert_eq!(d.fates.len(), 1, "landed once");
}

#[test]
fn a_refused_dispatch_is_an_error_under_on_error_and_opens_nothing() {
    let mut d = driver("");
    let h = req(b"/x", b"Bearer a");
    d.refuse = Some("bad argument (2)".into());
    assert!(!d.arrive(1, &h, true));
    assert_eq!(d.fate(1), Some(&Fate::Replied(503)));
    assert_eq!(
        d.concluded[0].outcome,
        Outcome::Error(CalloutError::Unreachable(Unreachable::Dispatch(
            "bad argument (2)".into()
        )))
    );
    assert!(d.is_empty());
    assert_eq!(d.host.count_of(Metric::Callouts), 0);
    // The next request with that key calls out itself rather than waiting on nothing.
    d.arrive(2, &h, true);
    assert_eq!(d.calls.len(), 1);
}

#[test]
fn an_answer_for_one_client_goes_to_it_alone_and_the_others_ask_again_alone() {
    let mut d = driver("");
    let h = req(b"/x", b"");
    for ctx in 1..=3 {
        d.arrive(ctx, &h, true);
    }
    d.answer(1, COOKIE_401, b"");
    assert_eq!(d.fates.keys().copied().collect::<Vec<_>>(), [1]);
    // Each of the others asked on its own: a fourth request does not join those callouts.
    assert_eq!(d.calls.values().map(|s| s.ctx).collect::<Vec<_>>(), [2, 3]);
    d.arrive(4, &h, true);
    assert_eq!(d.calls.len(), 3);
    for call in [2, 3, 4] {
        let before = d.fates.len();
        d.answer(call, COOKIE_401, b"");
        assert_eq!(
            d.fates.len(),
            before + 1,
            "call {call} answered one request"
        );
    }
    assert_eq!(d.host.count_of(Metric::Callouts), 4);
    assert!(d.is_empty());
}

#[test]
fn without_a_cache_nobody_waits_on_anyone() {
    let mut d = driver(r#", "cache": {"enabled": false}"#);
    let h = req(b"/x", b"Bearer a");
    d.arrive(1, &h, true);
    d.arrive(2, &h, true);
    assert_eq!(d.calls.len(), 2);
    d.answer(2, ALLOW, b"");
    assert_eq!(d.fates.keys().copied().collect::<Vec<_>>(), [2]);
    d.answer(1, ALLOW, b"");
    assert_eq!(d.fates.len(), 2);
}

#[test]
fn a_callout_is_judged_by_the_configuration_it_was_made_under() {
    let mut d = driver("");
    let h = req(b"/x", b"Bearer a");
    d.arrive(1, &h, true);
    d.reconfigure(
        r#"{"authService": {"cluster": "auth", "authority": "a"}, "identityHeaders": ["x-user"]}"#,
    );
    // A new request does not join a flight of the old configuration (its key differs).
    d.arrive(2, &h, true);
    assert_eq!(d.calls.len(), 2);
    d.answer(1, ALLOW, b"");
    assert_eq!(d.fate(1), Some(&allowed_as(b"alice", true)));
    d.answer(2, &[(":status", b"200"), ("x-user", b"alice")], b"");
    assert_eq!(
        d.fate(2),
        Some(&Fate::Continued {
            identity: vec![("x-user".into(), b"alice".to_vec())],
            removal: None,
            resumed: true
        })
    );
}

#[test]
fn errors_reach_every_waiter() {
    let mut d = driver("");
    let h = req(b"/x", b"Bearer a");
    d.arrive(1, &h, true);
    d.arrive(2, &h, true);
    d.reset(1);
    assert_eq!(d.concluded.len(), 2);
    for c in &d.concluded {
        assert_eq!(
            c.outcome,
            Outcome::Error(CalloutError::Unreachable(Unreachable::NoAnswer))
        );
    }
}

#[test]
fn only_a_deny_has_its_body_read_and_only_as_much_as_is_passed_on() {
    let mut d = driver(r#", "maxDenyBodyBytes": 100"#);
    d.arrive(1, &req(b"/x", b"Bearer a"), true);
    let read = |d: &mut Driver, headers: &[(&str, &[u8])], size: usize| {
        let out = d.flow.handle(
            &d.host,
            Event::AnswerHead {
                call: 1,
                headers: Some(headers),
                body_size: size,
            },
        );
        match out.actions.as_slice() {
            [Action::ReadBody { bytes }] => *bytes,
            _ => 0,
        }
    };
    assert_eq!(read(&mut d, &[(":status", b"401")], 5000), 100);
    assert_eq!(read(&mut d, &[(":status", b"302")], 10), 10);
    assert_eq!(read(&mut d, &[(":status", b"503")], 5000), 0, "landed: 503");
    d.arrive(2, &req(b"/x", b"Bearer b"), true);
    assert_eq!(
        read(&mut d, ALLOW, 5000),
        0,
        "an allow's body is never read"
    );
    assert_eq!(
        read(&mut d, &[(":status", b"401")], 5000),
        0,
        "unknown callout"
    );
}

#[test]
fn a_deny_passes_its_body_on_cut_at_the_limit() {
    let mut d = driver(r#", "maxDenyBodyBytes": 4, "denyHeaders": ["x-why"]"#);
    d.arrive(1, &req(b"/x", b"Bearer a"), true);
    d.answer(1, &[(":status", b"403"), ("x-why", b"no")], b"nope, never");
    let Some(Outcome::Decided(decision)) = d.concluded.first().map(|c| &c.outcome) else {
        panic!("decided")
    };
    assert!(matches!(
        decision.as_ref(),
        crate::decision::Decision::Deny { status: 403, body, .. } if body.as_ref() == b"nope"
    ));
}

#[test]
fn a_request_before_any_configuration_fails_closed() {
    let mut flow = Flow::default();
    let host = crate::host::fake::FakeHost::default();
    let h = req(b"/x", b"Bearer a");
    let out = flow.handle(
        &host,
        Event::RequestHeaders {
            ctx: 1,
            headers: &h,
            end_of_stream: true,
        },
    );
    assert!(!out.proceed);
    assert!(matches!(
        out.actions.as_slice(),
        [Action::FailClosed { ctx: 1 }]
    ));
    let out = flow.handle(
        &host,
        Event::RequestTrailers {
            ctx: 1,
            trailers: &[("x-user-id", b"eve")],
        },
    );
    assert!(out.actions.is_empty());
}

#[test]
fn identity_in_trailers_is_stripped_under_every_spelling() {
    let mut d = driver("");
    let out = d.flow.handle(
        &d.host,
        Event::RequestTrailers {
            ctx: 1,
            trailers: &[
                ("x-checksum", b"1"),
                ("x_user_id", b"e"),
                ("X-USER-ID", b"e"),
            ],
        },
    );
    assert!(out.proceed);
    let [Action::Strip { names, part, .. }] = out.actions.as_slice() else {
        panic!("one strip")
    };
    assert_eq!(
        (names.as_slice(), *part),
        (["x_user_id", "X-USER-ID"].as_slice(), Part::Trailers)
    );
}

#[test]
fn a_failed_hostcall_fails_the_request_closed_and_forgets_it() {
    let mut d = driver("");
    let h = req(b"/x", b"Bearer a");
    d.arrive(1, &h, true);
    d.arrive(2, &h, true);
    d.feed(Event::HostFailed {
        ctx: 2,
        what: "could not remove x_user_id".into(),
    });
    assert_eq!(d.fate(2), Some(&Fate::FailedClosed));
    d.answer(1, ALLOW, b"");
    assert_eq!(
        d.fate(2),
        Some(&Fate::FailedClosed),
        "the answer never acts on it"
    );
    assert!(d.is_empty());
}

#[test]
fn the_callout_latency_is_observed_from_dispatch_to_answer() {
    let mut d = driver("");
    d.host.now.set(1_000);
    d.arrive(1, &req(b"/x", b"Bearer a"), true);
    d.host.now.set(1_042);
    d.answer(1, ALLOW, b"");
    assert_eq!(
        *d.host.observed.borrow(),
        [(crate::host::Histogram::CalloutDurationMs, 42)]
    );
}
