//! The hostcalls of a gRPC check: the request's properties, the call from the root context, the
//! message read when the flow asks, and the conclusion at the close.

use super::*;
use crate::grpc_call::{on_close, on_receive};
use mesh_authz_core::proto::{put_bytes, put_message};

const GRPC: &str = r#"{"authService": {"protocol": "grpc", "cluster": "auth", "authority": "auth.local"},
    "identityHeaders": ["x-user-id"]}"#;
const CHECK: &str = "envoy.service.auth.v3.Authorization/Check";

/// `HeaderValueOption { header: HeaderValue { key, value } }`.
fn header(out: &mut Vec<u8>, field: u32, key: &str, value: &str) {
    put_message(out, field, |o| {
        put_message(o, 1, |h| {
            put_bytes(h, 1, key.as_bytes());
            put_bytes(h, 2, value.as_bytes());
        })
    });
}

/// An OK CheckResponse naming `user`, asking to remove `remove` headers (not applied).
fn ok(user: &str, remove: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    put_message(&mut out, 1, |_| {});
    put_message(&mut out, 3, |o| {
        header(o, 2, "x-user-id", user);
        for r in remove {
            put_bytes(o, 5, r.as_bytes());
        }
    });
    out
}

/// Request `ctx` arrives from `source`.
fn arrive_from(h: &FakeHost, ctx: u32, source: &str) -> Status {
    let mut p = h.host_properties.borrow_mut();
    p.insert((ctx, "source.address".into()), source.as_bytes().to_vec());
    p.insert((ctx, "destination.address".into()), b"10.0.0.9:80".to_vec());
    p.insert((ctx, "request.protocol".into()), b"HTTP/1.1".to_vec());
    drop(p);
    let req = get("/x", "a");
    arrive(h, ctx, &borrowed(&req))
}

fn properties(ctx: u32) -> Vec<Call> {
    ["request.protocol", "source.address", "destination.address"]
        .iter()
        .map(|p| Call::Property(ctx, p.to_string()))
        .collect()
}

/// The gRPC call answers with `message`, or (none) closes with `code`: one or the other, as
/// Envoy ends a unary call.
fn answer(h: &FakeHost, token: u32, message: Option<&[u8]>, code: u32, status: &str) {
    h.enter(ROOT);
    match message {
        Some(m) => {
            *h.grpc_message.borrow_mut() = m.to_vec();
            on_receive(h, ROOT, token, m.len());
        }
        None => {
            *h.grpc_status.borrow_mut() = (code, status.as_bytes().to_vec());
            on_close(h, ROOT, token, code);
        }
    }
}

#[test]
fn a_grpc_check_reads_the_properties_calls_from_the_root_and_concludes_at_the_close() {
    let h = configured(GRPC);
    assert_eq!(arrive_from(&h, 10, "10.1.1.1:5000"), Status::Pause);
    let mut want = properties(10);
    want.extend([
        Call::Enter(ROOT),
        Call::GrpcDispatch(ROOT, 1, CHECK.into()),
        Call::Enter(10),
    ]);
    assert_eq!(h.take(), want);
    let (upstream, _, message, timeout) = h.grpc_calls.borrow()[&1].clone();
    assert_eq!(
        upstream,
        mesh_authz_core::grpc::service::upstream(
            mesh_authz_core::Config::parse(GRPC.as_bytes())
                .unwrap()
                .auth
                .as_ref()
                .unwrap()
        )
    );
    assert!(
        message.windows(8).any(|w| w == b"10.1.1.1"),
        "the client's address travels"
    );
    assert_eq!(timeout, 200);
    assert_eq!(on_request_body(&h, 10), Status::Pause, "the body waits");

    let m = ok("alice", &[]);
    answer(&h, 1, Some(&m), 0, "");
    let mut want = vec![Call::GrpcRead(m.len())];
    want.extend(allowed(10));
    assert_eq!(h.take(), want);
    assert_eq!(h.metric("mesh_authz_callouts"), 1);
    assert_eq!(h.metric("mesh_authz_allowed"), 1);

    // The same client again: from the cache, with its properties read for the key.
    assert_eq!(arrive_from(&h, 11, "10.1.1.1:6000"), Status::Continue);
    let mut want = properties(11);
    want.push(Call::Add(11, "x-user-id".into(), "alice".into()));
    assert_eq!(h.take(), want);
    assert_eq!(h.metric("mesh_authz_cache_hits"), 1);
}

#[test]
fn a_call_that_closes_unavailable_answers_by_on_error() {
    let h = configured(GRPC);
    arrive_from(&h, 10, "10.1.1.1:5000");
    h.take();
    answer(&h, 1, None, 14, "no healthy upstream");
    assert_eq!(h.take(), [Call::Enter(10), Call::Reply(10, 503)]);
    assert_eq!(h.metric("mesh_authz_errors"), 1);
}

#[test]
fn fields_not_applied_are_counted_and_the_identity_still_comes() {
    let h = configured(GRPC);
    arrive_from(&h, 10, "10.1.1.1:5000");
    h.take();
    let m = ok("alice", &["authorization", "cookie"]);
    answer(&h, 1, Some(&m), 0, "");
    let mut want = vec![Call::GrpcRead(m.len())];
    want.extend(allowed(10));
    assert_eq!(h.take(), want);
    assert_eq!(h.metric("mesh_authz_grpc_ignored_fields"), 2);
}

#[test]
fn a_message_for_an_unknown_call_is_not_read() {
    let h = configured(GRPC);
    answer(&h, 77, Some(&ok("mallory", &[])), 0, "");
    assert_eq!(h.take(), [], "nothing read, nobody concluded");
}
