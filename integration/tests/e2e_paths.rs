//! Path confusion: a bypass prefix or a callout must judge the path the upstream will serve.
//! Every attack runs against Envoy with its edge hardening (`normalize_path`, `merge_slashes`,
//! escaped slashes kept, underscores rejected: the checked-in `envoy.yaml`) and without it, since
//! the filter must be safe on its own. Also: CORS preflights, and only they, skip the callout.

#![cfg(test)]

use mesh_authz_integration::client::{Request, Response};
use mesh_authz_integration::echo::Echoed;
use mesh_authz_integration::paths::Prerequisites;
use mesh_authz_integration::require_prerequisites;
use mesh_authz_integration::stack::Stack;

/// Each resolves, for some upstream, to a path outside `/healthz` (or above the root).
const DOT_ATTACKS: [&str; 13] = [
    "/healthz/../admin/users",
    "/healthz/%2e%2e/admin",
    "/healthz/%2E%2e/admin",
    "/healthz/.%2e/admin",
    "/healthz/%2e./admin",
    "/healthz/..;/admin",
    "/healthz/..%2fadmin",
    "/healthz/..%2Fadmin",
    "/healthz/..%5cadmin",
    "/healthz/%252e%252e/admin",
    "/healthz//../admin",
    "/healthz\\..\\admin",
    "/../metrics",
];

/// The checked-in stack with only a path bypass (the same rule the old module understood, so that
/// these tests also run, and fail, against it).
fn stack(p: &Prerequisites, hardened: bool) -> Stack {
    with_bypass(p, hardened, serde_json::json!([{"pathPrefix": "/healthz"}]))
}

fn with_bypass(p: &Prerequisites, hardened: bool, rules: serde_json::Value) -> Stack {
    Stack::builder(p)
        .unwrap()
        .hardened(hardened)
        .config(|c| c["bypass"] = rules)
        .start()
        .unwrap()
}

fn counter(s: &Stack, name: &str) -> u64 {
    s.envoy.counter(name).unwrap()
}

/// Requests Envoy sent to the echo upstream.
fn upstream_requests(s: &Stack) -> u64 {
    counter(s, "cluster.echo.upstream_rq_total")
}

fn what(hardened: bool, target: &str, r: &Response) -> String {
    format!("hardened={hardened} {target}: {} {:?}", r.status, r.text())
}

#[test]
fn dot_segments_never_reach_the_upstream_nor_bypass() {
    let p = require_prerequisites!();
    for hardened in [false, true] {
        let s = stack(&p, hardened);
        let mut served_inside_prefix = 0;
        for target in DOT_ATTACKS {
            s.auth.reset();
            let before = upstream_requests(&s);
            let r = s.send(&Request::get(target)).unwrap();
            let w = what(hardened, target, &r);
            if hardened {
                // Envoy resolves the dots first; the filter then judges the resolved path, the
                // one the upstream gets. `/healthz//../admin` resolves to `/healthz/admin` (the
                // `..` takes the empty segment): a bypass there serves what the rule names.
                if r.status == 200 {
                    let seen: Echoed = r.json().unwrap();
                    assert!(
                        seen.path.starts_with("/healthz/") && !seen.path.contains('.'),
                        "upstream served {} ({w})",
                        seen.path
                    );
                    served_inside_prefix += 1;
                } else {
                    assert!(matches!(r.status, 400 | 401), "{w}");
                    assert_eq!(upstream_requests(&s), before, "upstream reached: {w}");
                }
                for c in s.auth.callouts() {
                    assert!(
                        !c.path.starts_with("/check/healthz") && !c.path.contains(".."),
                        "callout for a path the upstream would not serve: {} ({w})",
                        c.path
                    );
                }
            } else {
                assert_eq!(r.status, 400, "{w}");
                assert_eq!(r.text(), "bad request\n", "{w}");
                assert_eq!(s.auth.calls(), 0, "callout made: {w}");
                assert_eq!(upstream_requests(&s), 0, "upstream reached: {w}");
            }
        }
        assert_eq!(
            counter(&s, "wasmcustom.mesh_authz_bypassed"),
            served_inside_prefix,
            "hardened={hardened}"
        );
        if !hardened {
            assert_eq!(
                counter(&s, "wasmcustom.mesh_authz_bad_paths"),
                DOT_ATTACKS.len() as u64
            );
            assert!(s.envoy.wait_for_log(
                "answering 400: request path has a '.' or '..' segment",
                std::time::Duration::from_secs(5)
            ));
            assert!(
                !s.envoy.log_text().contains("admin/users"),
                "the refused path was logged"
            );
        }
    }
}

