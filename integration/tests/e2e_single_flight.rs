//! One callout per key: concurrent identical requests that miss the cache wait on one callout and all
//! get its decision; a client that goes away mid-callout (first requester or a waiter) leaves nothing
//! behind and does not hurt the others.

#![cfg(test)]

use mesh_authz_integration::client::{Request, Response};
use mesh_authz_integration::echo::Echoed;
use mesh_authz_integration::require_prerequisites;
use mesh_authz_integration::stack::Stack;
use std::io::Write;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

const SLOW: Duration = Duration::from_millis(400);

fn slow_stack(p: &mesh_authz_integration::paths::Prerequisites, workers: u32) -> Stack {
    let s = Stack::builder(p)
        .unwrap()
        .concurrency(workers)
        .config(|c| c["authService"]["timeoutMs"] = 5000.into())
        .start()
        .unwrap();
    s.auth.state().set_latency(SLOW);
    s
}

/// Sends `n` identical requests at once, each on its own connection.
fn burst(s: &Stack, n: usize, target: &str) -> Vec<Response> {
    let addr = s.envoy.listen_addr().unwrap();
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let req = Request::get(target).bearer("alice-token");
            thread::spawn(move || req.send(addr).unwrap())
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
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
fn settles(s: &Stack) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let st = s.envoy.stats().unwrap();
        let g = |n: &str| st.get(&format!("wasmcustom.mesh_authz_{n}")).copied();
        if g("callouts_in_flight") == Some(0) && g("requests_waiting") == Some(0) {
            return true;
        }
        thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn concurrent_identical_misses_make_one_callout() {
    let p = require_prerequisites!();
    let s = slow_stack(&p, 1);
    let responses = burst(&s, 16, "/orders");
    assert_all_alice(&responses);
    assert_eq!(
        s.auth.calls(),
        1,
        "16 concurrent identical requests, one callout"
    );
    assert_eq!(
        s.envoy.counter("wasmcustom.mesh_authz_callouts").unwrap(),
        1
    );
    assert_eq!(
        s.envoy.counter("wasmcustom.mesh_authz_allowed").unwrap(),
        16
    );
    assert!(settles(&s), "flights and waiters back to zero");
}

#[test]
fn with_two_workers_at_most_one_callout_per_worker() {
    let p = require_prerequisites!();
    let s = slow_stack(&p, 2);
    let responses = burst(&s, 16, "/orders");
    assert_all_alice(&responses);
    let used = workers_used(&s);
    assert!(used >= 1);
    assert_eq!(
        s.auth.calls() as usize,
        used,
        "one callout per worker that took connections"
    );
}

#[test]
fn different_keys_are_not_merged() {
    let p = require_prerequisites!();
    let s = slow_stack(&p, 1);
    let addr = s.envoy.listen_addr().unwrap();
    let a = thread::spawn(move || Request::get("/a").bearer("alice-token").send(addr).unwrap());
    let b = thread::spawn(move || Request::get("/a").bearer("bob-token").send(addr).unwrap());
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    assert_eq!(
        a.json::<Echoed>().unwrap().header("x-user-id"),
        Some("alice")
    );
    assert_eq!(b.json::<Echoed>().unwrap().header("x-user-id"), Some("bob"));
    assert_eq!(s.auth.calls(), 2);
}

#[test]
fn without_the_cache_every_request_is_checked() {
    let p = require_prerequisites!();
    let s = Stack::builder(&p)
        .unwrap()
        .config(|c| {
            c["cache"]["enabled"] = false.into();
            c["authService"]["timeoutMs"] = 5000.into();
        })
        .start()
        .unwrap();
    s.auth.state().set_latency(Duration::from_millis(200));
    assert_all_alice(&burst(&s, 4, "/orders"));
    assert_eq!(s.auth.calls(), 4, "no coalescing when the cache is off");
}

/// Opens a connection, sends the request, and hangs up before the answer.
fn leave_after(s: &Stack, target: &str, after: Duration) -> thread::JoinHandle<()> {
    let addr = s.envoy.listen_addr().unwrap();
    let bytes = Request::get(target)
        .bearer("alice-token")
        .to_bytes("localhost");
    thread::spawn(move || {
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(&bytes).unwrap();
        thread::sleep(after);
        drop(c);
    })
}

#[test]
fn clients_that_leave_mid_callout_leave_nothing_behind() {
    let p = require_prerequisites!();
    let s = slow_stack(&p, 1);
    // The first requester (whose miss made the callout) goes away, and so does one waiter.
    let first = leave_after(&s, "/leave", Duration::from_millis(100));
    thread::sleep(Duration::from_millis(30));
    let waiter = leave_after(&s, "/leave", Duration::from_millis(100));
    let stayers = burst(&s, 3, "/leave");
    first.join().unwrap();
    waiter.join().unwrap();
    assert_all_alice(&stayers);
    assert_eq!(
        s.auth.calls(),
        1,
        "the callout went on for those who stayed"
    );
    assert!(settles(&s), "no flight or waiter left behind");
    // The decision was cached for the next request, and the VM is healthy.
    assert_all_alice(&burst(&s, 1, "/leave"));
    assert_eq!(s.auth.calls(), 1);
}

#[test]
fn everyone_waiting_gets_the_same_error_handling() {
    let p = require_prerequisites!();
    let s = slow_stack(&p, 1);
    s.auth.state().set_forced_status(Some(500));
    let responses = burst(&s, 6, "/boom");
    assert!(
        responses.iter().all(|r| r.status == 503),
        "{:?}",
        responses.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(s.auth.calls(), 1);
    assert_eq!(s.envoy.counter("wasmcustom.mesh_authz_errors").unwrap(), 6);
}
