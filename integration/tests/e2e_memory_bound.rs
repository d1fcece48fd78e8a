//! The decision cache is bounded in bytes, not only in entries. A deny may carry up to
//! `maxDenyBodyBytes` (1 MiB); without a byte bound, thousands of distinct large denies fill the VM's
//! 4 GiB and abort it (and, failing closed, that worker then refuses everything). The VM's memory,
//! as the filter's own gauge reports it each second, must stay under a bound while it keeps serving.

#![cfg(test)]

use mesh_authz_integration::client::Request;
use mesh_authz_integration::echo::Echoed;
use mesh_authz_integration::require_prerequisites;
use mesh_authz_integration::stack::Stack;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

const REQUESTS: usize = 3000;
const CLIENTS: usize = 4;
const GAUGE: &str = "wasmcustom.mesh_authz_vm_memory_bytes";

fn vm_memory(s: &Stack) -> u64 {
    s.envoy.counter(GAUGE).unwrap()
}

/// Sends `REQUESTS` requests with distinct credentials from `CLIENTS` threads, each expected to get
/// `status` with a `body_bytes` body, while the main thread watches the memory gauge. Stops early
/// (and fails) once the gauge passes `bound`. Returns the highest value seen.
fn flood(s: &Stack, tag: &str, status: u16, body_bytes: usize, bound: u64) -> u64 {
    let addr = s.envoy.listen_addr().unwrap();
    let over = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (over, sent, tag) = (Arc::clone(&over), Arc::clone(&sent), tag.to_string());
            thread::spawn(move || {
                for i in (c..REQUESTS).step_by(CLIENTS) {
                    if over.load(Ordering::SeqCst) {
                        return;
                    }
                    let r = Request::get("/data")
                        .bearer(&format!("{tag}-{i}"))
                        .send(addr)
                        .unwrap();
                    assert_eq!(
                        (r.status, r.body.len()),
                        (status, body_bytes),
                        "request {i}"
                    );
                    sent.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut highest = 0;
    while workers.iter().any(|w| !w.is_finished()) && Instant::now() < deadline {
        highest = highest.max(vm_memory(s));
        if highest > bound {
            over.store(true, Ordering::SeqCst);
        }
        thread::sleep(Duration::from_millis(200));
    }
    for w in workers {
        w.join().unwrap();
    }
    // One more tick, so the memory after the last request is seen too.
    thread::sleep(Duration::from_millis(1100));
    highest = highest.max(vm_memory(s));
    let sent = sent.load(Ordering::SeqCst);
    eprintln!("{tag}: {sent} requests, VM memory peaked at {highest} bytes (bound {bound})");
    assert!(
        highest <= bound,
        "VM memory reached {highest} bytes after {sent} requests, above {bound}"
    );
    assert_eq!(sent, REQUESTS as u64, "the flood did not finish in time");
    highest
}

/// Wasm VMs Envoy created so far: a VM that aborts is replaced by a new one.
fn vms_created(s: &Stack) -> u64 {
    s.envoy
        .counter("wasm.envoy.wasm.runtime.v8.created")
        .unwrap()
}

/// The VM still answers, with the same module instance: no panic, no trap, no restart.
fn still_serving(s: &Stack, vms_before: u64) {
    s.auth.set_forced_status(None);
    let r = s
        .send(&Request::get("/after").bearer("alice-token"))
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let seen: Echoed = r.json().unwrap();
    assert_eq!(seen.header("x-user-id"), Some("alice"));
    let log = s.envoy.log_text();
    // A Rust panic or allocation failure in the VM is a wasm trap Envoy logs as "Uncaught ...".
    for needle in ["panicked", "Uncaught", "RuntimeError", "Wasm VM failed"] {
        assert!(!log.contains(needle), "Envoy log has {needle:?}");
    }
    let errors = s.envoy.counter("wasmcustom.mesh_authz_errors").unwrap();
    assert_eq!(errors, 0, "every answer was judged");
    assert_eq!(vms_created(s), vms_before, "a wasm VM was recreated");
    assert_eq!(s.envoy.counter("wasm.mesh_authz.vm_reload").unwrap(), 0);
}

/// The gauge once the filter has recorded it (it ticks each second); an error if it never does,
/// since a bound on a gauge that stays 0 would hold whatever the cache did.
fn first_reading(s: &Stack) -> u64 {
    s.envoy
        .wait_for_stat(GAUGE, Duration::from_secs(10), |m| m > 0)
        .unwrap()
}

#[test]
fn thousands_of_distinct_one_mib_denies_keep_vm_memory_bounded() {
    let p = require_prerequisites!();
    let s = Stack::builder(&p)
        .unwrap()
        .config(|c| {
            c["maxDenyBodyBytes"] = 1_048_576.into();
            c["authService"]["timeoutMs"] = 5000.into();
        })
        .start()
        .unwrap();
    s.auth.set_recording(false);
    s.auth.set_forced_status(Some(403));
    s.auth.set_forced_body_bytes(Some(1 << 20));
    // The cache's budget (32 MiB by default) and a margin for the module itself and the answers
    // being read: without the bound, the cache alone grows by 1 MiB per request.
    let bound = (32 + 16) << 20;
    let baseline = first_reading(&s);
    assert!(baseline < bound, "{baseline} bytes before any traffic");
    let vms = vms_created(&s);
    flood(&s, "large", 403, 1 << 20, bound);
    still_serving(&s, vms);
}

#[test]
fn the_byte_budget_bounds_cacheable_denies() {
    let p = require_prerequisites!();
    let budget: u64 = 1 << 20;
    let s = Stack::builder(&p)
        .unwrap()
        .config(|c| c["cache"]["maxBytes"] = budget.into())
        .start()
        .unwrap();
    s.auth.set_recording(false);
    s.auth.set_forced_status(Some(403));
    // Under the per-entry cap, so every deny is cached: 3000 x 7 KB is 21 MB by entry count.
    s.auth.set_forced_body_bytes(Some(7000));
    let baseline = first_reading(&s);
    let vms = vms_created(&s);
    let peak = flood(&s, "small", 403, 7000, baseline + budget + (8 << 20));
    let entries = s
        .envoy
        .counter("wasmcustom.mesh_authz_cache_entries")
        .unwrap();
    assert!(
        entries > 0 && entries <= budget / 7000,
        "{entries} entries for a {budget}-byte budget"
    );
    eprintln!("baseline {baseline} bytes, peak {peak}, {entries} entries cached");
    still_serving(&s, vms);
}
