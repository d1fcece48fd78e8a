//! The chaos run: a steady mixed workload through a real Envoy while the auth service goes through
//! phases of trouble, each checked request by request against the configured policy.
//!
//! A run is a `Plan`: the plugin configuration and the phases. Each phase sets the service's
//! state (`Trouble`), runs the load for its duration, stops the load, then checks what the clients
//! got, what the upstream saw, the filter's counters, the gauges and Envoy's health (`check`). The
//! expectations come from the filter's own reading of the configuration
//! (`mesh_authz_core::Config::parse`: `onError` per cause, `cache.staleIfErrorSeconds`, `mode`),
//! so a filter feature that changes behaviour under failure is one more config variant of the
//! same plan, and the checker cannot read the JSON differently from the module.
//!
//! - `workload`: the traffic and the judgement of each answer.
//! - `phase`: one phase run: load, recovery probe, counters.
//! - `report`: the per-phase table and the checks.

pub mod phase;
pub mod report;
pub mod workload;

pub use mesh_authz_core::decision::Cause;
pub use phase::{run_phase, PhaseRow};
pub use report::{check, table};

use mesh_authz_core::config::{Config, Mode};
use std::time::Duration;

/// The service's state during a phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trouble {
    Healthy,
    /// Accepts and reads each callout, never answers.
    Hung,
    /// Answers, but only after `timeoutMs` has passed.
    Slow,
    /// Answers 500 to everything.
    Status500,
    /// Not listening: connections refused, open ones dropped.
    Killed,
    /// Listening again on the same port after `Killed`: decisions must resume within a second.
    Restored,
}

impl Trouble {
    /// The order of the issue: healthy, hung, slow, 500, killed, restored.
    pub const SEQUENCE: [Trouble; 6] = [
        Trouble::Healthy,
        Trouble::Hung,
        Trouble::Slow,
        Trouble::Status500,
        Trouble::Killed,
        Trouble::Restored,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Trouble::Healthy => "healthy",
            Trouble::Hung => "hung",
            Trouble::Slow => "slow",
            Trouble::Status500 => "500",
            Trouble::Killed => "killed",
            Trouble::Restored => "restored",
        }
    }

    /// Why callouts fail in this phase; `None` when they should not.
    pub fn cause(self) -> Option<Cause> {
        match self {
            Trouble::Healthy | Trouble::Restored => None,
            Trouble::Hung | Trouble::Slow => Some(Cause::Timeout),
            Trouble::Status500 => Some(Cause::ServerError),
            Trouble::Killed => Some(Cause::Unreachable),
        }
    }

    /// The cause an error answer in this phase is judged by: after a restore, the requests sent
    /// before the service is reachable again still fail as unreachable (`check` bounds how long).
    pub fn judged_cause(self) -> Option<Cause> {
        match self {
            Trouble::Restored => Some(Cause::Unreachable),
            t => t.cause(),
        }
    }
}

/// A chaos run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The name of the config variant, printed with the table.
    pub name: String,
    /// The plugin JSON Envoy runs with, and the filter's reading of it (the expectations); private
    /// so the two cannot part.
    config: serde_json::Value,
    filter: Config,
    pub phases: Vec<Trouble>,
    pub phase_length: Duration,
    /// Client threads, each sending its next request when the previous answer is in.
    pub clients: usize,
    /// Bound on requests per client and phase (the time bound is `phase_length`).
    pub max_requests_per_client: u64,
    pub mix: workload::Mix,
    /// The service's latency in the `Slow` phase (more than the config's `timeoutMs`).
    pub slow_latency: Duration,
}

impl Plan {
    /// The six phases on `config`, `phase_length` each. A configuration the filter would refuse
    /// is an error here, before any Envoy starts.
    pub fn new(
        name: &str,
        config: serde_json::Value,
        phase_length: Duration,
    ) -> Result<Plan, crate::HarnessError> {
        let filter = Config::parse(config.to_string().as_bytes())
            .map_err(|e| crate::HarnessError::Config(format!("chaos plan `{name}`: {e}")))?;
        let timeout = timeout_of(&filter);
        Ok(Plan {
            name: name.into(),
            config,
            filter,
            phases: Trouble::SEQUENCE.to_vec(),
            phase_length,
            clients: 4,
            max_requests_per_client: 20_000,
            mix: workload::Mix::default(),
            slow_latency: timeout * 3,
        })
    }

