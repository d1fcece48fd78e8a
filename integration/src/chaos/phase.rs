//! One phase of a chaos run: put the service in its state, run the load (and, after a restore, the
//! probe that times the recovery), stop the load, then gather what the clients got, what the
//! upstream saw, the filter's counter deltas, the gauges settling and Envoy's health.

use super::workload::{judge, Draw, Kind, Outcome, FRESH_FROM};
use super::{Plan, Trouble};
use crate::stack::Stack;
use crate::zipf::Rng;
use crate::HarnessError;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Violations kept per phase (the count is always exact).
const KEEP_VIOLATIONS: usize = 10;
/// How long the recovery probe tries after a restore (the bound checked is 1 s).
const PROBE_FOR: Duration = Duration::from_secs(3);
const PROBE_EVERY: Duration = Duration::from_millis(5);
const POLL: Duration = Duration::from_millis(50);
const FILTER_PREFIX: &str = "wasmcustom.mesh_authz_";

/// What one phase showed.
#[derive(Debug, Clone, Default)]
pub struct PhaseRow {
    pub trouble: Option<Trouble>,
    pub requests: u64,
    pub allowed: u64,
    pub denied: u64,
    /// The configured error answer (e.g. 503).
    pub errors: u64,
    pub bypassed: u64,
    /// Reached the upstream without identity as the policy allows (onError allow, shadow).
    pub passed_undecided: u64,
    pub other: u64,
    /// Answers the filter served from its cache (its `cache_hits` counter over the phase).
    pub cache_served: u64,
    /// Requests the echo upstream received.
    pub upstream_seen: u64,
    pub max_latency: Duration,
    /// Callouts that reached the auth service.
    pub callouts: u64,
    /// The filter's counters over the phase, without the `mesh_authz_` prefix.
    pub counters: BTreeMap<String, u64>,
    /// Restored phase: from the restore to the first allowed request of a never-seen user.
    pub recovery: Option<Duration>,
    /// Errors among requests sent after that first allowed one.
    pub errors_after_recovery: u64,
    /// How long `callouts_in_flight` and `requests_waiting` took to read 0 after the load
    /// stopped; `None`: not within the deadline (then `gauges` says what they read).
    pub settle: Option<Duration>,
    pub gauges: (Option<u64>, Option<u64>),
    pub envoy_alive: bool,
    /// Envoy's `wasm.*` VM statistics that moved during the phase (a VM created or lost).
    pub vm_changes: Vec<String>,
    /// Lines the module logged during the phase (Envoy's `wasm log` lines): what a dead auth
    /// service costs in log volume.
    pub log_lines: u64,
    pub violations: Vec<String>,
    pub violation_count: u64,
}

impl PhaseRow {
    fn violation(&mut self, what: String) {
        self.violation_count += 1;
        if self.violations.len() < KEEP_VIOLATIONS {
            self.violations.push(what);
        }
    }

    fn add(&mut self, outcome: Outcome, latency: Duration) {
        self.requests += 1;
        self.max_latency = self.max_latency.max(latency);
        match outcome {
            Outcome::Allowed => self.allowed += 1,
            Outcome::Denied => self.denied += 1,
            Outcome::Error => self.errors += 1,
            Outcome::Bypassed => self.bypassed += 1,
            Outcome::PassedUndecided => self.passed_undecided += 1,
            Outcome::Other(what) => {
                self.other += 1;
                self.violation(what);
            }
        }
    }

    fn merge(&mut self, o: PhaseRow) {
        self.requests += o.requests;
        self.allowed += o.allowed;
        self.denied += o.denied;
        self.errors += o.errors;
        self.bypassed += o.bypassed;
        self.passed_undecided += o.passed_undecided;
        self.other += o.other;
        self.errors_after_recovery += o.errors_after_recovery;
        self.max_latency = self.max_latency.max(o.max_latency);
        self.violation_count += o.violation_count;
        for v in o.violations {
            if self.violations.len() < KEEP_VIOLATIONS {
                self.violations.push(v);
            }
        }
    }
}

