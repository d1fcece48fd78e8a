//! Attacks on the flow's promises, on a real Envoy: a preflight-shaped request that carries a
//! body or a method override is checked like any other; a token whose keys are missing never
//! skips the auth service (and authenticate mode refuses `onError.jwks` allow at load); a request
//! that asks again because the answer was made for another client keeps its token's `exp` cap; a
//! client sending bad requests cannot flood the log.

#![cfg(test)]

use mesh_authz_integration::client::Request;
use mesh_authz_integration::echo::Echoed;
use mesh_authz_integration::envoy::{self, EnvoyOptions};
use mesh_authz_integration::jwt::{Claims, Issuer, KeyKind};
use mesh_authz_integration::require_prerequisites;
use mesh_authz_integration::stack::Stack;
use mesh_authz_integration::wait::eventually;
use serde_json::json;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const ISS: &str = "https://id.example.com";
const AUD: &str = "orders-api";

fn upstream_requests(s: &Stack) -> u64 {
    s.envoy.counter("cluster.echo.upstream_rq_total").unwrap()
}

fn issuer() -> Issuer {
    let mut i = Issuer::new(ISS);
    i.add_key(KeyKind::Rsa, "rsa-1").unwrap();
    i
}

/// Gate mode for `ISS`, whose keys the example auth service serves (cluster `auth`).
fn gate_provider() -> serde_json::Value {
    json!({
        "name": "corp",
        "issuer": ISS,
        "audiences": [AUD],
        "jwks": {"cluster": "auth", "authority": "auth.local", "path": "/.well-known/jwks.json",
                 "refreshSeconds": 10, "timeoutMs": 1000},
        "algorithms": ["RS256"],
        "clockSkewSeconds": 0,
    })
}

fn preflight() -> Request {
    Request::new("OPTIONS", "/api/orders")
        .header("origin", "https://app.example")
        .header("access-control-request-method", "DELETE")
}

#[test]
fn a_preflight_that_carries_a_request_is_checked() {
    let p = require_prerequisites!();
    let s = Stack::builder(&p)
        .unwrap()
        .config(|c| c["bypass"] = json!([{"corsPreflight": true}]))
        .start()
        .unwrap();
    let r = s.send(&preflight()).unwrap();
    assert_eq!(r.status, 200, "a real preflight is bypassed: {}", r.text());
    assert_eq!((s.auth.calls(), upstream_requests(&s)), (0, 1));
    let carrying = [
        ("a body", preflight().body(b"{\"id\": 7}")),
        (
            "a chunked body",
            // A trailer makes the client send the body chunked, without content-length.
            preflight().body(b"{\"id\": 7}").trailer("x-sum", "1"),
        ),
        (
            "x-http-method-override",
            preflight().header("x-http-method-override", "DELETE"),
        ),
        (
            "x-method-override",
            preflight().header("x-method-override", "DELETE"),
        ),
        (
            "x-http-method",
            preflight().header("x-http-method", "DELETE"),
        ),
    ];
    let bypassed = || s.envoy.counter("wasmcustom.mesh_authz_bypassed").unwrap();
    assert_eq!(bypassed(), 1);
    for (what, req) in carrying {
        let before = upstream_requests(&s);
        let r = s.send(&req).unwrap();
        // The first is asked of the auth service; the others (the same key) get its cached 401.
        assert_eq!(bypassed(), 1, "{what}: bypassed");
        assert_eq!(r.status, 401, "{what}: {}", r.text());
        assert_eq!(
            upstream_requests(&s),
            before,
            "{what}: reached the upstream"
        );
    }
    assert_eq!(s.auth.calls(), 1);
}

#[test]
fn a_token_whose_keys_are_missing_never_skips_the_auth_service() {
    let p = require_prerequisites!();
    let i = issuer();
    // The JWKS endpoint fails: the filter never gets keys. The auth service itself verifies
    // tokens against the keys it holds.
    let s = Stack::builder(&p)
        .unwrap()
        .jwks(&i.jwks())
        .jwks_status(500)
        .config(|c| {
            c["jwt"] = json!({"mode": "gate", "providers": [gate_provider()]});
            c["onError"] = json!({"mode": "deny", "status": 503, "jwks": {"mode": "allow"}});
        })
        .start()
        .unwrap();
    let claims = Claims::new().sub("jwt-user").aud(AUD).exp_in(600);
    let forged = i
        .tampered(&claims, |m| {
            m.insert("sub".into(), json!("admin"));
        })
        .unwrap();
    for n in 1..=2 {
        let r = s.send(&Request::get("/orders").bearer(&forged)).unwrap();
        assert_eq!(
            r.status,
            401,
            "the service refused the forged token: {}",
            r.text()
        );
        assert_eq!(s.auth.calls(), n, "request {n}: the auth service decided");
        assert_eq!(upstream_requests(&s), 0, "a forged token went upstream");
    }
    s.auth.reset();
    let valid = i.token(&claims).unwrap();
    for n in 1..=2 {
        let r = s.send(&Request::get("/orders").bearer(&valid)).unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        let echoed: Echoed = r.json().unwrap();
        assert_eq!(echoed.header("x-user-id"), Some("jwt-user"));
        assert_eq!(
            s.auth.calls(),
            n,
            "request {n}: a decision for an unchecked token is not cached"
        );
    }
}

