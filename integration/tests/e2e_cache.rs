//! The decision cache as a client and the auth service see it: one callout for identical
//! requests, TTL expiry, `no-store`, keys that never mix credentials, trace headers outside the key.

#![cfg(test)]

use mesh_authz_integration::client::Request;
use mesh_authz_integration::echo::Echoed;
use mesh_authz_integration::require_prerequisites;
use mesh_authz_integration::stack::Stack;
use std::time::{Duration, Instant};

fn user_of(s: &Stack, req: &Request) -> String {
    let r = s.send(req).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    r.json::<Echoed>()
        .unwrap()
        .header("x-user-id")
        .unwrap_or("<none>")
        .to_string()
}

#[test]
fn identical_requests_make_one_callout() {
    let p = require_prerequisites!();
    let s = Stack::start(&p).unwrap();
    for _ in 0..10 {
        assert_eq!(
            user_of(&s, &Request::get("/orders?page=2").bearer("alice-token")),
            "alice"
        );
    }
    assert_eq!(s.auth.calls(), 1);
    // Another path is another decision.
    assert_eq!(
        user_of(&s, &Request::get("/orders?page=3").bearer("alice-token")),
        "alice"
    );
    assert_eq!(s.auth.calls(), 2);
}

#[test]
fn denials_401_403_are_cached_other_denials_are_not() {
    let p = require_prerequisites!();
    let s = Stack::start(&p).unwrap();
    for _ in 0..3 {
        let r = s.send(&Request::get("/x").bearer("stolen-token")).unwrap();
        assert_eq!(r.status, 401);
        // The cached denial still carries the service's challenge.
        assert_eq!(
            r.header("www-authenticate").as_deref(),
            Some("Bearer error=\"invalid_token\"")
        );
    }
    assert_eq!(s.auth.calls(), 1, "401 not cached");
    for _ in 0..3 {
        assert_eq!(
            s.send(&Request::get("/admin").bearer("bob-token"))
                .unwrap()
                .status,
            403
        );
    }
    assert_eq!(s.auth.calls(), 2, "403 not cached");
    for _ in 0..3 {
        let r = s
            .send(&Request::get("/page").header("accept", "text/html"))
            .unwrap();
        assert_eq!(r.status, 302);
    }
    assert_eq!(s.auth.calls(), 5, "a 302 was cached");
}

/// Requests `req` every 100 ms until the auth service sees another callout, or fails
/// `limit` after `since`; returns how long after `since` the request that caused it ended.
fn until_next_callout(s: &Stack, req: &Request, since: Instant, limit: Duration) -> Duration {
    let before = s.auth.calls();
    loop {
        assert_eq!(user_of(s, req), "alice");
        if s.auth.calls() > before {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < limit,
            "no callout within {limit:?}: the entry never expired"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn service_max_age_expires_the_entry() {
    // Seconds: long enough for the second request to land inside it on a loaded machine. The
    // expiry arithmetic is the core's, tested on a fake clock; this is the wiring.
    const MAX_AGE: u64 = 3;
    let p = require_prerequisites!();
    let s = Stack::start(&p).unwrap();
    s.auth
        .set_extra_headers(&[("cache-control", &format!("max-age={MAX_AGE}"))]);
    let req = Request::get("/ttl").bearer("alice-token");
    // The entry is stored after this instant, so it cannot expire before MAX_AGE from here.
    let sent = Instant::now();
    assert_eq!(user_of(&s, &req), "alice");
    assert_eq!(user_of(&s, &req), "alice");
    assert_eq!(
        s.auth.calls(),
        1,
        "second request inside max-age was not a hit"
    );
    let expired = until_next_callout(&s, &req, sent, Duration::from_secs(MAX_AGE + 10));
    assert!(
        expired >= Duration::from_secs(MAX_AGE),
        "expired after {expired:?}, before max-age"
    );
}

#[test]
fn no_store_and_no_cache_are_honoured() {
    let p = require_prerequisites!();
    let s = Stack::start(&p).unwrap();
    for (directive, calls) in [("no-store", 3), ("no-cache", 6), ("private, no-store", 9)] {
        s.auth.set_extra_headers(&[("cache-control", directive)]);
        for _ in 0..3 {
            assert_eq!(
                user_of(&s, &Request::get("/fresh").bearer("alice-token")),
                "alice"
            );
        }
        assert_eq!(s.auth.calls(), calls, "{directive}");
    }
}

#[test]
fn two_credentials_never_share_a_decision() {
    let p = require_prerequisites!();
    let s = Stack::start(&p).unwrap();
    let alice = Request::get("/same").bearer("alice-token");
    let bob = Request::get("/same").bearer("bob-token");
    let alice_cookie = Request::get("/same").header("cookie", "session=alice-token");
    let bob_cookie = Request::get("/same").header("cookie", "session=bob-token");
    for _ in 0..3 {
        assert_eq!(user_of(&s, &alice), "alice");
        assert_eq!(user_of(&s, &bob), "bob");
        assert_eq!(user_of(&s, &alice_cookie), "alice");
        assert_eq!(user_of(&s, &bob_cookie), "bob");
    }
    assert_eq!(s.auth.calls(), 4);
    // A denied credential does not poison the allowed one's entry, nor the other way round.
    assert_eq!(
        s.send(&Request::get("/same").bearer("stolen-token"))
            .unwrap()
            .status,
        401
    );
    assert_eq!(user_of(&s, &alice), "alice");
    assert_eq!(s.send(&Request::get("/same")).unwrap().status, 401);
}

#[test]
fn trace_headers_stay_out_of_the_key() {
    let p = require_prerequisites!();
    let s = Stack::start(&p).unwrap();
    for i in 0..5 {
        let req = Request::get("/traced")
            .bearer("bob-token")
            .header("x-request-id", &format!("req-{i}"))
            .header(
                "traceparent",
                &format!("00-4bf92f3577b34da6a3ce929d0e0e473{i}-00f067aa0ba902b7-01"),
            );
        assert_eq!(user_of(&s, &req), "bob");
    }
    assert_eq!(s.auth.calls(), 1);
    assert_eq!(s.auth.callouts()[0].header("x-request-id"), Some("req-0"));
}

#[test]
fn host_is_part_of_the_key() {
    let p = require_prerequisites!();
    let s = Stack::start(&p).unwrap();
    for host in ["a.example", "b.example", "a.example"] {
        assert_eq!(
            user_of(
                &s,
                &Request::get("/h").header("host", host).bearer("bob-token")
            ),
            "bob"
        );
    }
    assert_eq!(s.auth.calls(), 2);
}

#[test]
fn max_ttl_caps_the_service_max_age() {
    const MAX_TTL: u64 = 3;
    let p = require_prerequisites!();
    let s = Stack::builder(&p)
        .unwrap()
        .config(|c| {
            c["cache"]["allowTtlSeconds"] = MAX_TTL.into();
            c["cache"]["denyTtlSeconds"] = MAX_TTL.into();
            c["cache"]["maxTtlSeconds"] = MAX_TTL.into();
        })
        .start()
        .unwrap();
    s.auth
        .set_extra_headers(&[("cache-control", "max-age=300")]);
    let req = Request::get("/capped").bearer("alice-token");
    let sent = Instant::now();
    assert_eq!(user_of(&s, &req), "alice");
    assert_eq!(user_of(&s, &req), "alice");
    assert_eq!(s.auth.calls(), 1);
    let expired = until_next_callout(&s, &req, sent, Duration::from_secs(MAX_TTL + 10));
    assert!(
        expired >= Duration::from_secs(MAX_TTL),
        "expired after {expired:?}, before maxTtlSeconds"
    );
}