/// Envoy's VM statistics (`wasm.*`, not the filter's own `wasmcustom.*`), to see a VM restart.
pub fn vm_stats(stack: &Stack) -> Result<BTreeMap<String, u64>, HarnessError> {
    Ok(stack
        .envoy
        .stats()?
        .into_iter()
        .filter(|(k, _)| k.starts_with("wasm.") && !k.starts_with("wasmcustom."))
        .collect())
}

fn filter_counters(stack: &Stack) -> Result<BTreeMap<String, u64>, HarnessError> {
    Ok(stack
        .envoy
        .stats()?
        .into_iter()
        .filter_map(|(k, v)| k.strip_prefix(FILTER_PREFIX).map(|n| (n.to_string(), v)))
        .collect())
}

fn apply(stack: &Stack, plan: &Plan, trouble: Trouble) -> Result<(), HarnessError> {
    let auth = &stack.auth;
    auth.set_healthy();
    match trouble {
        Trouble::Killed => return auth.kill(),
        Trouble::Hung => auth.set_hung(true),
        Trouble::Slow => auth.set_latency(plan.slow_latency),
        Trouble::Status500 => auth.set_forced_status(Some(500)),
        Trouble::Healthy | Trouble::Restored => {}
    }
    auth.restore()
}

/// When the phase started and, once the probe saw it, when decisions resumed (µs after start).
struct Clock<'a> {
    started: Instant,
    recovered_at_us: &'a AtomicU64,
}

impl Clock<'_> {
    fn us(&self, t: Instant) -> u64 {
        u64::try_from(t.duration_since(self.started).as_micros()).unwrap_or(u64::MAX)
    }

    /// Whether a request sent at `t` left after the recovery.
    fn after_recovery(&self, t: Instant) -> bool {
        self.us(t) > self.recovered_at_us.load(Ordering::SeqCst)
    }
}

/// One client: the mixed load until `until` or its request bound.
fn client(
    stack: &Stack,
    plan: &Plan,
    trouble: Trouble,
    seed: u64,
    until: Instant,
    clock: &Clock<'_>,
) -> PhaseRow {
    let draw = Draw::new(plan.mix);
    let mut rng = Rng::new(seed);
    let mut row = PhaseRow::default();
    let mut sent = 0;
    while Instant::now() < until && sent < plan.max_requests_per_client {
        sent += 1;
        let kind = draw.next(&mut rng);
        let t0 = Instant::now();
        let result = stack.send(&kind.request());
        let outcome = judge(kind, &result, plan.filter(), trouble.judged_cause());
        if outcome == Outcome::Error && clock.after_recovery(t0) {
            row.errors_after_recovery += 1;
        }
        row.add(outcome, t0.elapsed());
    }
    row
}

/// After a restore: a never-seen user every few ms until one is allowed; returns its row, the
/// time to that answer, and when it came (for the errors-after-recovery count).
fn probe(stack: &Stack, plan: &Plan, first: u64, clock: &Clock<'_>) -> PhaseRow {
    let restored = clock.started;
    let mut row = PhaseRow::default();
    for n in first..first + 10_000 {
        if restored.elapsed() > PROBE_FOR {
            break;
        }
        let kind = Kind::User(n);
        let t0 = Instant::now();
        let result = stack.send(&kind.request());
        let outcome = judge(
            kind,
            &result,
            plan.filter(),
            Trouble::Restored.judged_cause(),
        );
        let allowed = outcome == Outcome::Allowed;
        row.add(outcome, t0.elapsed());
        if allowed {
            let now = Instant::now();
            row.recovery = Some(now.duration_since(restored));
            clock.recovered_at_us.store(clock.us(now), Ordering::SeqCst);
            return row;
        }
        std::thread::sleep(PROBE_EVERY);
    }
    row
}