#[test]
fn authenticate_mode_refuses_jwks_allow_at_load() {
    let p = require_prerequisites!();
    let mut config =
        envoy::plugin_config_of(&mesh_authz_integration::paths::default_envoy_yaml()).unwrap();
    let mut provider = gate_provider();
    provider["claimHeaders"] = json!({"sub": "x-user-id"});
    config["jwt"] = json!({"mode": "authenticate", "providers": [provider]});
    config["onError"] = json!({"mode": "allow"});
    let mut opts = EnvoyOptions::new(&p.envoy, &p.wasm);
    opts.plugin_config = Some(config.to_string());
    let (out, dir) = envoy::validate_rendered(&opts).unwrap();
    assert!(!out.success, "loaded:\n{}", out.output);
    assert!(out.output.contains("onError.mode"), "{}", out.output);
    let _ = std::fs::remove_dir_all(dir);
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[test]
fn a_request_that_asks_again_keeps_its_tokens_exp_cap() {
    const LIFETIME_SECS: i64 = 6;
    let p = require_prerequisites!();
    let i = issuer();
    // Every token place (the authorization header) is in the key: a cached decision is served
    // before the token checks, so its cap at `exp` is all that stops it outliving the token.
    let s = Stack::builder(&p)
        .unwrap()
        .jwks(&i.jwks())
        .config(|c| {
            c["jwt"] = json!({"mode": "gate", "providers": [gate_provider()]});
            c["authService"]["timeoutMs"] = 10_000.into();
        })
        .start()
        .unwrap();
    let warm = i
        .token(&Claims::new().sub("warm").aud(AUD).exp_in(600))
        .unwrap();
    eventually("the first JWKS", Duration::from_secs(10), || {
        s.send(&Request::get("/warm").bearer(&warm)).unwrap().status == 200
    })
    .unwrap();
    let token = i
        .token(&Claims::new().sub("jwt-user").aud(AUD).exp_in(LIFETIME_SECS))
        .unwrap();
    let exp = unix_now() + LIFETIME_SECS as u64;
    s.auth.reset();
    // The first answer sets a cookie (made for its client alone); the service holds it until
    // a second request with the same token waits on the same callout.
    s.auth.set_fresh_cookies(1);
    s.auth.set_hung(true);
    let addr = s.envoy.listen_addr().unwrap();
    let send = |t: String| thread::spawn(move || Request::get("/orders").bearer(&t).send(addr));
    let first = send(token.clone());
    eventually("the first callout", Duration::from_secs(10), || {
        s.auth.calls() == 1
    })
    .unwrap();
    let second = send(token.clone());
    eventually("both requests waiting", Duration::from_secs(10), || {
        s.envoy
            .stats()
            .unwrap()
            .get("wasmcustom.mesh_authz_requests_waiting")
            .copied()
            == Some(2)
    })
    .unwrap();
    s.auth.set_hung(false);
    let (first, second) = (
        first.join().unwrap().unwrap(),
        second.join().unwrap().unwrap(),
    );
    assert_eq!((first.status, second.status), (200, 200));
    assert_eq!(s.auth.calls(), 2, "the second request asked again");
    // Its decision is cached, while the token lives...
    let r = s.send(&Request::get("/orders").bearer(&token)).unwrap();
    assert_eq!((r.status, s.auth.calls()), (200, 2), "{}", r.text());
    assert!(
        unix_now() < exp,
        "the steps above outlasted the token's lifetime"
    );
    // ...and not a moment past its exp.
    while unix_now() <= exp {
        thread::sleep(Duration::from_millis(200));
    }
    let r = s.send(&Request::get("/orders").bearer(&token)).unwrap();
    assert_eq!(
        r.status,
        401,
        "a decision was served past the token's exp: {}",
        r.text()
    );
}

#[test]
fn a_client_cannot_flood_the_log_with_bad_requests() {
    let p = require_prerequisites!();
    // Without Envoy's path normalisation, a dot segment is the filter's own 400.
    let s = Stack::builder(&p).unwrap().hardened(false).start().unwrap();
    for _ in 0..30 {
        let r = s.send(&Request::get("/healthz/../admin/users")).unwrap();
        assert_eq!(r.status, 400, "{}", r.text());
    }
    assert!(s
        .envoy
        .wait_for_log("answering 400", Duration::from_secs(5)));
    let lines = s.envoy.log_text().matches("answering 400").count();
    assert_eq!(lines, 1, "one line per window, not one per request");
}
