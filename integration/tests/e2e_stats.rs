//! The filter's counters as Envoy 1.40 exposes them: `/stats` names `wasmcustom.mesh_authz_*`,
//! Prometheus names `mesh_authz_*` (Envoy drops the `wasmcustom.` prefix and adds no `envoy_`).

#![cfg(test)]

use mesh_authz_integration::client::Request;
use mesh_authz_integration::envoy::stats::{prometheus_value, stat};
use mesh_authz_integration::require_prerequisites;
use mesh_authz_integration::stack::Stack;

const COUNTERS: [&str; 7] = [
    "allowed",
    "denied",
    "errors",
    "bypassed",
    "cache_hits",
    "cache_misses",
    "callouts",
];

#[test]
fn counters_in_stats_and_prometheus() {
    let p = require_prerequisites!();
    let s = Stack::start(&p).unwrap();
    // Every counter is listed from the start, at 0.
    let stats = s.envoy.stats().unwrap();
    for name in COUNTERS {
        let name = format!("wasmcustom.mesh_authz_{name}");
        assert_eq!(stat(&stats, &name).unwrap(), 0, "{name}");
    }

    for _ in 0..3 {
        assert_eq!(
            s.send(&Request::get("/a").bearer("alice-token"))
                .unwrap()
                .status,
            200
        );
    }
    assert_eq!(s.get("/a").unwrap().status, 401);
    assert_eq!(
        s.send(&Request::get("/admin").bearer("bob-token"))
            .unwrap()
            .status,
        403
    );
    assert_eq!(s.get("/healthz").unwrap().status, 200);
    assert_eq!(s.get("/healthz/live").unwrap().status, 200);
    s.auth.set_forced_status(Some(500));
    assert_eq!(
        s.send(&Request::get("/b").bearer("alice-token"))
            .unwrap()
            .status,
        503
    );

    // 3 allowed (1 miss + 2 hits), 2 denied, 1 error; 4 misses, 4 callouts; 2 bypassed.
    let want = [
        ("allowed", 3),
        ("denied", 2),
        ("errors", 1),
        ("bypassed", 2),
        ("cache_hits", 2),
        ("cache_misses", 4),
        ("callouts", 4),
    ];
    assert_eq!(s.auth.calls(), 4);
    let stats = s.envoy.stats().unwrap();
    let prom = s.envoy.prometheus().unwrap();
    for (name, value) in want {
        let full = format!("wasmcustom.mesh_authz_{name}");
        assert_eq!(stat(&stats, &full).unwrap(), value, "{full}");
        let series = format!("mesh_authz_{name}");
        assert_eq!(
            prometheus_value(&prom, &series),
            Some(value as f64),
            "{series} in:\n{prom}"
        );
        assert!(
            prom.contains(&format!("# TYPE {series} counter")),
            "{series} is not a counter"
        );
    }
}
