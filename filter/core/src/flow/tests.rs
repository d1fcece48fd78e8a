//! The request flow as the adapter drives it, waiters included, against a fake host.

use super::*;
use crate::host::fake::FakeHost;
use crate::reply::Action;

fn gate(extra: &str) -> Gate {
    let text = format!(
        r#"{{"authService": {{"cluster": "auth", "authority": "a"}}, "identityHeaders": ["x-user-id"],
            "bypass": [{{"pathPrefix": "/healthz"}}] {extra} }}"#
    );
    let mut g = Gate::default();
    g.configure(Authorizer::new(Config::parse(text.as_bytes()).unwrap()));
    g
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

fn answer<'a>(headers: &'a [(&'a str, &'a [u8])]) -> Result<Answer<'a>, CalloutError> {
    Ok(Answer { headers, body: b"" })
}

/// Request headers of `ctx`; dispatches any callout with `token`. What the adapter would see.
fn arrive(g: &mut Gate, host: &FakeHost, ctx: Ctx, h: &[(&str, &[u8])], token: Token) -> String {
    let head = RequestHead::new(h);
    let plan = g.request_headers(host, ctx, &head).unwrap();
    match plan.next {
        Next::Decided(_, Outcome::Bypass) => "bypass".into(),
        Next::Decided(_, Outcome::Decided(_)) => "cached".into(),
        Next::Decided(_, o) => format!("{o:?}"),
        Next::Wait => "wait".into(),
        Next::FetchKeys(f) => format!("fetch keys {}", f.provider),
        Next::CallOut(call) => match g.dispatched(host, ctx, call, Ok(token)) {
            None => "called".into(),
            Some((_, o)) => format!("{o:?}"),
        },
    }
}

fn identity(l: &Landed) -> Vec<(&str, &[u8])> {
    match l.authz.conclude(&FakeHost::default(), &l.outcome) {
        Action::Continue { identity } => identity,
        Action::Respond { .. } => Vec::new(),
    }
}

#[test]
fn forged_identity_is_stripped_first_whatever_comes_next() {
    let mut g = gate("");
    let host = FakeHost::default();
    let h: &[(&str, &[u8])] = &[
        (":method", b"GET"),
        (":path", b"/healthz"),
        ("x_user_id", b"mallory"),
        ("X-User-Id", b"eve"),
        ("x-user-ids", b"not identity"),
    ];
    let plan = g.request_headers(&host, 1, &RequestHead::new(h)).unwrap();
    assert_eq!(plan.strip, ["x_user_id", "X-User-Id"]);
    assert!(matches!(plan.next, Next::Decided(_, Outcome::Bypass)));
}

#[test]
fn one_callout_serves_every_request_waiting_on_its_key() {
    let mut g = gate("");
    let host = FakeHost::default();
    let h = req(b"/x", b"Bearer a");
    assert_eq!(arrive(&mut g, &host, 1, &h, 7), "called");
    assert_eq!(arrive(&mut g, &host, 2, &h, 8), "wait");
    assert_eq!(arrive(&mut g, &host, 3, &h, 9), "wait");
    assert!(g.is_waiting(1) && g.is_waiting(2) && g.is_waiting(3));
    assert_eq!((g.in_flight(), g.waiting()), (1, 3));
    let landed = g.answered(&host, 7, answer(ALLOW)).unwrap();
    assert_eq!(landed.answered, [1, 2, 3]);
    assert!(landed.ask_again.is_empty());
    assert_eq!(identity(&landed), [("x-user-id", b"alice".as_slice())]);
    assert!(!g.is_waiting(1) && !g.is_waiting(2));
    assert_eq!((g.in_flight(), g.waiting()), (0, 0));
    assert_eq!(host.count_of(Metric::Callouts), 1);
    assert_eq!(arrive(&mut g, &host, 4, &h, 10), "cached");
}

#[test]
fn a_waiter_gone_before_the_answer_is_not_resumed() {
    let mut g = gate("");
    let host = FakeHost::default();
    let h = req(b"/x", b"Bearer a");
    arrive(&mut g, &host, 1, &h, 7);
    arrive(&mut g, &host, 2, &h, 8);
    g.gone(1);
    g.gone(2);
    assert_eq!(g.waiting(), 0);
    let landed = g.answered(&host, 7, answer(ALLOW)).unwrap();
    assert!(landed.answered.is_empty() && landed.ask_again.is_empty());
    // The callout went on without them and still filled the cache.
    assert_eq!(arrive(&mut g, &host, 3, &h, 9), "cached");
    assert!(g.answered(&host, 7, answer(ALLOW)).is_none(), "landed once");
}

#[test]
fn a_refused_dispatch_is_an_error_under_on_error_and_opens_nothing() {
    let mut g = gate("");
    let host = FakeHost::default();
    let h = req(b"/x", b"Bearer a");
    let Next::CallOut(call) = g
        .request_headers(&host, 1, &RequestHead::new(&h))
        .unwrap()
        .next
    else {
        panic!("expected a callout")
    };
    let (authz, outcome) = g
        .dispatched(&host, 1, call, Err("bad argument (2)".into()))
        .unwrap();
    assert_eq!(
        outcome,
        Outcome::Error(CalloutError::Unreachable(Unreachable::Dispatch(
            "bad argument (2)".into()
        )))
    );
    assert!(matches!(
        authz.conclude(&host, &outcome),
        Action::Respond { status: 503, .. }
    ));
    assert_eq!((g.in_flight(), g.waiting(), g.is_waiting(1)), (0, 0, false));
    assert_eq!(host.count_of(Metric::Callouts), 0);
    // The next request with that key calls out itself rather than waiting on nothing.
    assert_eq!(arrive(&mut g, &host, 2, &h, 8), "called");
}

