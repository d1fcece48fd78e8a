//! The chaos run's judgement: what the upstream may see, what each phase must show, and the
//! per-phase table.

use super::phase::PhaseRow;
use super::workload::{
    passes_undecided, user_of, BYPASS_PATH, FORGED_USER, UNKNOWN_PREFIX, USER_PREFIX,
};
use super::{Cause, Plan, Trouble};
use crate::echo::Seen;
use mesh_authz_core::config::{Config, ErrorPolicy};
use std::fmt::Write as _;
use std::time::Duration;

/// Decisions must resume this soon after the service listens again.
pub const RECOVERY_BOUND: Duration = Duration::from_secs(1);
/// A request may take `timeoutMs` plus this (a loaded machine) before it counts as stuck.
pub const LATENCY_SLACK: Duration = Duration::from_secs(2);

/// Whether one request the upstream received was allowed to reach it: identity exactly the
/// service's for its token, or a bypass, or (config permitting) no identity at all.
pub fn upstream_ok(seen: &Seen, config: &Config, cause: Option<Cause>) -> Result<(), String> {
    let users = &seen.user_ids;
    if users.iter().any(|u| u == FORGED_USER) {
        return Err(format!("forged identity reached the upstream: {seen:?}"));
    }
    if seen.path == BYPASS_PATH || seen.path.starts_with(&format!("{BYPASS_PATH}/")) {
        return if users.is_empty() {
            Ok(())
        } else {
            Err(format!("bypassed request with identity: {seen:?}"))
        };
    }
    let undecided_ok = users.is_empty() && passes_undecided(config, cause);
    let token = seen
        .authorization
        .as_deref()
        .and_then(|a| a.strip_prefix("Bearer "));
    let expected = token.and_then(|t| {
        let n = t
            .strip_prefix(USER_PREFIX)?
            .strip_prefix('-')?
            .strip_suffix("-token")?;
        n.parse::<u64>().ok().map(user_of)
    });
    match expected {
        Some(user) if users.len() == 1 && users.first() == Some(&user) => Ok(()),
        _ if undecided_ok => Ok(()),
        Some(user) => Err(format!("expected x-user-id [{user}]: {seen:?}")),
        None if token.is_some_and(|t| t.starts_with(UNKNOWN_PREFIX)) => Err(format!(
            "a token the service denies reached the upstream: {seen:?}"
        )),
        None => Err(format!("no decision for this request: {seen:?}")),
    }
}

/// Every way the run broke its promises, one line each; empty when it kept them all.
pub fn check(plan: &Plan, rows: &[PhaseRow]) -> Vec<String> {
    let (shadow, stale_if_error) = (plan.shadow(), plan.stale_if_error());
    let mut problems = Vec::new();
    for r in rows {
        let Some(t) = r.trouble else { continue };
        let mut p = |what: String| problems.push(format!("{} phase: {what}", t.name()));
        if r.requests == 0 {
            p("no request was sent".into());
        }
        if r.violation_count > 0 {
            p(format!(
                "{} answers the policy does not allow, e.g. {:#?}",
                r.violation_count, r.violations
            ));
        }
        if !r.envoy_alive {
            p("Envoy exited".into());
        }
        if !r.vm_changes.is_empty() {
            p(format!("wasm VMs changed: {:?}", r.vm_changes));
        }
        if r.settle.is_none() {
            p(format!(
                "callouts_in_flight / requests_waiting did not return to 0: {:?}",
                r.gauges
            ));
        }
        let passed = r.allowed + r.bypassed + r.passed_undecided;
        if r.upstream_seen != passed {
            p(format!(
                "the upstream saw {} requests, clients were let through {passed}",
                r.upstream_seen
            ));
        }
        let counter = |name: &str| r.counters.get(name).copied().unwrap_or(0);
        if shadow {
            let shadowed = counter("shadow_denied") + counter("shadow_errors");
            if shadowed != r.passed_undecided {
                p(format!(
                    "the filter counted {shadowed} shadow denials and errors, clients saw {} undecided passes",
                    r.passed_undecided
                ));
            }
        }
        let counted = counter("errors");
        if !shadow && !stale_if_error && counted != r.errors + r.passed_undecided {
            p(format!(
                "the filter counted {counted} errors, clients saw {} error answers and {} undecided passes",
                r.errors, r.passed_undecided
            ));
        }
        let bound = plan.timeout() + LATENCY_SLACK;
        if r.max_latency > bound {
            p(format!(
                "a request took {:?} (bound {bound:?})",
                r.max_latency
            ));
        }
        match t.cause() {
            None if t == Trouble::Healthy => {
                // In shadow mode the service's denials pass undecided; errors never should.
                let undecided_errors = if shadow { 0 } else { r.passed_undecided };
                if r.errors + undecided_errors > 0 {
                    p(format!(
                        "{} errors with a healthy service",
                        r.errors + undecided_errors
                    ));
                }
                let denials = r.denied + if shadow { r.passed_undecided } else { 0 };
                if r.allowed == 0 || denials == 0 || r.bypassed == 0 {
                    p("the workload did not allow, deny and bypass".into());
                }
            }
            None => match r.recovery {
                None => p("no fresh user was allowed after the restore".into()),
                Some(d) if d > RECOVERY_BOUND => p(format!(
                    "decisions resumed {d:?} after the restore (bound {RECOVERY_BOUND:?})"
                )),
                Some(_) if r.errors_after_recovery > 0 => p(format!(
                    "{} errors after decisions resumed",
                    r.errors_after_recovery
                )),
                Some(_) => {}
            },
            Some(_) => {
                if r.errors + r.passed_undecided == 0 {
                    p("no request failed: the trouble had no effect".into());
                }
                let stale = r.counters.get("stale_served").copied().unwrap_or(0);
                if r.allowed + r.denied > r.cache_served + stale {
                    p(format!(
                        "{} decisions but only {} from the cache while the service could not decide",
                        r.allowed + r.denied,
                        r.cache_served + stale
                    ));
                }
                if t == Trouble::Killed && r.callouts > 0 {
                    p(format!("{} callouts reached a killed service", r.callouts));
                }
            }
        }
    }
    problems
}