#[test]
fn a_callout_is_about_the_path_the_upstream_serves() {
    let p = require_prerequisites!();
    // bob is no admin: whatever path reaches the upstream, the auth service must have judged it.
    let target = "/public/../admin/users";
    for hardened in [false, true] {
        let s = stack(&p, hardened);
        let r = s.send(&Request::get(target).bearer("bob-token")).unwrap();
        let w = what(hardened, target, &r);
        assert_eq!(upstream_requests(&s), 0, "{w}");
        let paths: Vec<String> = s.auth.callouts().into_iter().map(|c| c.path).collect();
        if hardened {
            assert_eq!(r.status, 403, "{w}");
            assert_eq!(paths, ["/check/admin/users"], "{w}");
        } else {
            assert_eq!(r.status, 400, "{w}");
            assert!(paths.is_empty(), "{w}: {paths:?}");
        }
    }
}

#[test]
fn escaped_slashes_are_allowed_and_carried_as_the_upstream_gets_them() {
    let p = require_prerequisites!();
    let target = "/api/v4/projects/group%2Fproject/issues?state=open";
    for hardened in [false, true] {
        let s = stack(&p, hardened);
        let r = s.send(&Request::get(target).bearer("alice-token")).unwrap();
        let w = what(hardened, target, &r);
        assert_eq!(r.status, 200, "{w}");
        let seen: Echoed = r.json().unwrap();
        assert_eq!(seen.path, target, "{w}");
        assert_eq!(seen.header("x-user-id"), Some("alice"), "{w}");
        let paths: Vec<String> = s.auth.callouts().into_iter().map(|c| c.path).collect();
        assert_eq!(paths, [format!("/check{target}")], "{w}");
    }
}

#[test]
fn escaped_separators_and_parameters_never_bypass() {
    let p = require_prerequisites!();
    let targets = [
        "/healthz%2fadmin",
        "/healthz%2Fadmin",
        "/healthz%5cadmin",
        "/healthz/x%2fy",
        "/healthz%5c..",
        "/healthz;x",
        "/healthz;x/admin",
    ];
    for hardened in [false, true] {
        let s = stack(&p, hardened);
        for target in targets {
            let r = s.send(&Request::get(target)).unwrap();
            let w = what(hardened, target, &r);
            assert!(matches!(r.status, 400 | 401), "{w}");
            assert_eq!(upstream_requests(&s), 0, "upstream reached: {w}");
        }
        assert_eq!(
            counter(&s, "wasmcustom.mesh_authz_bypassed"),
            0,
            "hardened={hardened}"
        );
        // A parameter is allowed: `/healthz;x` is checked like any path, and carried as sent.
        s.auth.reset();
        let r = s
            .send(&Request::get("/healthz;x").bearer("alice-token"))
            .unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        let paths: Vec<String> = s.auth.callouts().into_iter().map(|c| c.path).collect();
        assert_eq!(paths, ["/check/healthz;x"], "hardened={hardened}");
        // The plain prefix still bypasses.
        assert_eq!(s.get("/healthz/live").unwrap().status, 200);
        assert_eq!(counter(&s, "wasmcustom.mesh_authz_bypassed"), 1);
    }
}

#[test]
fn only_cors_preflights_skip_the_callout() {
    let p = require_prerequisites!();
    // The checked-in configuration: {"corsPreflight": true}.
    let s = Stack::start(&p).unwrap();
    let preflight = Request::new("OPTIONS", "/api/items")
        .header("origin", "https://app.example")
        .header("access-control-request-method", "DELETE");
    let r = s.send(&preflight).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json::<Echoed>().unwrap().method, "OPTIONS");
    assert_eq!(s.auth.calls(), 0, "a preflight made a callout");
    assert_eq!(upstream_requests(&s), 1);

    // Distinct paths: the cache would otherwise answer the later ones without a callout.
    let not_preflights = [
        Request::new("OPTIONS", "/api/items/0"),
        Request::new("OPTIONS", "/api/items/1").header("origin", "https://app.example"),
        Request::new("OPTIONS", "/api/items/2").header("access-control-request-method", "DELETE"),
        Request::new("OPTIONS", "/api/items/3")
            .header("x-http-method-override", "DELETE")
            .header("content-type", "application/json")
            .body(br#"{"id": 1}"#),
    ];
    for (i, req) in not_preflights.iter().enumerate() {
        s.auth.reset();
        let r = s.send(req).unwrap();
        assert_eq!(r.status, 401, "case {i}: {}", r.text());
        let callouts = s.auth.callouts();
        assert_eq!(callouts.len(), 1, "case {i}");
        assert_eq!(callouts[0].method, "OPTIONS", "case {i}");
        assert_eq!(upstream_requests(&s), 1, "case {i} reached the upstream");
    }
    assert_eq!(counter(&s, "wasmcustom.mesh_authz_bypassed"), 1);
}

#[test]
fn a_rule_for_every_options_still_works_but_is_warned_about() {
    let p = require_prerequisites!();
    let s = with_bypass(&p, true, serde_json::json!([{"method": "OPTIONS"}]));
    assert!(
        s.envoy.wait_for_log(
            "bypass[0]: method OPTIONS lets every OPTIONS request through unchecked",
            std::time::Duration::from_secs(5)
        ),
        "{}",
        s.envoy.log_text()
    );
    let r = s.send(&Request::new("OPTIONS", "/api/items")).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(s.auth.calls(), 0);
}
