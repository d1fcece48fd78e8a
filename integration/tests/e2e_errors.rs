//! The auth service failing (closed port, slower than `timeoutMs`, answering 500) under
//! `onError` deny and allow; forwarded headers that are not UTF-8 checked without harming the VM.

#![cfg(test)]

use mesh_authz_integration::client::Request;
use mesh_authz_integration::echo::Echoed;
use mesh_authz_integration::require_prerequisites;
use mesh_authz_integration::stack::{closed_port, Stack, StackBuilder};
use std::time::{Duration, Instant};

const UNAVAILABLE: &str = "authorization service unavailable\n";

#[derive(Debug, Clone, Copy)]
enum Failure {
    Down,
    Slow,
    Status500,
}

fn stack(builder: StackBuilder, failure: Failure) -> Stack {
    let builder = match failure {
        Failure::Down => builder.auth_port(closed_port().unwrap()),
        _ => builder,
    };
    let s = builder.start().unwrap();
    match failure {
        Failure::Down => {}
        // Reads the callout and never answers (until the stack goes), so only timeoutMs (200 in
        // the checked-in config) can end the request, however loaded the machine is.
        Failure::Slow => s.auth.set_hung(true),
        Failure::Status500 => s.auth.set_forced_status(Some(500)),
    }
    s
}

fn request() -> Request {
    Request::get("/err")
        .bearer("alice-token")
        .header("x-user-id", "mallory")
}

fn check_deny(failure: Failure) {
    let p = require_prerequisites!();
    let s = stack(Stack::builder(&p).unwrap(), failure);
    for _ in 0..2 {
        let started = Instant::now();
        let r = s.send(&request()).unwrap();
        assert_eq!(r.status, 503, "{failure:?}: {}", r.text());
        assert_eq!(r.text(), UNAVAILABLE, "{failure:?}");
        // Far above timeoutMs and below the client's own 10 s: without timeoutMs the hung
        // service would hold the request until the client gives up (an error here).
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{failure:?}: timeoutMs not applied"
        );
    }
    match failure {
        // Errors are never cached: each request asked again.
        Failure::Status500 | Failure::Slow => assert_eq!(s.auth.calls(), 2, "{failure:?}"),
        Failure::Down => assert_eq!(s.auth.calls(), 0),
    }
    assert_eq!(
        s.envoy.counter("wasmcustom.mesh_authz_errors").unwrap(),
        2,
        "{failure:?}"
    );
}

fn check_allow(failure: Failure) {
    let p = require_prerequisites!();
    let builder = Stack::builder(&p)
        .unwrap()
        .config(|c| c["onError"] = serde_json::json!({"mode": "allow"}));
    let s = stack(builder, failure);
    for _ in 0..2 {
        let r = s.send(&request()).unwrap();
        assert_eq!(r.status, 200, "{failure:?}: {}", r.text());
        let seen: Echoed = r.json().unwrap();
        for name in ["x-user-id", "x-user-roles", "x-tenant-id"] {
            assert!(
                seen.header_all(name).is_empty(),
                "{failure:?}: {name} reached the upstream: {seen:?}"
            );
        }
    }
    assert_eq!(
        s.envoy.counter("wasmcustom.mesh_authz_errors").unwrap(),
        2,
        "{failure:?}"
    );
}

#[test]
fn service_down_deny() {
    check_deny(Failure::Down);
}

#[test]
fn service_down_allow() {
    check_allow(Failure::Down);
}

#[test]
fn service_slow_deny() {
    check_deny(Failure::Slow);
}

#[test]
fn service_slow_allow() {
    check_allow(Failure::Slow);
}

#[test]
fn service_500_deny() {
    check_deny(Failure::Status500);
}

#[test]
fn service_500_allow() {
    check_allow(Failure::Status500);
}

#[test]
fn custom_error_status() {
    let p = require_prerequisites!();
    let b = Stack::builder(&p)
        .unwrap()
        .config(|c| c["onError"]["status"] = 502.into());
    let s = stack(b, Failure::Status500);
    let r = s.send(&request()).unwrap();
    assert_eq!((r.status, r.text().as_str()), (502, UNAVAILABLE));
}

#[test]
fn non_utf8_forwarded_headers_are_checked_and_the_vm_lives_on() {
    let p = require_prerequisites!();
    let s = Stack::start(&p).unwrap();
    for (name, value) in [
        (&b"cookie"[..], &b"session=\xff\xfe-token"[..]),
        (&b"authorization"[..], &b"Bearer \xc3\x28"[..]),
    ] {
        // Forwarded as bytes (e2e_bytes): the example service finds no credential it can read.
        let r = s
            .send(&Request::get("/bytes").raw_header(name, value))
            .unwrap();
        assert_eq!(
            r.status,
            401,
            "{}: {}",
            String::from_utf8_lossy(name),
            r.text()
        );
        // The same VM still serves a normal request.
        let r = s
            .send(&Request::get("/bytes").bearer("alice-token"))
            .unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(
            r.json::<Echoed>().unwrap().header("x-user-id"),
            Some("alice")
        );
    }
    // Each odd request was one callout; alice's second request was a cache hit.
    assert_eq!(s.auth.calls(), 3);
    let log = s.envoy.log_text();
    assert!(!log.contains("panicked"), "the module panicked:\n{log}");
    assert_eq!(s.envoy.counter("wasm.mesh_authz.vm_reload").unwrap(), 0);
}
