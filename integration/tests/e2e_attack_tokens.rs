//! The attack on the token's spelling, on a real Envoy in JWT gate mode: a forged token (`alg:
//! none`, or a tampered payload) written so that a filter reading only `Bearer <jwt>` would take
//! it for an API key (two spaces or a tab after the scheme, the scheme in capitals, whitespace
//! after the token, no scheme, another scheme, a quoted cookie, a percent-encoded query) is
//! refused with 401 `invalid_token`, no callout reaches the auth service and nothing the
//! upstream. A valid token in a lenient spelling passes with its identity, an API key still goes
//! to the auth service, and the example service alone refuses a forged token too.

#![cfg(test)]

use mesh_authz_integration::client::Request;
use mesh_authz_integration::echo::Echoed;
use mesh_authz_integration::jwt::{Claims, Issuer, KeyKind};
use mesh_authz_integration::require_prerequisites;
use mesh_authz_integration::stack::{Stack, StackBuilder};
use serde_json::json;

const ISS: &str = "https://id.example.com";
const AUD: &str = "orders-api";
const INVALID: &str = "Bearer error=\"invalid_token\"";

fn gate(builder: StackBuilder, jwks: &str) -> Stack {
    let provider = json!({
        "name": "corp",
        "issuer": ISS,
        "audiences": [AUD],
        "jwks": {"cluster": "auth", "authority": "auth.local", "path": "/.well-known/jwks.json",
                 "refreshSeconds": 10, "timeoutMs": 1000},
        "algorithms": ["RS256", "EdDSA"],
        "from": [{"header": "authorization", "prefix": "Bearer "}, {"cookie": "id_token"},
                 {"query": "access_token"}],
    });
    builder
        .jwks(jwks)
        .config(|c| c["jwt"] = json!({"mode": "gate", "providers": [provider]}))
        .start()
        .unwrap()
}

fn claims() -> Claims {
    Claims::new().sub("jwt-user").aud(AUD).exp_in(600)
}

/// Every spelling of `t` in the places the filter reads: (what, request).
fn spellings(t: &str) -> Vec<(&'static str, Request)> {
    let path = "/orders";
    let auth = |v: String| Request::get(path).header("authorization", &v);
    let encoded = t.replace('.', "%2E");
    vec![
        ("two spaces", auth(format!("Bearer  {t}"))),
        ("a tab", auth(format!("Bearer\t{t}"))),
        ("BEARER", auth(format!("BEARER {t}"))),
        ("bearer", auth(format!("bearer {t}"))),
        ("trailing whitespace", auth(format!("Bearer {t}  \t"))),
        ("no scheme", auth(t.to_string())),
        ("another scheme", auth(format!("Token {t}"))),
        ("a quoted word", auth(format!("Bearer \"{t}\""))),
        (
            "a quoted cookie",
            Request::get(path).header("cookie", &format!("a=1; id_token=\"{t}\"")),
        ),
        (
            "a percent-encoded cookie",
            Request::get(path).header("cookie", &format!("id_token={encoded}")),
        ),
        (
            "a percent-encoded query",
            Request::get(&format!("{path}?access_token={encoded}")),
        ),
        (
            "a cookie name in capitals",
            Request::get(path).header("cookie", &format!("ID_TOKEN={t}")),
        ),
        (
            "a query name in capitals",
            Request::get(&format!("{path}?Access_Token={t}")),
        ),
    ]
}

