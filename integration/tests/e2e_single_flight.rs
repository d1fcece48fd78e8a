//! One callout per key: concurrent identical requests that miss the cache wait on one callout and all
//! get its decision; a client that goes away mid-callout (first requester or a waiter) leaves nothing
//! behind and does not hurt the others.
//!
//! The auth service holds every callout until the whole burst is parked in the filter, as its
//! gauges show, and only then answers: what is asserted does not depend on how fast threads start.

#![cfg(test)]

use mesh_authz_integration::client::{Request, Response};
use mesh_authz_integration::echo::Echoed;
use mesh_authz_integration::require_prerequisites;
use mesh_authz_integration::stack::{Parked, Stack};
use std::io::Write;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

/// How long a burst may take to reach the filter while its callouts are held. The callout
/// timeout is above it, so a held callout never times out before it is released.
const HOLD_LIMIT: Duration = Duration::from_secs(20);
const CALLOUT_TIMEOUT_MS: u32 = 40_000;

fn held_stack(p: &mesh_authz_integration::paths::Prerequisites, workers: u32) -> Stack {
    Stack::builder(p)
        .unwrap()
        .concurrency(workers)
        .config(|c| c["authService"]["timeoutMs"] = CALLOUT_TIMEOUT_MS.into())
        .start()
        .unwrap()
}

/// Sends `requests` with every callout held until the gauges show `expected`, then released.
fn held_burst(
    s: &Stack,
    requests: Vec<Request>,
    expected: impl Fn(Parked) -> bool,
) -> (Parked, Vec<Response>) {
    s.held_burst(requests, HOLD_LIMIT, expected).unwrap()
}

fn alice(n: usize, target: &str) -> Vec<Request> {
    (0..n)
        .map(|_| Request::get(target).bearer("alice-token"))
        .collect()
}

fn assert_all_alice(responses: &[Response]) {
    for r in responses {
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(
            r.json::<Echoed>().unwrap().header("x-user-id"),
            Some("alice")
        );
    }
}

/// How many workers took connections.
fn workers_used(s: &Stack) -> usize {
    let per_worker = s.envoy.connections_per_worker().unwrap();
    per_worker.iter().filter(|c| **c > 0).count()
}

/// Waits for the once-a-second gauges to say no callout is in flight and no request waits.
fn settles(s: &Stack) {
    for name in ["callouts_in_flight", "requests_waiting"] {
        s.envoy
            .wait_for_stat(
                &format!("wasmcustom.mesh_authz_{name}"),
                Duration::from_secs(5),
                |v| v == 0,
            )
            .unwrap();
    }
}

#[test]
fn concurrent_identical_misses_make_one_callout() {
    let p = require_prerequisites!();
    let s = held_stack(&p, 1);
    // 16 identical requests in the filter at once, one callout.
    let one = Parked {
        in_flight: 1,
        waiting: 16,
    };
    let (_, responses) = held_burst(&s, alice(16, "/orders"), |p| p == one);
    assert_all_alice(&responses);
    assert_eq!(s.auth.calls(), 1);
    assert_eq!(
        s.envoy.counter("wasmcustom.mesh_authz_callouts").unwrap(),
        1
    );
    assert_eq!(
        s.envoy.counter("wasmcustom.mesh_authz_allowed").unwrap(),
        16
    );
    settles(&s);
}

#[test]
fn with_two_workers_at_most_one_callout_per_worker() {
    let p = require_prerequisites!();
    let s = held_stack(&p, 2);
    // Every request in the filter, one callout for each worker that took connections.
    let (parked, responses) = held_burst(&s, alice(16, "/orders"), |p| {
        p.waiting == 16 && p.in_flight == workers_used(&s) as u64
    });
    assert_all_alice(&responses);
    assert!(parked.in_flight >= 1);
    assert_eq!(s.auth.calls(), parked.in_flight);
}