    /// The plugin JSON the run's Envoy is started with.
    pub fn config(&self) -> &serde_json::Value {
        &self.config
    }

    /// The filter's reading of the plugin JSON: `onError`, `cache`, `mode`.
    pub fn filter(&self) -> &Config {
        &self.filter
    }

    pub fn timeout(&self) -> Duration {
        timeout_of(&self.filter)
    }

    /// `"mode": "shadow"`: denials and errors go on to the upstream (without identity).
    pub fn shadow(&self) -> bool {
        self.filter.mode == Mode::Shadow
    }

    /// `cache.staleIfErrorSeconds > 0`: an expired decision may be served during a failure.
    pub fn stale_if_error(&self) -> bool {
        self.filter.cache.is_some_and(|c| c.stale_ms > 0)
    }
}

/// Starts the stack for `plan` (2 Envoy workers, the generated users), runs every phase, prints
/// the table, and returns the rows and the problems (empty: every promise kept).
pub fn run(
    p: &crate::paths::Prerequisites,
    plan: &Plan,
) -> Result<(Vec<PhaseRow>, Vec<String>), crate::HarnessError> {
    let config = plan.config.clone();
    let mut stack = crate::stack::Stack::builder(p)?
        .concurrency(2)
        .service_threads(2)
        .tokens(crate::auth::Tokens::example().with_generated(workload::USER_PREFIX))
        .config(|c| *c = config)
        .start()?;
    stack.auth.set_recording(false);
    let vm_baseline = phase::vm_stats(&stack)?;
    let mut rows = Vec::new();
    for (i, trouble) in plan.phases.iter().enumerate() {
        let row = run_phase(&mut stack, plan, *trouble, i as u64, &vm_baseline)?;
        println!(
            "{} phase: {} requests, {} problems so far",
            trouble.name(),
            row.requests,
            check(plan, std::slice::from_ref(&row)).len()
        );
        rows.push(row);
    }
    println!("{}", table(plan, &rows));
    let mut problems = check(plan, &rows);
    if vm_baseline.is_empty() {
        problems.push("Envoy shows no wasm VM statistics: the VM-restart check saw nothing".into());
    }
    let log = stack.envoy.log_text();
    if log.contains("panicked") {
        problems.push(format!(
            "the module panicked; log in {}",
            stack.envoy.dir().display()
        ));
    }
    Ok((rows, problems))
}

/// `authService.timeoutMs` as the filter reads it; zero without an auth service (`jwt.mode
/// authenticate` makes no callout, so no phase can time one out).
fn timeout_of(config: &Config) -> Duration {
    Duration::from_millis(config.auth.as_ref().map_or(0, |a| u64::from(a.timeout_ms)))
}

/// A plan on the smallest configuration the filter accepts plus `patch`'s top-level fields.
#[cfg(test)]
pub(crate) fn test_plan(patch: serde_json::Value) -> Plan {
    let mut config = serde_json::json!({"authService": {"cluster": "auth", "authority": "auth", "timeoutMs": 200}});
    if let (Some(c), Some(p)) = (config.as_object_mut(), patch.as_object()) {
        c.extend(p.clone());
    }
    Plan::new(&patch.to_string(), config, Duration::ZERO).unwrap()
}

/// `CHAOS_PHASE_SECONDS` (fractions allowed), else `default`; bounded to 0.5..=60 s.
pub fn phase_length_from_env(default: Duration) -> Duration {
    std::env::var("CHAOS_PHASE_SECONDS")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite())
        .map(|s| Duration::from_secs_f64(s.clamp(0.5, 60.0)))
        .unwrap_or(default)
}
