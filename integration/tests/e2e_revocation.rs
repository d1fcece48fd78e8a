//! The revocation feed on a real Envoy with two workers: revocations land while requests for the
//! revoked subjects keep coming, and no worker serves a cached allow for long after; a feed that
//! is down holds cached decisions back after `maxStaleSeconds`; a flush drops every one.

#![cfg(test)]

use mesh_authz_integration::auth::tokens::{generated_token, generated_user};
use mesh_authz_integration::auth::Tokens;
use mesh_authz_integration::client::Request;
use mesh_authz_integration::require_prerequisites;
use mesh_authz_integration::stack::Stack;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const INTERVAL_MS: u64 = 500;
/// The root context's tick: a worker that did not read the feed merges what another applied then.
const TICK_MS: u64 = 1_000;
const USERS: u64 = 8;

fn stack(p: &mesh_authz_integration::paths::Prerequisites, max_stale: u32) -> Stack {
    Stack::builder(p)
        .unwrap()
        .concurrency(2)
        .service_threads(4)
        .tokens(Tokens::example().with_generated("u"))
        .config(|c| {
            c["revocation"] = serde_json::json!({
                "subjectHeader": "x-user-id", "intervalMs": INTERVAL_MS, "timeoutMs": 300,
                "maxStaleSeconds": max_stale,
            });
        })
        .start()
        .unwrap()
}

fn get(addr: SocketAddr, n: u64) -> u16 {
    Request::get("/orders")
        .bearer(&generated_token("u", n))
        .send(addr)
        .map_or(0, |r| r.status)
}

/// One response under load: which user, when it was sent and received, its status.
struct Seen {
    user: u64,
    sent: Instant,
    received: Instant,
    status: u16,
}

#[test]
fn no_worker_serves_a_revoked_allow_for_longer_than_an_interval_and_a_tick() {
    let p = require_prerequisites!();
    let s = stack(&p, 10);
    let addr = s.envoy.listen_addr().unwrap();
    for n in 0..USERS {
        assert_eq!(get(addr, n), 200);
    }
    let start = Instant::now();
    let load_for = Duration::from_secs(7);
    let mut revoked: Vec<(u64, Instant)> = Vec::new();
    let seen: Vec<Seen> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4u64)
            .map(|t| {
                scope.spawn(move || {
                    let mut seen = Vec::new();
                    // Bounded in count and time.
                    for i in 0..20_000u64 {
                        if start.elapsed() > load_for {
                            break;
                        }
                        let user = (i * 4 + t) % USERS;
                        let sent = Instant::now();
                        let status = get(addr, user);
                        seen.push(Seen {
                            user,
                            sent,
                            received: Instant::now(),
                            status,
                        });
                    }
                    seen
                })
            })
            .collect();
        // Revocations reach the service while the load runs: every 700 ms, one subject.
        for n in 0..4u64 {
            std::thread::sleep(Duration::from_millis(if n == 0 { 1_500 } else { 700 }));
            revoked.push((n, Instant::now()));
            s.auth
                .revocations()
                .revoke(&generated_user("u", &format!("{n:07}")));
        }
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let mut worst = Duration::ZERO;
    for (user, at) in &revoked {
        // Sent after the service denied the subject: an allow can only be a cached one.
        let late: Vec<&Seen> = seen
            .iter()
            .filter(|r| r.user == *user && r.sent >= *at)
            .collect();
        assert!(
            late.len() > 20,
            "requests for u{user} kept coming ({})",
            late.len()
        );
        let last_allow = late
            .iter()
            .filter(|r| r.status == 200)
            .map(|r| r.received.duration_since(*at))
            .max()
            .unwrap_or(Duration::ZERO);
        worst = worst.max(last_allow);
        let last = late.iter().max_by_key(|r| r.received).unwrap();
        assert_eq!(
            last.status, 401,
            "u{user} denied once the revocation landed"
        );
    }
    // The others were served all along, mostly from the cache.
    assert!(seen.iter().filter(|r| r.user >= 4).all(|r| r.status == 200));
    let bound = Duration::from_millis(INTERVAL_MS + INTERVAL_MS / 5 + TICK_MS + 300);
    println!(
        "revocation to the last cached allow served, worst over {} subjects and 2 workers: {} ms ({} requests; bound {} ms)",
        revoked.len(),
        worst.as_millis(),
        seen.len(),
        bound.as_millis()
    );
    assert!(worst <= bound, "a revoked allow served {worst:?} after");
    let dropped = s
        .envoy
        .counter("wasmcustom.mesh_authz_revocation_dropped")
        .unwrap();
    assert!(dropped >= 4, "cached allows were dropped ({dropped})");
    assert!(
        s.envoy
            .counter("wasmcustom.mesh_authz_revocations_applied")
            .unwrap()
            >= 4
    );
}

/// Requests of user `n` until `for_ms` pass; how many callouts they made.
fn callouts_during(s: &Stack, addr: SocketAddr, n: u64, count: u32) -> u64 {
    let before = s.auth.calls();
    for _ in 0..count {
        assert_eq!(get(addr, n), 200);
        std::thread::sleep(Duration::from_millis(20));
    }
    s.auth.calls() - before
}

#[test]
fn a_feed_down_holds_cached_decisions_back_after_max_stale_seconds_and_a_flush_drops_them() {
    let p = require_prerequisites!();
    let s = stack(&p, 2);
    let addr = s.envoy.listen_addr().unwrap();
    // Each VM counts its start as a flush (decisions stamped before it drop once): let the
    // start pass, then both workers cache the allow (each connection lands on either).
    std::thread::sleep(Duration::from_millis(1_500));
    assert!(callouts_during(&s, addr, 1, 20) <= 2);
    assert_eq!(callouts_during(&s, addr, 1, 10), 0, "served from the cache");

    s.auth.revocations().set_down(Some(503));
    let down = Instant::now();
    // Within maxStaleSeconds of the last good read: still served from the cache.
    assert_eq!(callouts_during(&s, addr, 1, 5), 0);
    let failures = s
        .envoy
        .counter("wasmcustom.mesh_authz_revocation_fetch_failures")
        .unwrap();
    std::thread::sleep(Duration::from_millis(2_600).saturating_sub(down.elapsed()));
    // Past it (2 s plus an interval), every request is asked again.
    assert_eq!(callouts_during(&s, addr, 1, 5), 5, "nothing cached serves");
    assert!(
        s.envoy
            .counter("wasmcustom.mesh_authz_revocation_fetch_failures")
            .unwrap()
            > failures
    );
    let lag = s
        .envoy
        .stats()
        .unwrap()
        .get("wasmcustom.mesh_authz_revocation_lag_seconds")
        .copied()
        .expect("the lag gauge");
    assert!(lag >= 2, "lag {lag} s");

    s.auth.revocations().set_down(None);
    std::thread::sleep(Duration::from_millis(INTERVAL_MS * 2 + TICK_MS + 200));
    callouts_during(&s, addr, 1, 10);
    assert_eq!(
        callouts_during(&s, addr, 1, 10),
        0,
        "the feed is back: cached again"
    );

    // A flush: the service forgot its revocations; every cached decision goes.
    s.auth.revocations().forget();
    std::thread::sleep(Duration::from_millis(INTERVAL_MS * 2 + TICK_MS + 200));
    assert!(
        callouts_during(&s, addr, 1, 10) >= 1,
        "asked again after the flush"
    );
}
