//! A client cannot pass itself off under another spelling of an identity header. Envoy keeps
//! header names with `_` by default (`headers_with_underscores_action: ALLOW`, set explicitly here so
//! the test holds whatever the checked-in file says), and CGI-style upstreams read `x_user_id`,
//! `X_User_Id` and `x-user-id` as the same `HTTP_X_USER_ID`. So every spelling is stripped, from the
//! request headers (allowed and bypassed requests) and from HTTP/1.1 request trailers.

#![cfg(test)]

use mesh_authz_integration::client::Request;
use mesh_authz_integration::echo::Echoed;
use mesh_authz_integration::envoy::overrides;
use mesh_authz_integration::paths::Prerequisites;
use mesh_authz_integration::require_prerequisites;
use mesh_authz_integration::stack::Stack;

const IDENTITY: [&str; 3] = ["x-user-id", "x-user-roles", "x-tenant-id"];

/// The name a CGI-style server gives a header: `X_User_Id` and `x-user-id` are both `x-user-id`.
fn cgi(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

/// Forged identity under spellings other than the canonical one.
const FORGED: [(&str, &str); 5] = [
    ("x_user_id", "mallory"),
    ("X_User_Id", "eve"),
    ("x-user_id", "oscar"),
    ("X_TENANT_ID", "evil"),
    ("x-user_roles", "admin,root"),
];

fn forged(mut req: Request) -> Request {
    for (name, value) in FORGED {
        req = req.header(name, value);
    }
    req
}

/// Every `(name, value)` among `pairs` that a CGI-style server would read as an identity header.
fn identity_spellings(pairs: &[(String, String)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .filter(|(n, _)| IDENTITY.contains(&cgi(n).as_str()))
        .cloned()
        .collect()
}

/// Envoy letting underscore names through (its default, whatever envoy.yaml says), and HTTP/1.1
/// trailers on when `trailers`.
fn stack(p: &Prerequisites, trailers: bool) -> Stack {
    let mut b = Stack::builder(p)
        .unwrap()
        .envoy_patch(overrides::allow_underscore_headers);
    if trailers {
        b = b.envoy_patch(overrides::enable_http1_trailers);
    }
    b.start().unwrap()
}

#[test]
fn every_spelling_is_stripped_and_only_the_filter_sets_identity() {
    let p = require_prerequisites!();
    let s = stack(&p, false);
    let r = s
        .send(&forged(Request::get("/data").bearer("alice-token")))
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let seen: Echoed = r.json().unwrap();
    let mut got = identity_spellings(&seen.headers);
    got.sort();
    assert_eq!(
        got,
        [
            ("x-tenant-id".to_string(), "acme".to_string()),
            ("x-user-id".into(), "alice".into()),
            ("x-user-roles".into(), "admin".into()),
        ],
        "the upstream saw a client-sent spelling: {seen:?}"
    );
    // The auth service never sees them either: the strip comes before the callout.
    let callouts = s.auth.callouts();
    assert_eq!(callouts.len(), 1);
    assert!(
        identity_spellings(&callouts[0].headers).is_empty(),
        "{:?}",
        callouts[0].headers
    );
}

#[test]
fn every_spelling_is_stripped_on_bypassed_requests() {
    let p = require_prerequisites!();
    let s = stack(&p, false);
    for req in [
        forged(Request::get("/healthz")),
        forged(
            Request::new("OPTIONS", "/anything")
                .header("origin", "https://app.example")
                .header("access-control-request-method", "GET"),
        ),
    ] {
        let r = s.send(&req).unwrap();
        assert_eq!(r.status, 200, "{} {}: {}", req.method, req.target, r.text());
        let seen: Echoed = r.json().unwrap();
        assert_eq!(
            identity_spellings(&seen.headers),
            [],
            "forged through {}: {seen:?}",
            req.target
        );
    }
    // A harmless underscore header still passes: only identity spellings are removed.
    let r = s
        .send(&forged(Request::get("/healthz")).header("x_other", "kept"))
        .unwrap();
    assert_eq!(r.json::<Echoed>().unwrap().header("x_other"), Some("kept"));
    assert_eq!(s.auth.calls(), 0, "bypassed requests made a callout");
}

#[test]
fn identity_trailers_are_stripped() {
    let p = require_prerequisites!();
    let s = stack(&p, true);
    let with_trailers = |req: Request| {
        req.body(b"payload")
            .trailer("x-user-id", "mallory")
            .trailer("x_user_id", "eve")
            .trailer("X-Tenant_Id", "evil")
            .trailer("x-checksum", "abc")
    };
    // The first request waits on its callout (trailers held, then resumed); the second is a cache
    // hit (trailers go on at once); the third is bypassed.
    for (target, bearer, user) in [
        ("/upload", true, Some("alice")),
        ("/upload", true, Some("alice")),
        ("/healthz", false, None),
    ] {
        let mut req = Request::new("POST", target);
        if bearer {
            req = req.bearer("alice-token");
        }
        let r = s.send(&with_trailers(req)).unwrap();
        assert_eq!(r.status, 200, "{target}: {}", r.text());
        let seen: Echoed = r.json().unwrap();
        assert_eq!(seen.body_len, 7, "{target}: {seen:?}");
        // Trailers do reach the upstream (so the checks below can fail)...
        assert_eq!(
            seen.trailer_all("x-checksum"),
            ["abc"],
            "{target}: {seen:?}"
        );
        // ...but no identity trailer, under any spelling.
        assert_eq!(
            identity_spellings(&seen.trailers),
            [],
            "{target}: identity in trailers: {seen:?}"
        );
        assert_eq!(seen.header("x-user-id"), user, "{target}: {seen:?}");
    }
    assert_eq!(s.auth.calls(), 1);
}
