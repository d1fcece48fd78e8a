//! Envoy runs one VM per worker; the decision cache has a level shared by all of them, so a decision
//! made on one worker is served on another without a second callout.

#![cfg(test)]

use mesh_authz_integration::client::Request;
use mesh_authz_integration::echo::Echoed;
use mesh_authz_integration::require_prerequisites;
use mesh_authz_integration::stack::Stack;

fn connections_per_worker(s: &Stack) -> Vec<u64> {
    s.envoy.connections_per_worker().unwrap()
}

#[test]
fn a_decision_made_on_one_worker_is_served_on_another() {
    let p = require_prerequisites!();
    let s = Stack::builder(&p).unwrap().concurrency(2).start().unwrap();
    // Each request is its own connection; the kernel spreads them over both workers' sockets.
    for _ in 0..24 {
        let r = s
            .send(&Request::get("/orders").bearer("alice-token"))
            .unwrap();
        assert_eq!(
            r.json::<Echoed>().unwrap().header("x-user-id"),
            Some("alice")
        );
    }
    let per_worker = connections_per_worker(&s);
    assert_eq!(per_worker.len(), 2, "{per_worker:?}");
    assert!(
        per_worker.iter().all(|c| *c > 0),
        "both workers took connections: {per_worker:?}"
    );
    assert_eq!(
        s.auth.calls(),
        1,
        "the second worker read the first one's decision"
    );
    assert!(
        s.envoy
            .counter("wasmcustom.mesh_authz_shared_cache_hits")
            .unwrap()
            >= 1
    );
}

#[test]
fn without_the_shared_level_each_worker_asks_once() {
    let p = require_prerequisites!();
    let s = Stack::builder(&p)
        .unwrap()
        .concurrency(2)
        .config(|c| c["cache"]["sharedSlots"] = 0.into())
        .start()
        .unwrap();
    for _ in 0..24 {
        assert_eq!(
            s.send(&Request::get("/orders").bearer("alice-token"))
                .unwrap()
                .status,
            200
        );
    }
    let used = connections_per_worker(&s)
        .iter()
        .filter(|c| **c > 0)
        .count() as u64;
    assert_eq!(s.auth.calls(), used, "one callout per worker, none shared");
    assert_eq!(
        s.envoy
            .counter("wasmcustom.mesh_authz_shared_cache_hits")
            .unwrap(),
        0
    );
}
