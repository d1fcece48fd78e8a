//! Running through auth-service trouble and rolling out safely, on a real Envoy: `onError` per
//! cause (Envoy's own timeout and connection failures told apart from the service's 5xx), stale
//! decisions served when the callout fails, shadow mode, the decision in the access log, the
//! callout latency histogram, and failure logs that do not flood.

#![cfg(test)]

use mesh_authz_integration::client::Request;
use mesh_authz_integration::echo::Echoed;
use mesh_authz_integration::require_prerequisites;
use mesh_authz_integration::stack::{closed_port, Stack};
use std::time::{Duration, Instant};

const TIMEOUT_MS: u64 = 200;

fn counter(s: &Stack, name: &str) -> u64 {
    s.envoy
        .counter(&format!("wasmcustom.mesh_authz_{name}"))
        .unwrap()
}

#[test]
fn each_cause_gets_its_own_policy() {
    let p = require_prerequisites!();
    let on_error = serde_json::json!({
        "mode": "deny", "status": 503,
        "timeout": {"mode": "allow"},
        "unreachable": {"status": 502},
        "serverError": {"status": 500},
    });
    // Unreachable: nothing listens on the auth cluster's port; Envoy answers for it.
    let s = Stack::builder(&p)
        .unwrap()
        .config(|c| c["onError"] = on_error.clone())
        .auth_port(closed_port().unwrap())
        .start()
        .unwrap();
    let r = s.send(&Request::get("/x").bearer("alice-token")).unwrap();
    assert_eq!(r.status, 502, "unreachable: {}", r.text());
    assert!(s
        .envoy
        .wait_for_log("unreachable (Envoy answered 503", Duration::from_secs(5)));
    assert_eq!(
        s.envoy.counter("cluster.echo.upstream_rq_total").unwrap(),
        0
    );

    // The service's own 500 and its timeout.
    let s = Stack::builder(&p)
        .unwrap()
        .config(|c| c["onError"] = on_error.clone())
        .start()
        .unwrap();
    s.auth.set_forced_status(Some(500));
    let r = s.send(&Request::get("/x").bearer("alice-token")).unwrap();
    assert_eq!(r.status, 500, "serverError: {}", r.text());
    assert_eq!(r.text(), "authorization service unavailable\n");
    s.auth.set_forced_status(Some(503));
    let r = s.send(&Request::get("/y").bearer("alice-token")).unwrap();
    assert_eq!(r.status, 500, "the service's own 503 is a serverError");
    s.auth.set_forced_status(None);
    s.auth.set_latency(Duration::from_millis(TIMEOUT_MS * 3));
    let r = s
        .send(
            &Request::get("/z")
                .bearer("alice-token")
                .header("x-user-id", "mallory"),
        )
        .unwrap();
    assert_eq!(r.status, 200, "timeout: allowed by its policy");
    let seen: Echoed = r.json().unwrap();
    assert!(
        seen.header("x-user-id").is_none(),
        "no identity on an error, forged or otherwise: {seen:?}"
    );
    assert!(s
        .envoy
        .wait_for_log("within 200 ms", Duration::from_secs(5)));
    assert_eq!(counter(&s, "errors"), 3);
}

#[test]
fn a_recent_decision_serves_while_the_auth_service_fails() {
    // Seconds, long enough that no step below has to land in a short window on a loaded machine;
    // the window arithmetic is the core's, tested on a fake clock. Nothing sleeps a fixed time:
    // the failing service is set at once, so the first callout marks the entry's expiry.
    const TTL: u64 = 3;
    const STALE: u64 = 3;
    let p = require_prerequisites!();
    let s = Stack::builder(&p)
        .unwrap()
        .config(|c| {
            c["cache"]["allowTtlSeconds"] = TTL.into();
            c["cache"]["staleIfErrorSeconds"] = STALE.into();
        })
        .start()
        .unwrap();
    let alice = || Request::get("/x").bearer("alice-token");
    let sent = Instant::now();
    assert_eq!(s.send(&alice()).unwrap().status, 200);
    let stored_by = Instant::now();
    s.auth.set_forced_status(Some(500));
    // Cache hits until the entry expires; then the callout is tried, fails, and the expired
    // decision serves.
    let limit = Duration::from_secs(TTL + 10);
    while s.auth.calls() < 2 {
        let r = s.send(&alice()).unwrap();
        assert_eq!(r.status, 200, "a hit, then a stale allow: {}", r.text());
        let seen: Echoed = r.json().unwrap();
        assert_eq!(seen.header("x-user-id"), Some("alice"));
        assert!(sent.elapsed() < limit, "the entry never expired");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(sent.elapsed() >= Duration::from_secs(TTL), "expired early");
    assert_eq!(
        counter(&s, "stale_served"),
        1,
        "the callout was tried first"
    );
    // Another credential has nothing to fall back on.
    let r = s.send(&Request::get("/x").bearer("bob-token")).unwrap();
    assert_eq!(r.status, 503);
    // Each request in the window tries the callout and is served stale; past it, onError.
    let mut stale = 1;
    let limit = Duration::from_secs(TTL + STALE + 10);
    loop {
        let before = Instant::now();
        let status = s.send(&alice()).unwrap().status;
        if status == 503 {
            break;
        }
        assert_eq!(status, 200);
        stale += 1;
        // Served stale although sent after the window closed (the entry was stored by then).
        assert!(
            before < stored_by + Duration::from_secs(TTL + STALE),
            "stale past the window"
        );
        assert!(sent.elapsed() < limit, "the window never closed");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        sent.elapsed() >= Duration::from_secs(TTL + STALE),
        "the window closed early"
    );
    assert_eq!(counter(&s, "stale_served"), stale);
}

#[test]
fn shadow_mode_decides_everything_and_stops_nothing() {
    let p = require_prerequisites!();
    let s = Stack::builder(&p)
        .unwrap()
        .config(|c| c["mode"] = "shadow".into())
        .start()
        .unwrap();
    // A deny goes on, without identity, without the deny's headers; forged identity still goes.
    let r = s
        .send(&Request::get("/x").header("x-user-id", "mallory"))
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header_all("www-authenticate").is_empty());
    let seen: Echoed = r.json().unwrap();
    assert!(seen.header("x-user-id").is_none(), "{seen:?}");
    // An allow still carries its identity.
    let r = s.send(&Request::get("/x").bearer("alice-token")).unwrap();
    let seen: Echoed = r.json().unwrap();
    assert_eq!(seen.header("x-user-id"), Some("alice"));
    // Cache hits are counted too, and errors.
    s.send(&Request::get("/x")).unwrap();
    s.auth.set_forced_status(Some(500));
    assert_eq!(s.send(&Request::get("/err")).unwrap().status, 200);
    assert_eq!(counter(&s, "shadow_denied"), 2);
    assert_eq!(counter(&s, "shadow_errors"), 1);
    assert_eq!(counter(&s, "denied"), 2);
    assert_eq!(
        s.envoy.counter("cluster.echo.upstream_rq_total").unwrap(),
        4
    );
}

