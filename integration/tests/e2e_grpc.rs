//! `authService.protocol: grpc` on a real Envoy against the test gRPC auth service (HTTP/2
//! cluster): allow with identity, deny with its status, headers and body, the cache and single
//! flight, the service down, shadow mode, and parity of the CheckRequest with what Envoy's own
//! gRPC ext_authz sends (`grpc_parity.rs`).

#![cfg(test)]

use mesh_authz_integration::auth::Tokens;
use mesh_authz_integration::client::Request;
use mesh_authz_integration::echo::Echoed;
use mesh_authz_integration::envoy::overrides::auth_cluster_http2;
use mesh_authz_integration::grpc_auth::{parity, GrpcAuthService};
use mesh_authz_integration::paths::Prerequisites;
use mesh_authz_integration::require_prerequisites;
use mesh_authz_integration::stack::{closed_port, Stack};
use serde_json::{json, Value};
use std::time::Duration;

/// The checked-in configuration asking with gRPC: no `pathPrefix`/`includeRequestPath` (refused
/// in gRPC mode), no JWT gate (its JWKS would come from the `auth` cluster, now gRPC).
fn grpc_stack(p: &Prerequisites, port: Option<u16>, f: impl FnOnce(&mut Value)) -> Stack {
    let mut b = Stack::builder(p).unwrap().config(|c| {
        let a = c["authService"].as_object_mut().unwrap();
        a.remove("pathPrefix");
        a.remove("includeRequestPath");
        a.insert("protocol".into(), json!("grpc"));
        c.as_object_mut().unwrap().remove("jwt");
        f(c);
    });
    if let Some(port) = port {
        b = b.auth_port(port);
    }
    b.envoy_patch(auth_cluster_http2).start().unwrap()
}

fn stat(s: &Stack, name: &str) -> u64 {
    s.envoy
        .counter(&format!("wasmcustom.mesh_authz_{name}"))
        .unwrap()
}

#[test]
fn allow_brings_identity_and_deny_its_status_headers_and_body() {
    let p = require_prerequisites!();
    let grpc = GrpcAuthService::spawn(Tokens::example()).unwrap();
    let s = grpc_stack(&p, Some(grpc.addr().port()), |_| {});
    let r = s
        .send(
            &Request::get("/hello?x=1")
                .bearer("alice-token")
                .header("x-user-id", "mallory"),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let seen: Echoed = r.json().unwrap();
    assert_eq!(seen.header_all("x-user-id"), ["alice"], "forged one gone");
    assert_eq!(seen.header_all("x-user-roles"), ["admin"]);
    assert_eq!(seen.header_all("x-tenant-id"), ["acme"]);

    let r = s.send(&Request::get("/hello")).unwrap();
    assert_eq!(r.status, 401);
    assert!(
        r.header("www-authenticate").is_some(),
        "a denyHeader passes"
    );
    assert_eq!(r.text(), "unauthenticated\n");
    let r = s.send(&Request::get("/admin").bearer("bob-token")).unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(grpc.received().len(), 3);
    assert_eq!(stat(&s, "allowed"), 1);
    assert_eq!(stat(&s, "denied"), 2);
    assert_eq!(stat(&s, "callouts"), 3);
    assert_eq!(stat(&s, "grpc_ignored_fields"), 0);
    assert_eq!(s.upstream.count(), 1, "only the allow went upstream");
}

#[test]
fn a_cached_decision_is_served_without_a_check_request() {
    let p = require_prerequisites!();
    let grpc = GrpcAuthService::spawn(Tokens::example()).unwrap();
    let s = grpc_stack(&p, Some(grpc.addr().port()), |_| {});
    for _ in 0..2 {
        let r = s.send(&Request::get("/c").bearer("alice-token")).unwrap();
        assert_eq!(r.status, 200);
        let seen: Echoed = r.json().unwrap();
        assert_eq!(seen.header_all("x-user-id"), ["alice"]);
    }
    assert_eq!(
        grpc.received().len(),
        1,
        "one CheckRequest for two requests"
    );
    assert_eq!(stat(&s, "cache_hits"), 1);
}

#[test]
fn concurrent_requests_share_one_check() {
    let p = require_prerequisites!();
    let grpc = GrpcAuthService::spawn(Tokens::example()).unwrap();
    let s = grpc_stack(&p, Some(grpc.addr().port()), |c| {
        c["authService"]["timeoutMs"] = json!(5000);
    });
    grpc.set_delay(Duration::from_millis(1500));
    let addr = s.envoy.listen_addr().unwrap();
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let req = Request::get("/sf").bearer("alice-token");
            std::thread::spawn(move || req.send(addr))
        })
        .collect();
    for h in handles {
        let r = h.join().unwrap().unwrap();
        assert_eq!(r.status, 200);
        let seen: Echoed = r.json().unwrap();
        assert_eq!(seen.header_all("x-user-id"), ["alice"]);
    }
    assert_eq!(
        grpc.received().len(),
        1,
        "one CheckRequest for six requests"
    );
    assert_eq!(stat(&s, "callouts"), 1);
}

