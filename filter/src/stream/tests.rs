//! The adapter against a fake host: the exact hostcalls each flow makes, in order.

use super::*;
use crate::context::{on_configure, on_context_create, on_delete, on_tick};
use crate::fake::{Call, FakeHost};
use crate::vm;

const ROOT: u32 = 1;
const CONFIG: &str = r#"{"authService": {"cluster": "auth", "authority": "auth.local", "pathPrefix": "/check"},
    "identityHeaders": ["x-user-id"], "bypass": [{"pathPrefix": "/healthz"}]}"#;
const ALLOW: &[(&str, &str)] = &[(":status", "200"), ("x-user-id", "alice")];

/// A configured VM with a root context.
fn configured(config: &str) -> FakeHost {
    vm::reset();
    let h = FakeHost::with_config(config);
    on_context_create(ROOT, 0);
    h.enter(ROOT);
    assert!(on_configure(&h, ROOT, config.len()));
    h
}

/// Request `ctx` arrives with `headers`: what `proxy_on_request_headers` returns.
fn arrive(h: &FakeHost, ctx: u32, headers: &[(&str, &str)]) -> Status {
    on_context_create(ctx, ROOT);
    h.request(ctx, headers);
    h.enter(ctx);
    on_request_headers(h, ctx, false)
}

fn get(path: &str, token: &str) -> Vec<(&'static str, String)> {
    vec![
        (":method", "GET".into()),
        (":path", path.into()),
        (":authority", "app".into()),
        ("authorization", format!("Bearer {token}")),
    ]
}

fn borrowed<'a>(h: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    h.iter().map(|(n, v)| (*n, v.as_str())).collect()
}

/// The auth service answers callout `token`.
fn deliver(h: &FakeHost, token: u32, answer: &[(&str, &str)], body: &str) {
    h.answer(answer, body);
    h.enter(ROOT);
    on_callout_answer(h, ROOT, token, answer.len(), body.len());
}

fn dispatch(ctx: u32, token: u32, path: &str) -> Vec<Call> {
    vec![
        Call::Enter(ROOT),
        Call::Dispatch(ROOT, token, path.into()),
        Call::Enter(ctx),
    ]
}

fn allowed(ctx: u32) -> Vec<Call> {
    vec![
        Call::Enter(ctx),
        Call::Add(ctx, "x-user-id".into(), "alice".into()),
        Call::Resume(ctx),
    ]
}

#[test]
fn forged_identity_is_stripped_then_the_request_pauses_for_its_callout() {
    let h = configured(CONFIG);
    let owned = get("/x", "a");
    let mut req = borrowed(&owned);
    req.push(("x_user_id", "mallory"));
    assert_eq!(arrive(&h, 10, &req), Status::Pause);
    let mut want = vec![Call::Remove(10, "x_user_id".into())];
    want.extend(dispatch(10, 1, "/check/x"));
    assert_eq!(h.take(), want);
    assert_eq!(on_request_body(&h, 10), Status::Pause, "the body waits too");
    deliver(&h, 1, ALLOW, "");
    assert_eq!(h.take(), allowed(10));
    assert_eq!(on_request_body(&h, 10), Status::Continue);
}

#[test]
fn a_cached_allow_continues_without_a_callout() {
    let h = configured(CONFIG);
    let req = get("/x", "a");
    arrive(&h, 10, &borrowed(&req));
    deliver(&h, 1, ALLOW, "");
    h.take();
    assert_eq!(arrive(&h, 11, &borrowed(&req)), Status::Continue);
    assert_eq!(
        h.take(),
        [Call::Add(11, "x-user-id".into(), "alice".into())]
    );
    assert_eq!(h.metric("mesh_authz_cache_hits"), 1);
    assert_eq!(h.metric("mesh_authz_callouts"), 1);
}

#[test]
fn two_waiters_are_resumed_by_one_answer() {
    let h = configured(CONFIG);
    let req = get("/x", "a");
    assert_eq!(arrive(&h, 10, &borrowed(&req)), Status::Pause);
    assert_eq!(arrive(&h, 11, &borrowed(&req)), Status::Pause);
    assert_eq!(h.take(), dispatch(10, 1, "/check/x"), "one callout");
    on_tick(&h, ROOT);
    assert_eq!(h.metric("mesh_authz_requests_waiting"), 2);
    assert_eq!(h.metric("mesh_authz_callouts_in_flight"), 1);
    deliver(&h, 1, ALLOW, "");
    let mut want = allowed(10);
    want.extend(allowed(11));
    assert_eq!(h.take(), want);
    on_tick(&h, ROOT);
    assert_eq!(h.metric("mesh_authz_requests_waiting"), 0);
    assert_eq!(h.metric("mesh_authz_callouts_in_flight"), 0);
}

