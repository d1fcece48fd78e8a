//! Allow with identity injected, forged identity removed, deny passthrough (401, 302, 403), the
//! shape of the callout as the auth service saw it, bypass.

#![cfg(test)]

use mesh_authz_integration::auth::REASON_HEADER;
use mesh_authz_integration::client::Request;
use mesh_authz_integration::echo::Echoed;
use mesh_authz_integration::require_prerequisites;
use mesh_authz_integration::stack::Stack;

const IDENTITY: [&str; 3] = ["x-user-id", "x-user-roles", "x-tenant-id"];

#[test]
fn allow_injects_identity() {
    let p = require_prerequisites!();
    let s = Stack::start(&p).unwrap();
    let r = s
        .send(&Request::get("/hello?x=1").bearer("alice-token"))
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let seen: Echoed = r.json().unwrap();
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.path, "/hello?x=1");
    assert_eq!(seen.header_all("x-user-id"), ["alice"]);
    assert_eq!(seen.header_all("x-user-roles"), ["admin"]);
    assert_eq!(seen.header_all("x-tenant-id"), ["acme"]);
    // The service's other headers are not identity: they stay out of the upstream request.
    assert_eq!(seen.header(REASON_HEADER), None);
    // The credential itself still reaches the upstream (the filter only adds and strips identity).
    assert_eq!(seen.header("authorization"), Some("Bearer alice-token"));
    assert_eq!(s.auth.calls(), 1);

    // A session cookie works as well.
    let r = s
        .send(&Request::get("/hello").header("cookie", "theme=dark; session=bob-token"))
        .unwrap();
    assert_eq!(r.status, 200);
    let seen: Echoed = r.json().unwrap();
    assert_eq!(seen.header_all("x-user-id"), ["bob"]);
    assert_eq!(seen.header_all("x-user-roles"), ["viewer"]);
}

/// Forged identity headers in any case and repeated: `forged` pairs for a raw request.
fn with_forged(req: Request) -> Request {
    req.header("X-User-Id", "mallory")
        .header("x-user-id", "eve")
        .header("X-USER-ROLES", "admin")
        .header("x-user-roles", "admin,root")
        .header("X-Tenant-Id", "evil")
}

#[test]
fn forged_identity_is_removed_on_allow() {
    let p = require_prerequisites!();
    let s = Stack::start(&p).unwrap();
    let r = s
        .send(&with_forged(Request::get("/data").bearer("bob-token")))
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let seen: Echoed = r.json().unwrap();
    assert_eq!(seen.header_all("x-user-id"), ["bob"]);
    assert_eq!(seen.header_all("x-user-roles"), ["viewer"]);
    assert_eq!(seen.header_all("x-tenant-id"), ["acme"]);
    // Nor does the auth service get to see them (the strip happens before the callout).
    let callouts = s.auth.callouts();
    assert_eq!(callouts.len(), 1);
    for name in IDENTITY {
        assert!(
            callouts[0].header_all(name).is_empty(),
            "{name} reached the auth service"
        );
    }
}

#[test]
fn forged_identity_is_removed_on_bypassed_requests() {
    let p = require_prerequisites!();
    let s = Stack::start(&p).unwrap();
    for req in [
        with_forged(Request::get("/healthz")),
        with_forged(Request::get("/healthz/deep?verbose=1")),
        with_forged(
            Request::new("OPTIONS", "/anything")
                .header("origin", "https://app.example")
                .header("access-control-request-method", "POST"),
        ),
    ] {
        let r = s.send(&req).unwrap();
        assert_eq!(r.status, 200, "{} {}: {}", req.method, req.target, r.text());
        let seen: Echoed = r.json().unwrap();
        for name in IDENTITY {
            assert!(
                seen.header_all(name).is_empty(),
                "{name} forged through {}: {seen:?}",
                req.target
            );
        }
    }
    assert_eq!(s.auth.calls(), 0, "bypassed requests made a callout");
}

#[test]
fn bypass_matches_whole_segments_only() {
    let p = require_prerequisites!();
    let s = Stack::start(&p).unwrap();
    assert_eq!(s.get("/healthz").unwrap().status, 200);
    assert_eq!(s.get("/healthz?probe=1").unwrap().status, 200);
    assert_eq!(s.auth.calls(), 0);
    // `/healthzx` is not under `/healthz`: it is checked, and without a credential denied.
    let r = s.get("/healthzx").unwrap();
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(s.auth.calls(), 1);
}