#[test]
fn the_service_down_answers_by_on_error() {
    let p = require_prerequisites!();
    let s = grpc_stack(&p, Some(closed_port().unwrap()), |_| {});
    let r = s.send(&Request::get("/x").bearer("alice-token")).unwrap();
    assert_eq!(r.status, 503, "onError deny with its status");
    assert_eq!(stat(&s, "errors"), 1);
    assert_eq!(s.upstream.count(), 0);
    assert!(
        s.envoy.wait_for_log("unreachable", Duration::from_secs(2)),
        "the cause is explained"
    );
}

#[test]
fn shadow_mode_lets_a_deny_through_and_counts_it() {
    let p = require_prerequisites!();
    let grpc = GrpcAuthService::spawn(Tokens::example()).unwrap();
    let s = grpc_stack(&p, Some(grpc.addr().port()), |c| {
        c["mode"] = json!("shadow");
    });
    let r = s.send(&Request::get("/x")).unwrap();
    assert_eq!(r.status, 200);
    let seen: Echoed = r.json().unwrap();
    assert!(
        seen.header_all("x-user-id").is_empty(),
        "no identity from a deny"
    );
    assert_eq!(stat(&s, "shadow_denied"), 1);
    assert_eq!(grpc.received().len(), 1);
}

/// The fields `grpc_parity.rs` recorded from Envoy 1.40's native filter for the same request;
/// where mesh-authz differs by design (source port, time, size, id) the docs say so.
#[test]
fn the_check_request_matches_envoys_own() {
    let p = require_prerequisites!();
    let grpc = GrpcAuthService::spawn(Tokens::example()).unwrap();
    let s = grpc_stack(&p, Some(grpc.addr().port()), |_| {});
    let r = s.send(&parity::request()).unwrap();
    assert_eq!(r.status, 200);
    let got = grpc.received();
    assert_eq!(got.len(), 1);
    let a = got[0].attributes.clone().unwrap();
    let http = a.request.clone().unwrap().http.unwrap();
    parity::assert_http_as_envoy_sends(&http);
    assert_eq!(http.headers["x-request-id"], http.id);
    let source = a
        .source
        .and_then(|s| s.address)
        .and_then(|a| a.socket_address)
        .unwrap();
    assert_eq!(
        (source.address.as_str(), source.port_value),
        ("127.0.0.1", 0)
    );
    let dest = a
        .destination
        .and_then(|s| s.address)
        .and_then(|a| a.socket_address)
        .unwrap();
    assert_eq!(dest.address, "127.0.0.1");
    assert_eq!(
        dest.port_value,
        u32::from(s.envoy.listen_addr().unwrap().port())
    );
    assert!(a.context_extensions.is_empty());
}