#[test]
fn a_waiter_gone_before_the_answer_is_left_alone() {
    let h = configured(CONFIG);
    let req = get("/x", "a");
    arrive(&h, 10, &borrowed(&req));
    arrive(&h, 11, &borrowed(&req));
    h.take();
    on_delete(&h, 11);
    h.gone.borrow_mut().insert(11);
    deliver(&h, 1, ALLOW, "");
    assert_eq!(h.take(), allowed(10));
}

#[test]
fn the_first_requester_gone_still_answers_the_others() {
    let h = configured(CONFIG);
    let req = get("/x", "a");
    arrive(&h, 10, &borrowed(&req));
    arrive(&h, 11, &borrowed(&req));
    h.take();
    on_delete(&h, 10);
    h.gone.borrow_mut().insert(10);
    deliver(&h, 1, ALLOW, "");
    assert_eq!(h.take(), allowed(11));
}

#[test]
fn a_failed_dispatch_answers_on_error_at_once() {
    let h = configured(CONFIG);
    h.fail("http_call");
    assert_eq!(arrive(&h, 10, &borrowed(&get("/x", "a"))), Status::Pause);
    assert_eq!(
        h.take(),
        [Call::Enter(ROOT), Call::Enter(10), Call::Reply(10, 503)]
    );
    assert_eq!(h.metric("mesh_authz_errors"), 1);
    assert_eq!(
        on_request_body(&h, 10),
        Status::Continue,
        "nothing to wait for"
    );
}

#[test]
fn a_reply_that_fails_is_logged_and_never_lets_the_request_through() {
    let h = configured(CONFIG);
    h.fail("send_local_response");
    let deny = [(":status", "401"), ("www-authenticate", "Bearer")];
    arrive(&h, 10, &borrowed(&get("/x", "a")));
    deliver(&h, 1, &deny, "no");
    let calls = h.take();
    assert_eq!(calls.last(), Some(&Call::Reply(10, 401)));
    assert!(!calls.contains(&Call::Resume(10)), "{calls:?}");
    // Straight from the cache, the same: paused, not continued.
    assert_eq!(arrive(&h, 11, &borrowed(&get("/x", "a"))), Status::Pause);
}

#[test]
fn an_answer_made_for_one_client_sends_the_other_waiters_to_ask_again() {
    let h = configured(CONFIG);
    let anonymous = [(":method", "GET"), (":path", "/x"), (":authority", "app")];
    arrive(&h, 10, &anonymous);
    arrive(&h, 11, &anonymous);
    h.take();
    deliver(&h, 1, &[(":status", "401"), ("set-cookie", "pre=1")], "");
    let mut want = vec![Call::Enter(10), Call::Reply(10, 401), Call::Enter(11)];
    want.extend(dispatch(11, 2, "/check/x"));
    assert_eq!(h.take(), want);
    assert_eq!(
        on_request_body(&h, 11),
        Status::Pause,
        "waits on its own callout"
    );
    deliver(&h, 2, &[(":status", "401"), ("set-cookie", "pre=2")], "");
    assert_eq!(h.take(), [Call::Enter(11), Call::Reply(11, 401)]);
}

#[test]
fn bypassed_requests_are_stripped_too_and_go_on_at_once() {
    let h = configured(CONFIG);
    let req = [
        (":method", "GET"),
        (":path", "/healthz"),
        ("X-User-Id", "mallory"),
    ];
    assert_eq!(arrive(&h, 10, &req), Status::Continue);
    assert_eq!(h.take(), [Call::Remove(10, "X-User-Id".into())]);
}

#[test]
fn a_header_that_cannot_be_stripped_fails_closed() {
    let h = configured(CONFIG);
    h.fail("remove_header");
    let owned = get("/x", "a");
    let mut req = borrowed(&owned);
    req.push(("x-user-id", "mallory"));
    assert_eq!(arrive(&h, 10, &req), Status::Pause);
    assert_eq!(h.take(), [Call::Reply(10, 500)]);
    assert_eq!(
        on_request_body(&h, 10),
        Status::Continue,
        "left no flight behind"
    );
}