#[test]
fn callout_has_the_contracted_shape() {
    let p = require_prerequisites!();
    let s = Stack::start(&p).unwrap();
    let req = Request::new("POST", "/api/items?q=1&sort=desc")
        .header("host", "shop.example:8443")
        .header("authorization", "Bearer alice-token")
        .header("cookie", "session=alice-token; theme=dark")
        .header("x-request-id", "req-1")
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .header("tracestate", "vendor=1")
        .header("x-b3-traceid", "80f198ee56343ba864fe8b2a57d3eff7")
        .header("x-b3-spanid", "e457b5a2e4d86bd1")
        .header("x-b3-sampled", "1")
        .header("x-not-forwarded", "secret")
        .header("content-type", "application/json")
        .body(br#"{"item": 1}"#);
    let r = s.send(&req).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let seen: Echoed = r.json().unwrap();
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("POST", "/api/items?q=1&sort=desc")
    );

    let callouts = s.auth.callouts();
    assert_eq!(callouts.len(), 1);
    let c = &callouts[0];
    assert_eq!(c.method, "POST");
    assert_eq!(c.path, "/check/api/items?q=1&sort=desc");
    assert_eq!(c.header("host"), Some("auth.local"), "{c:?}");
    assert_eq!(c.header("x-forwarded-host"), Some("shop.example:8443"));
    assert_eq!(c.header("authorization"), Some("Bearer alice-token"));
    assert_eq!(c.header("cookie"), Some("session=alice-token; theme=dark"));
    for (name, value) in [
        ("x-request-id", "req-1"),
        (
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ),
        ("tracestate", "vendor=1"),
        ("x-b3-traceid", "80f198ee56343ba864fe8b2a57d3eff7"),
        ("x-b3-spanid", "e457b5a2e4d86bd1"),
        ("x-b3-sampled", "1"),
    ] {
        assert_eq!(c.header(name), Some(value), "{name}");
    }
    assert_eq!(c.header("x-auth-source"), Some("mesh-authz"));
    assert_eq!(c.header("x-not-forwarded"), None);
    assert_eq!(
        c.header("content-type"),
        None,
        "the callout carries no body"
    );
    assert!(
        c.header("content-length").is_none_or(|l| l == "0"),
        "callout has a body: {c:?}"
    );
}

#[test]
fn deny_401_passes_challenge_and_body_but_not_other_headers() {
    let p = require_prerequisites!();
    let s = Stack::start(&p).unwrap();
    let r = s.get("/hello").unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate").as_deref(),
        Some("Bearer realm=\"mesh-authz-example\"")
    );
    assert_eq!(r.header("content-type").as_deref(), Some("text/plain"));
    assert_eq!(r.text(), "unauthenticated\n");
    assert_eq!(
        r.header(REASON_HEADER),
        None,
        "a header not in denyHeaders was passed on"
    );

    let r = s
        .send(&Request::get("/hello").bearer("stolen-token"))
        .unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate").as_deref(),
        Some("Bearer error=\"invalid_token\"")
    );
    assert_eq!(r.text(), "invalid token\n");
    assert_eq!(s.auth.calls(), 2);
}

#[test]
fn deny_302_redirects_browsers_to_login() {
    let p = require_prerequisites!();
    let s = Stack::start(&p).unwrap();
    let r = s
        .send(&Request::get("/app/page").header("accept", "text/html,application/xhtml+xml"))
        .unwrap();
    assert_eq!(r.status, 302, "{}", r.text());
    assert_eq!(r.header("location").as_deref(), Some("/login?rd=/app/page"));
    assert_eq!(r.header(REASON_HEADER), None);
}

#[test]
fn deny_403_for_admin_paths_without_the_role() {
    let p = require_prerequisites!();
    let s = Stack::start(&p).unwrap();
    let r = s
        .send(&Request::get("/admin/users").bearer("bob-token"))
        .unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(r.text(), "forbidden\n");
    let r = s
        .send(&Request::get("/admin/users").bearer("alice-token"))
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json::<Echoed>().unwrap().header_all("x-user-id"),
        ["alice"]
    );
}