fn ms(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1000.0)
}

/// What each failure the run provokes is answered with, e.g. `onError timeout 503, unreachable
/// allow, serverError 502`.
fn on_error_summary(config: &Config) -> String {
    let each: Vec<String> = [Cause::Timeout, Cause::Unreachable, Cause::ServerError]
        .iter()
        .map(|c| match config.on_error.policy(*c) {
            ErrorPolicy::Deny { status } => format!("{} {status}", c.name()),
            ErrorPolicy::Allow => format!("{} allow", c.name()),
        })
        .collect();
    format!("onError {}", each.join(", "))
}

/// The per-phase table.
pub fn table(plan: &Plan, rows: &[PhaseRow]) -> String {
    let head = [
        "phase",
        "requests",
        "allowed",
        "denied",
        "errors",
        "undecided",
        "bypassed",
        "other",
        "cache-served",
        "upstream-seen",
        "callouts",
        "max ms",
        "settle ms",
        "recovery ms",
        "log lines",
    ];
    let mut out = String::new();
    let status = on_error_summary(plan.filter());
    let _ = writeln!(
        out,
        "chaos `{}`: {} phases of {:.1} s, {} clients, timeoutMs {}, {status}",
        plan.name,
        rows.len(),
        plan.phase_length.as_secs_f64(),
        plan.clients,
        plan.timeout().as_millis()
    );
    let _ = writeln!(out, "| {} |", head.join(" | "));
    let _ = writeln!(out, "|{}", "---:|".repeat(head.len()));
    for r in rows {
        let cells = [
            r.trouble.map_or("?", Trouble::name).to_string(),
            r.requests.to_string(),
            r.allowed.to_string(),
            r.denied.to_string(),
            r.errors.to_string(),
            r.passed_undecided.to_string(),
            r.bypassed.to_string(),
            r.other.to_string(),
            r.cache_served.to_string(),
            r.upstream_seen.to_string(),
            r.callouts.to_string(),
            ms(r.max_latency),
            r.settle.map_or("never".into(), ms),
            r.recovery.map_or("-".into(), ms),
            r.log_lines.to_string(),
        ];
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaos::test_plan;
    use serde_json::json;

    fn seen(path: &str, auth: Option<&str>, users: &[&str]) -> Seen {
        Seen {
            path: path.into(),
            authorization: auth.map(String::from),
            user_ids: users.iter().map(|u| (*u).to_string()).collect(),
        }
    }

    #[test]
    fn the_upstream_sees_only_decided_requests() {
        let deny = test_plan(json!({}));
        let allow = test_plan(json!({"onError": {"mode": "allow"}}));
        let (deny, allow) = (deny.filter(), allow.filter());
        let t = Some(Cause::Timeout);
        let me = user_of(12);
        let mine = "Bearer chaos-0000012-token";
        let cases = [
            (seen("/orders", Some(mine), &[&me]), deny, None, true),
            (seen("/orders", Some(mine), &[&me, &me]), deny, None, false),
            (seen("/orders", Some(mine), &[]), deny, t, false),
            (seen("/orders", Some(mine), &[]), allow, t, true),
            (seen("/orders", Some(mine), &[]), allow, None, false),
            (seen("/orders", Some(mine), &[FORGED_USER]), allow, t, false),
            (
                seen("/orders", Some("Bearer nope-0000001-token"), &[]),
                deny,
                t,
                false,
            ),
            (
                seen("/orders", Some("Bearer nope-0000001-token"), &[]),
                allow,
                t,
                true,
            ),
            (seen("/orders", None, &[]), deny, None, false),
            (seen("/healthz", None, &[]), deny, None, true),
            (seen("/healthz", None, &[FORGED_USER]), deny, None, false),
            (seen("/healthzx", None, &[]), deny, None, false),
        ];
        for (s, config, cause, ok) in cases {
            assert_eq!(
                upstream_ok(&s, config, cause).is_ok(),
                ok,
                "{s:?} {cause:?}"
            );
        }
    }

    fn healthy_row() -> PhaseRow {
        PhaseRow {
            trouble: Some(Trouble::Healthy),
            requests: 10,
            allowed: 6,
            denied: 2,
            bypassed: 2,
            upstream_seen: 8,
            settle: Some(Duration::ZERO),
            envoy_alive: true,
            ..PhaseRow::default()
        }
    }

    #[test]
    fn each_promise_is_checked() {
        let plan = test_plan(json!({}));
        assert_eq!(check(&plan, &[healthy_row()]), Vec::<String>::new());
        type Breakage = (fn(&mut PhaseRow), &'static str);
        let broken: [Breakage; 7] = [
            (|r| r.upstream_seen += 1, "the upstream saw 9"),
            (|r| r.envoy_alive = false, "Envoy exited"),
            (|r| r.settle = None, "did not return to 0"),
            (|r| r.vm_changes.push("x".into()), "wasm VMs changed"),
            (
                |r| {
                    r.errors = 1;
                    r.counters.insert("errors".into(), 1);
                },
                "errors with a healthy service",
            ),
            (
                |r| r.counters.insert("errors".into(), 3).map_or((), |_| ()),
                "the filter counted 3 errors",
            ),
            (|r| r.max_latency = Duration::from_secs(5), "a request took"),
        ];
        for (breakage, needle) in broken {
            let mut r = healthy_row();
            breakage(&mut r);
            let problems = check(&plan, &[r]);
            assert!(
                problems.iter().any(|p| p.contains(needle)),
                "{needle}: {problems:?}"
            );
        }
        let restored = PhaseRow {
            trouble: Some(Trouble::Restored),
            recovery: Some(Duration::from_millis(1500)),
            ..healthy_row()
        };
        assert!(check(&plan, &[restored])[0].contains("resumed"));
        let hung = PhaseRow {
            trouble: Some(Trouble::Hung),
            allowed: 6,
            cache_served: 3,
            ..healthy_row()
        };
        let p = check(&plan, &[hung]);
        assert!(p.iter().any(|p| p.contains("no request failed")), "{p:?}");
        assert!(
            p.iter().any(|p| p.contains("only 3 from the cache")),
            "{p:?}"
        );
    }

    #[test]
    fn shadow_mode_expects_denials_to_pass_and_be_counted() {
        let plan = test_plan(json!({"mode": "shadow"}));
        let mut r = PhaseRow {
            denied: 0,
            passed_undecided: 2,
            upstream_seen: 10,
            ..healthy_row()
        };
        r.counters.insert("shadow_denied".into(), 2);
        assert_eq!(check(&plan, &[r.clone()]), Vec::<String>::new());
        r.counters.insert("shadow_denied".into(), 1);
        assert!(check(&plan, &[r])[0].contains("1 shadow denials"));
    }
}
