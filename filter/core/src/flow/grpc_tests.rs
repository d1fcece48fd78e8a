//! The flow in gRPC mode: the CheckRequest and its key, answers (a CheckResponse kept until the
//! call closes), failures by status, sharing, and what an answer asks that is not applied.

use super::drive::{Driver, Fate};
use super::*;
use crate::decision::{CalloutError, Unreachable};
use crate::grpc::envoy_protos::{self as pb, header};
use crate::host::Metric;
use crate::Outcome;
use prost::Message;

fn driver(extra: &str) -> Driver {
    let d = Driver::parse(&format!(
        r#"{{"authService": {{"protocol": "grpc", "cluster": "auth", "authority": "a"}},
            "identityHeaders": ["x-user-id"], "denyHeaders": ["www-authenticate"],
            "cache": {{"staleIfErrorSeconds": 30}} {extra} }}"#
    ));
    from(d, "10.0.0.1:4242")
}

/// The request's properties as Envoy gives them.
fn from(d: Driver, source: &str) -> Driver {
    let mut p = d.host.properties.borrow_mut();
    p.insert("source.address".into(), source.as_bytes().to_vec());
    p.insert("destination.address".into(), b"10.0.0.9:8080".to_vec());
    p.insert("request.protocol".into(), b"HTTP/1.1".to_vec());
    drop(p);
    d
}

const REQ: &[(&str, &[u8])] = &[
    (":method", b"GET"),
    (":path", b"/orders?x=1"),
    (":authority", b"app"),
    (":scheme", b"http"),
    ("x-request-id", b"r-1"),
    ("authorization", b"Bearer k"),
];