#[test]
fn every_decision_is_one_json_access_log_line() {
    let p = require_prerequisites!();
    let s = Stack::start(&p).unwrap();
    s.send(&Request::get("/a").bearer("alice-token")).unwrap();
    s.send(&Request::get("/a").bearer("alice-token")).unwrap();
    s.send(&Request::get("/b")).unwrap();
    s.send(&Request::get("/healthz")).unwrap();
    let lines = s.envoy.wait_for_access_log(4, Duration::from_secs(10));
    let fields = |l: &serde_json::Value| {
        [
            "authz_outcome",
            "authz_cached",
            "authz_status",
            "authz_user",
            "status",
        ]
        .map(|f| l.get(f).map(|v| v.to_string()).unwrap_or_default())
    };
    let got: Vec<[String; 5]> = lines.iter().map(fields).collect();
    let q = |v: &str| format!("\"{v}\"");
    assert_eq!(
        got,
        [
            [q("allow"), q("false"), q("200"), q("alice"), "200".into()],
            [q("allow"), q("true"), q("200"), q("alice"), "200".into()],
            [q("deny"), q("false"), q("401"), "null".into(), "401".into()],
            [
                q("bypass"),
                q("false"),
                "null".into(),
                "null".into(),
                "200".into()
            ],
        ],
        "{lines:?}"
    );
    // The callout latency, as a histogram Prometheus can read.
    let prom = s.envoy.prometheus().unwrap();
    assert!(
        prom.contains("mesh_authz_callout_duration_ms_bucket"),
        "{prom}"
    );
}

#[test]
fn a_failing_auth_service_does_not_flood_the_log() {
    let p = require_prerequisites!();
    let s = Stack::builder(&p)
        .unwrap()
        .auth_port(closed_port().unwrap())
        .start()
        .unwrap();
    // The first failure is logged before its answer: the window is measured from that answer.
    // Up to 20 failures, all within the first 3 s of the 5 s window however slow the machine.
    let mut first_answered: Option<Instant> = None;
    let mut sent = 0u64;
    while sent < 20 && first_answered.is_none_or(|t| t.elapsed() < Duration::from_secs(3)) {
        let r = s
            .send(&Request::get(&format!("/x{sent}")).bearer("alice-token"))
            .unwrap();
        assert_eq!(r.status, 503);
        first_answered.get_or_insert_with(Instant::now);
        sent += 1;
    }
    assert!(s.envoy.wait_for_log("unreachable", Duration::from_secs(5)));
    let lines = |s: &Stack| {
        s.envoy
            .log_text()
            .lines()
            .filter(|l| l.contains("mesh-authz: auth service on cluster"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(lines(&s).len(), 1, "{sent} failures: {:?}", lines(&s));
    let window_end = first_answered.unwrap_or_else(Instant::now) + Duration::from_millis(5_050);
    std::thread::sleep(window_end.saturating_duration_since(Instant::now()));
    s.send(&Request::get("/later").bearer("alice-token"))
        .unwrap();
    let held = format!("({} more like this in the last 5 s)", sent - 1);
    assert!(
        s.envoy.wait_for_log(&held, Duration::from_secs(5)),
        "{held} not logged: {:?}",
        lines(&s)
    );
    assert_eq!(lines(&s).len(), 2);
}