#[test]
fn an_answer_for_one_client_goes_to_it_alone_and_the_others_ask_again_alone() {
    let mut g = gate("");
    let host = FakeHost::default();
    let h = req(b"/x", b"");
    arrive(&mut g, &host, 1, &h, 7);
    arrive(&mut g, &host, 2, &h, 8);
    arrive(&mut g, &host, 3, &h, 9);
    let landed = g.answered(&host, 7, answer(COOKIE_401)).unwrap();
    let again: Vec<Ctx> = landed.ask_again.iter().map(|w| w.ctx).collect();
    assert_eq!((landed.answered.clone(), again), (vec![1], vec![2, 3]));
    // Each asks on its own: a fourth request does not join those callouts.
    let head = RequestHead::new(&h);
    for (waiter, token) in landed.ask_again.iter().zip([20, 30]) {
        let ctx = waiter.ctx;
        let Next::CallOut(call) = g.retry(&host, &landed.authz, *waiter, &head) else {
            panic!("retry must call out")
        };
        assert!(g.dispatched(&host, ctx, call, Ok(token)).is_none());
    }
    assert_eq!(arrive(&mut g, &host, 4, &h, 40), "called");
    assert_eq!(g.in_flight(), 3);
    for token in [20, 30, 40] {
        let l = g.answered(&host, token, answer(COOKIE_401)).unwrap();
        assert_eq!(l.answered.len(), 1, "token {token}");
        assert!(l.ask_again.is_empty());
    }
    assert_eq!(host.count_of(Metric::Callouts), 4);
}

#[test]
fn without_a_cache_nobody_waits_on_anyone() {
    let mut g = gate(r#", "cache": {"enabled": false}"#);
    let host = FakeHost::default();
    let h = req(b"/x", b"Bearer a");
    assert_eq!(arrive(&mut g, &host, 1, &h, 7), "called");
    assert_eq!(arrive(&mut g, &host, 2, &h, 8), "called");
    assert_eq!(g.answered(&host, 8, answer(ALLOW)).unwrap().answered, [2]);
    assert_eq!(g.answered(&host, 7, answer(ALLOW)).unwrap().answered, [1]);
}

#[test]
fn a_callout_is_judged_by_the_configuration_it_was_made_under() {
    let mut g = gate("");
    let host = FakeHost::default();
    let h = req(b"/x", b"Bearer a");
    arrive(&mut g, &host, 1, &h, 7);
    let renamed =
        r#"{"authService": {"cluster": "auth", "authority": "a"}, "identityHeaders": ["x-user"]}"#;
    g.configure(Authorizer::new(Config::parse(renamed.as_bytes()).unwrap()));
    // A new request does not join a flight of the old configuration (its key differs).
    assert_eq!(arrive(&mut g, &host, 2, &h, 8), "called");
    let old = g.answered(&host, 7, answer(ALLOW)).unwrap();
    assert_eq!(identity(&old), [("x-user-id", b"alice".as_slice())]);
    let new = g
        .answered(
            &host,
            8,
            answer(&[(":status", b"200"), ("x-user", b"alice")]),
        )
        .unwrap();
    assert_eq!(identity(&new), [("x-user", b"alice".as_slice())]);
}

#[test]
fn errors_reach_every_waiter() {
    let mut g = gate("");
    let host = FakeHost::default();
    let h = req(b"/x", b"Bearer a");
    arrive(&mut g, &host, 1, &h, 7);
    arrive(&mut g, &host, 2, &h, 8);
    let landed = g
        .answered(
            &host,
            7,
            Err(CalloutError::Unreachable(Unreachable::NoAnswer)),
        )
        .unwrap();
    assert_eq!(
        landed.outcome,
        Outcome::Error(CalloutError::Unreachable(Unreachable::NoAnswer))
    );
    assert_eq!(landed.answered, [1, 2]);
}

#[test]
fn only_a_deny_has_its_body_read_and_only_as_much_as_is_passed_on() {
    let mut g = gate(r#", "maxDenyBodyBytes": 100"#);
    let host = FakeHost::default();
    arrive(&mut g, &host, 1, &req(b"/x", b"Bearer a"), 7);
    assert_eq!(g.body_wanted(7, &[(":status", b"401")], 5000), 100);
    assert_eq!(g.body_wanted(7, &[(":status", b"302")], 10), 10);
    assert_eq!(g.body_wanted(7, ALLOW, 5000), 0);
    assert_eq!(g.body_wanted(7, &[(":status", b"503")], 5000), 0);
    assert_eq!(
        g.body_wanted(99, &[(":status", b"401")], 5000),
        0,
        "unknown"
    );
}

#[test]
fn a_request_before_any_configuration_is_not_let_through() {
    let mut g = Gate::default();
    let h = req(b"/x", b"Bearer a");
    assert!(matches!(
        g.request_headers(&FakeHost::default(), 1, &RequestHead::new(&h)),
        Err(NotConfigured)
    ));
    assert!(g.trailers_to_strip(["x-user-id"]).is_empty());
}

#[test]
fn identity_in_trailers_is_stripped_under_every_spelling() {
    let g = gate("");
    assert_eq!(
        g.trailers_to_strip(["x-checksum", "x_user_id", "X-USER-ID"]),
        ["x_user_id", "X-USER-ID"]
    );
}

#[test]
fn the_callout_latency_is_observed_from_dispatch_to_answer() {
    let mut g = gate("");
    let host = FakeHost::default();
    host.now.set(1_000);
    arrive(&mut g, &host, 1, &req(b"/x", b"Bearer a"), 7);
    host.now.set(1_042);
    g.answered(&host, 7, answer(ALLOW)).unwrap();
    assert_eq!(
        *host.observed.borrow(),
        [(crate::host::Histogram::CalloutDurationMs, 42)]
    );
}
