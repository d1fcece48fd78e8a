//! Chaos under load: a steady mixed workload through a real Envoy with 2 workers while the auth
//! service is healthy, hung, slow, answering 500, killed, and restored. Every phase is checked
//! request by request (`mesh_authz_integration::chaos`): no request reaches the upstream without
//! a decision, denials and errors follow the configured `onError`, Envoy and its VMs live on, the
//! in-flight and waiting gauges return to 0, decisions resume within 1 s of the restore.
//!
//! `CHAOS_PHASE_SECONDS` sets the phase length (`make chaos`: 4 s; here by default 1.5 s, so
//! `make test` stays short). Each test is one configuration variant of the same plan; a filter
//! feature that changes failure behaviour adds a variant with its config patch, and the filter's
//! own config parser reads the expectations from it: per-cause `onError` objects (`timeout` for the hung and slow phases,
//! `unreachable` for killed, `serverError` for 500), `cache.staleIfErrorSeconds` (with an
//! `allowTtlSeconds` shorter than a phase, so entries expire during the failures; `stale_served`
//! then counts as served from the cache), `"mode": "shadow"` (denials and errors reach the
//! upstream without identity and must equal `shadow_denied + shadow_errors`).

#![cfg(test)]

use mesh_authz_integration::chaos::{self, Plan};
use mesh_authz_integration::envoy::plugin_config_of;
use mesh_authz_integration::paths::{default_envoy_yaml, Prerequisites};
use mesh_authz_integration::require_prerequisites;
use std::sync::Mutex;
use std::time::Duration;

/// One chaos run at a time: two at once on a small machine would starve each other into
/// timeouts that are the machine's, not the filter's.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn run(p: &Prerequisites, name: &str, patch: impl FnOnce(&mut serde_json::Value)) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut config = plugin_config_of(&default_envoy_yaml()).unwrap();
    patch(&mut config);
    let length = chaos::phase_length_from_env(Duration::from_millis(1500));
    let plan = Plan::new(name, config, length).unwrap();
    let (rows, problems) = chaos::run(p, &plan).unwrap();
    assert_eq!(rows.len(), plan.phases.len());
    assert!(problems.is_empty(), "{name}:\n{}", problems.join("\n"));
}

/// The checked-in configuration: `onError` deny 503, cache on.
#[test]
fn chaos_on_error_deny() {
    let p = require_prerequisites!();
    run(&p, "checked-in (onError deny 503)", |_| {});
}

/// Fail open: errors reach the upstream, never with identity.
#[test]
fn chaos_on_error_allow() {
    let p = require_prerequisites!();
    run(&p, "onError allow", |c| {
        c["onError"] = serde_json::json!({"mode": "allow"})
    });
}

/// A policy per cause: fail open on timeouts only (hung, slow), other statuses for the service's
/// own 500 and for a killed service, which Envoy reports for it.
#[test]
fn chaos_on_error_per_cause() {
    let p = require_prerequisites!();
    run(&p, "onError per cause", |c| {
        c["onError"] = serde_json::json!({
            "mode": "deny", "status": 503,
            "timeout": {"mode": "allow"},
            "serverError": {"status": 502},
            "unreachable": {"status": 504},
        })
    });
}

/// Decisions that expired during the trouble keep serving (the allow TTL is shorter than a phase).
#[test]
fn chaos_stale_if_error() {
    let p = require_prerequisites!();
    run(&p, "staleIfErrorSeconds 30", |c| {
        c["cache"]["allowTtlSeconds"] = 1.into();
        c["cache"]["staleIfErrorSeconds"] = 30.into();
    });
}

/// Shadow mode: nothing is stopped, identity is never forged, every would-be denial is counted.
#[test]
fn chaos_shadow_mode() {
    let p = require_prerequisites!();
    run(&p, "shadow mode", |c| c["mode"] = "shadow".into());
}