#[test]
fn a_forged_token_in_any_spelling_is_refused_without_a_callout() {
    let p = require_prerequisites!();
    let mut i = Issuer::new(ISS);
    i.add_key(KeyKind::Rsa, "rsa-1").unwrap();
    i.add_key(KeyKind::Ed25519, "ed-1").unwrap();
    let s = gate(Stack::builder(&p).unwrap(), &i.jwks());
    let ok = i.token(&claims()).unwrap();
    s.until_allowed(&ok).unwrap();
    s.auth.reset();
    let upstream = s.upstream.count();

    let forged = [
        ("alg none", i.alg_none(&claims().sub("admin")).unwrap()),
        (
            "tampered",
            i.tampered(&claims(), |m| {
                m.insert("sub".into(), json!("admin"));
            })
            .unwrap(),
        ),
    ];
    let mut refused = 0;
    for (kind, t) in &forged {
        for (what, req) in spellings(t) {
            let r = s.send(&req).unwrap();
            assert_eq!(r.status, 401, "{kind}, {what}: {}", r.text());
            assert_eq!(
                r.header("www-authenticate").as_deref(),
                Some(INVALID),
                "{kind}, {what}"
            );
            assert_eq!(
                s.auth.calls(),
                0,
                "{kind}, {what}: reached the auth service"
            );
            assert_eq!(
                s.upstream.count(),
                upstream,
                "{kind}, {what}: reached the upstream"
            );
            refused += 1;
        }
    }
    // A valid token where it does not belong is refused the same way: no check passes it.
    for (what, req) in spellings(&ok) {
        if [
            "no scheme",
            "another scheme",
            "a quoted word",
            "a percent-encoded cookie",
        ]
        .contains(&what)
        {
            let r = s.send(&req).unwrap();
            assert_eq!(r.status, 401, "valid, {what}");
            assert_eq!(r.header("www-authenticate").as_deref(), Some(INVALID));
            refused += 1;
        }
    }
    assert_eq!(
        s.auth.calls(),
        0,
        "no refused token reached the auth service"
    );
    let rejected = s
        .envoy
        .counter("wasmcustom.mesh_authz_jwt_rejected")
        .unwrap();
    assert_eq!(rejected, refused, "each refusal counted");

    // A valid token in a lenient header spelling is checked and passes with its identity.
    for (what, req) in spellings(&ok).into_iter().take(5) {
        let r = s.send(&req).unwrap();
        assert_eq!(r.status, 200, "valid, {what}: {}", r.text());
        let seen: Echoed = r.json().unwrap();
        assert_eq!(seen.header_all("x-user-id"), ["jwt-user"], "valid, {what}");
    }
    // In the cookie and the query it passes the filter's check too (the example service reads
    // neither place, so it answers as to a request without a credential).
    for (what, req) in spellings(&ok) {
        if [
            "a quoted cookie",
            "a percent-encoded query",
            "a cookie name in capitals",
            "a query name in capitals",
        ]
        .contains(&what)
        {
            let calls = s.auth.calls();
            let r = s.send(&req).unwrap();
            assert_ne!(
                r.header("www-authenticate").as_deref(),
                Some(INVALID),
                "{what}"
            );
            assert_eq!(
                s.auth.calls(),
                calls + 1,
                "{what}: checked, then called out"
            );
        }
    }
    // An API key in any spelling still goes to the auth service.
    for v in [
        "Bearer alice-token",
        "bearer\t alice-token",
        "BEARER  alice-token ",
    ] {
        let calls = s.auth.calls();
        let r = s
            .send(&Request::get("/orders").header("authorization", v))
            .unwrap();
        assert_eq!(r.status, 200, "{v:?}: {}", r.text());
        let seen: Echoed = r.json().unwrap();
        assert_eq!(seen.header_all("x-user-id"), ["alice"], "{v:?}");
        assert_eq!(s.auth.calls(), calls + 1, "{v:?}: the service decided");
    }
}

#[test]
fn the_example_service_alone_refuses_a_forged_token() {
    let p = require_prerequisites!();
    let mut i = Issuer::new(ISS);
    i.add_key(KeyKind::Ed25519, "ed-1").unwrap();
    let s = gate(Stack::builder(&p).unwrap(), &i.jwks());
    let direct = |v: &str| {
        Request::get("/check/orders")
            .header("authorization", v)
            .send(s.auth.addr())
            .unwrap()
    };
    let forged = [
        i.alg_none(&claims().sub("admin")).unwrap(),
        i.tampered(&claims(), |m| {
            m.insert("sub".into(), json!("admin"));
        })
        .unwrap(),
    ];
    for t in &forged {
        for v in [
            format!("Bearer {t}"),
            format!("Bearer  {t}"),
            format!("bearer\t{t}"),
        ] {
            let r = direct(&v);
            assert_eq!(r.status, 401, "{v}");
            assert_eq!(r.header("x-user-id"), None, "{v}");
        }
    }
    let ok = i.token(&claims()).unwrap();
    let r = direct(&format!("Bearer\t{ok}"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-user-id").as_deref(), Some("jwt-user"));
}