#[test]
fn different_keys_are_not_merged() {
    let p = require_prerequisites!();
    let s = held_stack(&p, 1);
    // Two keys in the filter at once, two callouts.
    let two = Parked {
        in_flight: 2,
        waiting: 2,
    };
    let (_, responses) = held_burst(
        &s,
        vec![
            Request::get("/a").bearer("alice-token"),
            Request::get("/a").bearer("bob-token"),
        ],
        |p| p == two,
    );
    let users: Vec<_> = responses
        .iter()
        .map(|r| {
            r.json::<Echoed>()
                .unwrap()
                .header("x-user-id")
                .map(String::from)
        })
        .collect();
    assert_eq!(users, [Some("alice".into()), Some("bob".into())]);
    assert_eq!(s.auth.calls(), 2);
}

#[test]
fn without_the_cache_every_request_is_checked() {
    let p = require_prerequisites!();
    let s = Stack::builder(&p)
        .unwrap()
        .config(|c| {
            c["cache"]["enabled"] = false.into();
            c["authService"]["timeoutMs"] = CALLOUT_TIMEOUT_MS.into();
        })
        .start()
        .unwrap();
    // No coalescing when the cache is off: four requests in the filter, four callouts.
    let four = Parked {
        in_flight: 4,
        waiting: 4,
    };
    let (_, responses) = held_burst(&s, alice(4, "/orders"), |p| p == four);
    assert_all_alice(&responses);
    assert_eq!(s.auth.calls(), 4);
}

/// Opens a connection and sends the request; the caller hangs up by dropping the stream.
fn send_and_stay(s: &Stack, target: &str) -> TcpStream {
    let bytes = Request::get(target)
        .bearer("alice-token")
        .to_bytes("localhost");
    let mut c = TcpStream::connect(s.envoy.listen_addr().unwrap()).unwrap();
    c.write_all(&bytes).unwrap();
    c
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + HOLD_LIMIT;
    while !f() {
        assert!(
            Instant::now() < deadline,
            "{what}: not within {HOLD_LIMIT:?}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn clients_that_leave_mid_callout_leave_nothing_behind() {
    let p = require_prerequisites!();
    let s = held_stack(&p, 1);
    s.auth.set_hung(true);
    // The first requester (whose miss made the callout) goes away, and so does one waiter,
    // both while the callout is held.
    let first = send_and_stay(&s, "/leave");
    wait_until("the first requester's callout", || s.auth.calls() == 1);
    let waiter = send_and_stay(&s, "/leave");
    let addr = s.envoy.listen_addr().unwrap();
    let stayers: Vec<_> = alice(3, "/leave")
        .into_iter()
        .map(|req| thread::spawn(move || req.send(addr).unwrap()))
        .collect();
    let five = Parked {
        in_flight: 1,
        waiting: 5,
    };
    s.wait_parked(HOLD_LIMIT, |p| p == five).unwrap();
    drop(first);
    drop(waiter);
    // Envoy saw both connections close with their request unanswered.
    s.envoy
        .wait_for_stat(
            "http.ingress.downstream_cx_destroy_remote_active_rq",
            HOLD_LIMIT,
            |n| n == 2,
        )
        .unwrap();
    s.auth.set_hung(false);
    let stayers: Vec<_> = stayers.into_iter().map(|h| h.join().unwrap()).collect();
    assert_all_alice(&stayers);
    assert_eq!(
        s.auth.calls(),
        1,
        "the callout went on for those who stayed"
    );
    settles(&s);
    // The decision was cached for the next request, and the VM is healthy.
    assert_all_alice(&[s
        .send(&Request::get("/leave").bearer("alice-token"))
        .unwrap()]);
    assert_eq!(s.auth.calls(), 1);
}

#[test]
fn everyone_waiting_gets_the_same_error_handling() {
    let p = require_prerequisites!();
    let s = held_stack(&p, 1);
    s.auth.state().set_forced_status(Some(500));
    let six = Parked {
        in_flight: 1,
        waiting: 6,
    };
    let (_, responses) = held_burst(&s, alice(6, "/boom"), |p| p == six);
    assert!(
        responses.iter().all(|r| r.status == 503),
        "{:?}",
        responses.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(s.auth.calls(), 1);
    assert_eq!(s.envoy.counter("wasmcustom.mesh_authz_errors").unwrap(), 6);
}
