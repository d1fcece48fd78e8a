//! An answer made for one client is never given to another. Requests without a credential share one
//! cache key, so a 401 that sets a fresh cookie (a pre-session, a CSRF nonce) must not be served from
//! the cache or handed to the other requests waiting on the same callout: that would be session
//! fixation. The same holds for `Cache-Control: private`, `no-store` and `no-cache`, however the
//! header is written.

#![cfg(test)]

use mesh_authz_integration::client::{read_response, Request, Response};
use mesh_authz_integration::echo::Echoed;
use mesh_authz_integration::paths::Prerequisites;
use mesh_authz_integration::require_prerequisites;
use mesh_authz_integration::stack::{Parked, Stack};
use std::collections::BTreeSet;
use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

/// How long a burst may take to reach the filter while its callout is held; the callout timeout
/// is above it.
const HOLD_LIMIT: Duration = Duration::from_secs(20);
const CALLOUT_TIMEOUT_MS: u32 = 40_000;

fn upstream_requests(s: &Stack) -> u64 {
    s.envoy.counter("cluster.echo.upstream_rq_total").unwrap()
}

fn callouts_counted(s: &Stack) -> u64 {
    s.envoy.counter("wasmcustom.mesh_authz_callouts").unwrap()
}

/// A stack whose auth service sets a new `pre_session=<n>` cookie on every answer.
fn cookie_stack(p: &Prerequisites) -> Stack {
    let s = Stack::builder(p)
        .unwrap()
        .config(|c| c["authService"]["timeoutMs"] = CALLOUT_TIMEOUT_MS.into())
        .start()
        .unwrap();
    s.auth.set_fresh_cookie(true);
    s
}

/// An anonymous API client's 401 and the cookie it was given.
fn anonymous_401(r: &Response) -> String {
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(r.text().contains("unauthenticated"), "{}", r.text());
    r.header("set-cookie").expect("the service's cookie")
}

#[test]
fn sequential_anonymous_clients_each_get_their_own_cookie() {
    let p = require_prerequisites!();
    let s = cookie_stack(&p);
    let first = anonymous_401(&s.get("/account").unwrap());
    let second = anonymous_401(&s.get("/account").unwrap());
    assert!(first.starts_with("pre_session=1;"), "{first}");
    assert!(
        second.starts_with("pre_session=2;"),
        "the second client got {second}, not its own cookie (the first was {first})"
    );
    assert_eq!(
        s.auth.calls(),
        2,
        "the 401 with a cookie was served from cache"
    );
    assert_eq!(upstream_requests(&s), 0);
}

#[test]
fn concurrent_anonymous_clients_each_get_their_own_cookie() {
    const N: u64 = 8;
    let p = require_prerequisites!();
    let s = cookie_stack(&p);
    // The N requests miss together and wait on one callout (held until they all have).
    let together = Parked {
        in_flight: 1,
        waiting: N,
    };
    let requests = (0..N).map(|_| Request::get("/account")).collect();
    let (_, responses) = s
        .held_burst(requests, HOLD_LIMIT, |p| p == together)
        .unwrap();
    let cookies: BTreeSet<String> = responses.iter().map(anonymous_401).collect();
    assert_eq!(
        cookies.len(),
        N as usize,
        "clients were handed another's cookie: {cookies:?}"
    );
    assert_eq!(s.auth.calls(), N, "one callout per client");
    assert_eq!(callouts_counted(&s), N, "every callout is counted");
    assert_eq!(upstream_requests(&s), 0);
}

#[test]
fn concurrent_requests_still_share_an_answer_that_is_the_same_for_everyone() {
    let p = require_prerequisites!();
    let s = Stack::builder(&p)
        .unwrap()
        .config(|c| c["authService"]["timeoutMs"] = CALLOUT_TIMEOUT_MS.into())
        .start()
        .unwrap();
    // A 302 is not cached (its status), but it sets no cookie: single flight still shares it.
    let together = Parked {
        in_flight: 1,
        waiting: 8,
    };
    let requests = (0..8)
        .map(|_| Request::get("/page").header("accept", "text/html"))
        .collect();
    let (_, responses) = s
        .held_burst(requests, HOLD_LIMIT, |p| p == together)
        .unwrap();
    for r in responses {
        assert_eq!(r.status, 302);
        assert_eq!(r.header("location").as_deref(), Some("/login?rd=/page"));
    }
    assert_eq!(s.auth.calls(), 1);
}

#[test]
fn an_allow_that_sets_a_cookie_is_not_cached() {
    let p = require_prerequisites!();
    let s = cookie_stack(&p);
    for _ in 0..2 {
        let r = s.send(&Request::get("/me").bearer("alice-token")).unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("set-cookie"), None, "an allow's headers stay in");
        let seen: Echoed = r.json().unwrap();
        assert_eq!(seen.header("x-user-id"), Some("alice"));
    }
    assert_eq!(s.auth.calls(), 2, "an answer with set-cookie was cached");
    assert_eq!(upstream_requests(&s), 2);
}

#[test]
fn a_private_answer_is_not_cached() {
    let p = require_prerequisites!();
    let s = Stack::start(&p).unwrap();
    s.auth
        .set_extra_headers(&[("cache-control", "private, max-age=60")]);
    for _ in 0..2 {
        let r = s.send(&Request::get("/me").bearer("alice-token")).unwrap();
        assert_eq!(r.status, 200);
    }
    assert_eq!(s.auth.calls(), 2, "a private allow was cached");
    for _ in 0..2 {
        assert_eq!(s.get("/me").unwrap().status, 401);
    }
    assert_eq!(s.auth.calls(), 4, "a private 401 was cached");
}

#[test]
fn a_non_utf8_cache_control_value_does_not_hide_no_store() {
    let p = require_prerequisites!();
    let s = Stack::start(&p).unwrap();
    s.auth
        .set_raw_headers(&[("cache-control", b"ext=\"\xe9t\xe9\", no-store")]);
    for _ in 0..2 {
        let r = s.send(&Request::get("/me").bearer("alice-token")).unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
    }
    assert_eq!(
        s.auth.calls(),
        2,
        "no-store beside a non-UTF-8 byte was ignored and the allow cached"
    );
}

/// Headers first; the body only after the 401 came back, over the same connection.
#[test]
fn a_cached_401_followed_by_a_body_arriving_later_never_reaches_the_upstream() {
    let p = require_prerequisites!();
    let s = Stack::start(&p).unwrap();
    let body = b"amount=1000000&to=mallory";
    // Cache the 401 for an anonymous POST /pay.
    let r = s.send(&Request::new("POST", "/pay").body(body)).unwrap();
    assert_eq!(r.status, 401);
    let head = format!(
        "POST /pay HTTP/1.1\r\nhost: localhost\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let mut c = TcpStream::connect(s.envoy.listen_addr().unwrap()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(head.as_bytes()).unwrap();
    // The 401 comes from the cache before any body byte is sent (it is read whole by its own
    // framing, with the connection still open).
    let r = read_response(&mut c, "envoy").unwrap();
    // Envoy may already have closed the connection: a failed write is fine.
    let _ = c.write_all(body);
    let _ = c.flush();
    assert_eq!((r.status, r.text().as_str()), (401, "unauthenticated\n"));
    assert_eq!(s.auth.calls(), 1, "the second 401 came from the cache");
    assert_eq!(upstream_requests(&s), 0, "nothing reached the upstream");
    assert_eq!(
        s.envoy.counter("cluster.echo.upstream_cx_total").unwrap(),
        0,
        "no connection to the upstream"
    );
}