/// Runs phase number `index` (its number keeps the fresh users of every phase distinct).
pub fn run_phase(
    stack: &mut Stack,
    plan: &Plan,
    trouble: Trouble,
    index: u64,
    vm_baseline: &BTreeMap<String, u64>,
) -> Result<PhaseRow, HarnessError> {
    let counters_before = filter_counters(stack)?;
    let log_before = module_log_lines(stack);
    let calls_before = stack.auth.calls();
    stack.upstream.take_seen();
    stack.upstream.set_recording(true);
    let upstream_before = stack.upstream.count();
    apply(stack, plan, trouble)?;
    let started = Instant::now();
    let until = started + plan.phase_length;
    let recovered_at_us = AtomicU64::new(u64::MAX);
    let clock = Clock {
        started,
        recovered_at_us: &recovered_at_us,
    };
    let shared: &Stack = stack;
    let clock = &clock;
    let mut row = std::thread::scope(|scope| {
        let probe = (trouble == Trouble::Restored).then(|| {
            let first = FRESH_FROM + index * 1_000_000;
            scope.spawn(move || probe(shared, plan, first, clock))
        });
        let clients: Vec<_> = (0..plan.clients)
            .map(|i| {
                let seed = index * 1000 + i as u64;
                scope.spawn(move || client(shared, plan, trouble, seed, until, clock))
            })
            .collect();
        let mut row = PhaseRow {
            trouble: Some(trouble),
            ..PhaseRow::default()
        };
        for h in clients.into_iter().chain(probe) {
            match h.join() {
                Ok(r) => {
                    row.recovery = row.recovery.or(r.recovery);
                    row.merge(r);
                }
                Err(_) => row.violation("a client thread panicked".into()),
            }
        }
        row
    });
    settle(stack, plan, &mut row)?;
    let after = filter_counters(stack)?;
    row.counters = after
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.saturating_sub(counters_before.get(k).copied().unwrap_or(0)),
            )
        })
        .collect();
    row.cache_served = row.counters.get("cache_hits").copied().unwrap_or(0);
    row.callouts = stack.auth.calls().saturating_sub(calls_before);
    stack.upstream.set_recording(false);
    row.upstream_seen = stack.upstream.count().saturating_sub(upstream_before);
    for seen in stack.upstream.take_seen() {
        if let Err(what) = super::report::upstream_ok(&seen, plan.filter(), trouble.judged_cause())
        {
            row.violation(format!("upstream: {what}"));
        }
    }
    row.log_lines = module_log_lines(stack).saturating_sub(log_before);
    row.envoy_alive = stack.envoy.is_running();
    let vms = vm_stats(stack)?;
    row.vm_changes = vm_baseline
        .iter()
        .filter(|(k, _)| k.ends_with(".created") || k.ends_with(".active"))
        .filter(|(k, v)| vms.get(*k) != Some(v))
        .map(|(k, v)| format!("{k}: {v} -> {:?}", vms.get(k)))
        .collect();
    Ok(row)
}

fn module_log_lines(stack: &Stack) -> u64 {
    let log = stack.envoy.log_text();
    log.lines().filter(|l| l.contains("wasm log")).count() as u64
}

/// Polls the summed gauges until both read 0 (they are written once a second per VM).
fn settle(stack: &Stack, plan: &Plan, row: &mut PhaseRow) -> Result<(), HarnessError> {
    let t0 = Instant::now();
    let deadline = t0 + plan.timeout() + Duration::from_secs(5);
    loop {
        let st = stack.envoy.stats()?;
        let g = |n: &str| st.get(&format!("{FILTER_PREFIX}{n}")).copied();
        row.gauges = (g("callouts_in_flight"), g("requests_waiting"));
        if row.gauges == (Some(0), Some(0)) {
            row.settle = Some(t0.elapsed());
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Ok(());
        }
        std::thread::sleep(POLL);
    }
}