fn ok(user: &str) -> Vec<u8> {
    pb::CheckResponse {
        status: Some(pb::Status::default()),
        ok_response: Some(pb::OkHttpResponse {
            headers: vec![header("x-user-id", user)],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

fn denied(status: i32, headers: Vec<pb::HeaderValueOption>) -> Vec<u8> {
    pb::CheckResponse {
        status: Some(pb::Status {
            code: 7,
            message: "no".into(),
        }),
        denied_response: Some(pb::DeniedHttpResponse {
            status: Some(pb::HttpStatus { code: status }),
            headers,
            body: "go away".into(),
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

fn allowed_as(who: &[u8], resumed: bool) -> Fate {
    Fate::Continued {
        identity: vec![("x-user-id".into(), who.to_vec())],
        removal: None,
        resumed,
    }
}

#[test]
fn an_allow_comes_through_the_check_request_and_is_cached() {
    let mut d = driver("");
    assert!(!d.arrive(1, REQ, true));
    let call = d.last_call().unwrap();
    let sent = d.calls[&call].grpc.clone().expect("a gRPC call");
    let attrs = pb::CheckRequest::decode(sent.as_slice())
        .unwrap()
        .attributes
        .unwrap();
    let http = attrs.request.unwrap().http.unwrap();
    assert_eq!(
        (http.method.as_str(), http.path.as_str(), http.host.as_str()),
        ("GET", "/orders?x=1", "app")
    );
    assert_eq!(
        (http.id.as_str(), http.protocol.as_str()),
        ("r-1", "HTTP/1.1")
    );
    assert_eq!(http.headers["authorization"], "Bearer k");
    let source = attrs
        .source
        .unwrap()
        .address
        .unwrap()
        .socket_address
        .unwrap();
    assert_eq!(
        (source.address.as_str(), source.port_value),
        ("10.0.0.1", 0)
    );
    assert!(d.calls[&call].headers.is_empty(), "no HTTP call");

    d.grpc_answer(call, Some(&ok("alice")), 0, b"");
    assert_eq!(d.fate(1), Some(&allowed_as(b"alice", true)));
    // The same request from the same address: from the cache, no second call.
    assert!(d.arrive(2, REQ, true));
    assert_eq!(d.fate(2), Some(&allowed_as(b"alice", false)));
    assert!(d.calls.is_empty());
    assert!(d.is_empty());
}

#[test]
fn the_client_address_is_in_the_key_and_its_port_is_not() {
    let mut d = driver("");
    d.arrive(1, REQ, true);
    let call = d.last_call().unwrap();
    d.grpc_answer(call, Some(&ok("alice")), 0, b"");
    let mut d = from(d, "10.0.0.1:9999");
    assert!(d.arrive(2, REQ, true), "another port: a cache hit");
    let mut d = from(d, "10.0.0.2:4242");
    assert!(!d.arrive(3, REQ, true), "another address: asks");
    assert!(d.last_call().is_some());
}

#[test]
fn waiters_share_one_call_and_its_deny() {
    let mut d = driver("");
    d.arrive(1, REQ, true);
    d.arrive(2, REQ, true);
    assert_eq!(d.calls.len(), 1, "one call in flight for both");
    let call = d.last_call().unwrap();
    let deny = denied(
        401,
        vec![
            header("www-authenticate", "Bearer"),
            header("x-secret", "s"),
        ],
    );
    d.grpc_answer(call, Some(&deny), 0, b"");
    assert_eq!(d.fate(1), Some(&Fate::Replied(401)));
    assert_eq!(d.fate(2), Some(&Fate::Replied(401)));
    let Outcome::Decided(decision) = &d.concluded[0].outcome else {
        panic!("a decision")
    };
    let crate::decision::Decision::Deny { headers, body, .. } = decision.as_ref() else {
        panic!("a deny")
    };
    assert_eq!(headers.iter().count(), 1, "only denyHeaders pass");
    assert_eq!(body.as_ref(), b"go away");
    assert!(d.is_empty());
}

#[test]
fn an_answer_with_a_cookie_for_the_client_goes_to_its_opener_alone() {
    let mut d = driver("");
    d.arrive(1, REQ, true);
    d.arrive(2, REQ, true);
    let call = d.last_call().unwrap();
    let answer = pb::CheckResponse {
        status: Some(pb::Status::default()),
        ok_response: Some(pb::OkHttpResponse {
            headers: vec![header("x-user-id", "alice")],
            response_headers_to_add: vec![header("set-cookie", "s=1")],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec();
    d.grpc_answer(call, Some(&answer), 0, b"");
    assert_eq!(d.fate(1), Some(&allowed_as(b"alice", true)));
    assert_eq!(d.fate(2), None, "asks again");
    assert_eq!(d.calls.len(), 1, "its own call");
    assert_eq!(
        d.host.count_of(Metric::GrpcIgnoredFields),
        1,
        "response_headers_to_add"
    );
}

#[test]
fn a_failed_call_is_an_error_by_its_status_after_a_stale_decision() {
    let cases: &[(u32, &[u8], CalloutError)] = &[
        (4, b"", CalloutError::Timeout),
        (14, b"upstream request timeout", CalloutError::Timeout),
        (
            14,
            b"no healthy upstream",
            CalloutError::Unreachable(Unreachable::EnvoyReply(503)),
        ),
        (12, b"", CalloutError::ServerError(501)),
        (13, b"", CalloutError::ServerError(500)),
        (0, b"", CalloutError::Malformed),
    ];
    for (code, message, error) in cases {
        let mut d = driver("");
        d.arrive(1, REQ, true);
        let call = d.last_call().unwrap();
        d.grpc_answer(call, None, *code, message);
        assert_eq!(
            d.concluded[0].outcome,
            Outcome::Error(error.clone()),
            "{code}"
        );
        assert!(matches!(d.fate(1), Some(Fate::Replied(_))), "onError deny");
    }
    // Bytes that are not a CheckResponse, closed OK: malformed, never an allow.
    let mut d = driver("");
    d.arrive(1, REQ, true);
    let call = d.last_call().unwrap();
    d.grpc_answer(call, Some(b"\xff\xff"), 0, b"");
    assert_eq!(
        d.concluded[0].outcome,
        Outcome::Error(CalloutError::Malformed)
    );
    // An expired allow is served when the service fails.
    let mut d = driver(r#", "onError": {"mode": "deny"}"#);
    d.arrive(1, REQ, true);
    d.grpc_answer(d.last_call().unwrap(), Some(&ok("alice")), 0, b"");
    d.host.now.set(d.host.now.get() + 61_000);
    d.arrive(2, REQ, true);
    d.grpc_answer(d.last_call().unwrap(), None, 14, b"");
    assert!(matches!(d.concluded[1].outcome, Outcome::Stale(..)));
    assert_eq!(d.fate(2), Some(&allowed_as(b"alice", true)));
}

#[test]
fn a_message_for_a_call_not_in_flight_is_not_read() {
    let mut d = driver("");
    let out = d
        .flow
        .handle(&d.host, Event::GrpcReceived { call: 99, size: 10 });
    assert!(out.actions.is_empty());
    d.arrive(1, REQ, true);
    let call = d.last_call().unwrap();
    let out = d.flow.handle(
        &d.host,
        Event::GrpcReceived {
            call,
            size: usize::MAX,
        },
    );
    let Some(Action::ReadGrpc { bytes, .. }) = out.actions.first() else {
        panic!("a bounded read")
    };
    assert_eq!(*bytes, crate::grpc::service::MAX_RESPONSE_BYTES as usize);
}

#[test]
fn ignored_fields_are_counted() {
    let mut d = driver("");
    d.arrive(1, REQ, true);
    let answer = pb::CheckResponse {
        status: Some(pb::Status::default()),
        ok_response: Some(pb::OkHttpResponse {
            headers: vec![header("x-user-id", "alice")],
            headers_to_remove: vec!["authorization".into(), "cookie".into()],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec();
    d.grpc_answer(d.last_call().unwrap(), Some(&answer), 0, b"");
    assert_eq!(d.fate(1), Some(&allowed_as(b"alice", true)));
    assert_eq!(d.host.count_of(Metric::GrpcIgnoredFields), 2);
}