#[test]
fn unreadable_headers_and_a_missing_configuration_fail_closed() {
    let h = configured(CONFIG);
    h.fail("header_map");
    assert_eq!(arrive(&h, 10, &borrowed(&get("/x", "a"))), Status::Pause);
    assert_eq!(h.take(), [Call::Reply(10, 500)]);

    vm::reset();
    let h = FakeHost::default();
    on_context_create(ROOT, 0);
    assert_eq!(arrive(&h, 10, &borrowed(&get("/x", "a"))), Status::Pause);
    assert_eq!(h.take(), [Call::Reply(10, 500)]);
}

#[test]
fn forged_trailers_are_stripped_and_held_while_waiting() {
    let h = configured(CONFIG);
    arrive(&h, 10, &borrowed(&get("/x", "a")));
    h.take();
    h.trailers(10, &[("x_user_id", "mallory"), ("x-checksum", "1")]);
    assert_eq!(on_request_trailers(&h, 10), Status::Pause);
    assert_eq!(h.take(), [Call::RemoveTrailer(10, "x_user_id".into())]);
}

#[test]
fn a_bad_configuration_is_refused_and_a_root_takes_its_gauges_along() {
    vm::reset();
    let bad = r#"{"authService": {"cluster": ""}}"#;
    let h = FakeHost::with_config(bad);
    on_context_create(ROOT, 0);
    assert!(!on_configure(&h, ROOT, bad.len()));

    let h = configured(CONFIG);
    arrive(&h, 10, &borrowed(&get("/x", "a")));
    on_tick(&h, ROOT);
    assert_eq!(h.metric("mesh_authz_callouts_in_flight"), 1);
    assert_eq!(h.metric("mesh_authz_vm_memory_bytes"), 1 << 20);
    on_delete(&h, ROOT);
    assert_eq!(h.metric("mesh_authz_callouts_in_flight"), 0);
    assert_eq!(h.metric("mesh_authz_vm_memory_bytes"), 0);
}

fn property(h: &FakeHost, ctx: u32, path: &str) -> Option<String> {
    h.properties
        .borrow()
        .get(&(ctx, format!("mesh_authz.{path}")))
        .cloned()
}

#[test]
fn each_decision_is_recorded_for_the_access_log() {
    let h = configured(CONFIG);
    arrive(&h, 10, &borrowed(&get("/x", "a")));
    deliver(&h, 1, ALLOW, "");
    arrive(&h, 11, &borrowed(&get("/x", "a")));
    arrive(&h, 12, &[(":method", "GET"), (":path", "/healthz")]);
    let seen = |ctx| ["outcome", "cached", "auth_status", "user"].map(|p| property(&h, ctx, p));
    let s = |v: &str| Some(v.to_string());
    assert_eq!(seen(10), [s("allow"), s("false"), s("200"), s("alice")]);
    assert_eq!(seen(11), [s("allow"), s("true"), s("200"), s("alice")]);
    assert_eq!(seen(12), [s("bypass"), s("false"), None, None]);
    assert_eq!(h.recorded.borrow().len(), 1, "one callout latency recorded");
}

#[test]
fn without_access_log_properties_nothing_is_recorded() {
    let config = r#"{"authService": {"cluster": "auth", "authority": "a"}, "accessLog": false}"#;
    let h = configured(config);
    arrive(&h, 10, &[(":method", "GET"), (":path", "/x")]);
    deliver(&h, 1, &[(":status", "401")], "");
    assert!(h.properties.borrow().is_empty());
}

#[test]
fn a_request_failed_closed_in_its_trailers_is_left_alone_by_the_answer() {
    let h = configured(CONFIG);
    arrive(&h, 10, &borrowed(&get("/x", "a")));
    h.take();
    h.trailers(10, &[("x_user_id", "mallory")]);
    h.fail("remove_header");
    assert_eq!(on_request_trailers(&h, 10), Status::Pause);
    assert_eq!(h.take(), [Call::Reply(10, 500)]);
    deliver(&h, 1, ALLOW, "");
    assert_eq!(h.take(), [], "no identity added, no resume after the 500");
}

mod grpc;
mod jwt;
