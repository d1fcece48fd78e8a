//! The bench rig: one example auth service and one echo upstream for every variant, one Envoy per
//! case (variant × worker count) booted once and kept, and the measurement of one case: load
//! through that Envoy, its CPU and its callouts over the window.

use crate::conn::get_with_bearer;
use crate::cpu;
use crate::load::{self, LoadSpec, Requests};
use crate::variant::{Credentials, MixedWorkload, Variant};
use crate::zipf::Zipf;
use mesh_authz_integration::auth::{AuthService, AuthState, Tokens};
use mesh_authz_integration::envoy::{overrides, stats, Envoy, EnvoyOptions, PortMap};
use mesh_authz_integration::server::ServerHandle;
use mesh_authz_integration::{echo, HarnessError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

/// The token of every single-credential variant (it is in the example tokens file).
pub const TOKEN: &str = "alice-token";
/// The path every request asks for; not under `/admin`, so every known token is allowed.
pub const PATH: &str = "/bench/items";
const COUNTER_PREFIX: &str = "wasmcustom.mesh_authz_";
/// What is read at each edge of a window: the filter's counters, (Envoy, auth service) CPU ticks,
/// the auth service's callouts.
type Edge = (BTreeMap<String, u64>, (u64, u64), u64);
/// The thread name of the in-process auth service's runtime (`AuthService::spawn`).
const AUTH_THREADS: &str = "auth-service";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Case {
    pub variant: Variant,
    pub workers: u32,
}

impl Case {
    pub fn id(&self) -> String {
        format!("{}@{}w", self.variant.name(), self.workers)
    }
}

/// One measurement of one case.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sample {
    pub round: u32,
    pub requests: u64,
    pub window_s: f64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub cpu_us_per_req: f64,
    /// CPU of the in-process auth service's threads per request (its tokio runtime; the load
    /// generator and the echo upstream are other threads). 0 where nothing calls out.
    #[serde(default)]
    pub auth_cpu_us_per_req: f64,
    /// The whole authorization path: Envoy + auth service, per request.
    #[serde(default)]
    pub path_cpu_us_per_req: f64,
    pub callouts_per_req: f64,
    /// mesh-authz cache hits / (hits + misses) over the window, from the filter's counters.
    pub hit_ratio: Option<f64>,
    pub errors: u64,
    /// Requests sent in the (unrecorded) warm-up before this window.
    pub warmup_requests: u64,
    /// Non-2xx answers by status ("0" = transport error).
    pub failures: BTreeMap<u16, u64>,
    /// Deltas of the filter's own counters over the window (empty without mesh-authz).
    pub filter_counters: BTreeMap<String, u64>,
}

pub fn tokens(mixed: &MixedWorkload) -> (Tokens, Vec<String>) {
    user_tokens(mixed.users, "bench-user")
}

/// The example tokens plus `n` generated users (`<prefix>-<i>-token`), each with three identity
/// headers like a real user's, and the generated tokens in order.
pub fn user_tokens(n: usize, prefix: &str) -> (Tokens, Vec<String>) {
    let mut tokens = Tokens::example();
    let users: Vec<String> = (0..n).map(|i| format!("{prefix}-{i:07}-token")).collect();
    for (i, t) in users.iter().enumerate() {
        let id = format!("user{i}");
        tokens.insert(
            t,
            &[
                ("x-user-id", &id),
                ("x-user-roles", "viewer"),
                ("x-tenant-id", "acme"),
            ],
        );
    }
    (tokens, users)
}

pub struct Rig {
    pub auth: AuthService,
    pub echo: ServerHandle,
    envoys: BTreeMap<Case, Envoy>,
    users: Vec<String>,
    mixed: MixedWorkload,
    ticks_per_second: u64,
}

impl Rig {
    pub fn new(mixed: MixedWorkload, service_threads: usize) -> Result<Rig, HarnessError> {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        let (tokens, users) = tokens(&mixed);
        let state = AuthState::new(tokens, "/check");
        state.set_recording(false);
        let auth = AuthService::spawn(any, service_threads, state)?;
        let echo = echo::spawn(any, service_threads)?;
        Ok(Rig {
            auth,
            echo,
            envoys: BTreeMap::new(),
            users,
            mixed,
            ticks_per_second: cpu::ticks_per_second(),
        })
    }

    pub fn options(
        &self,
        case: &Case,
        envoy_bin: &Path,
        wasm: &Path,
    ) -> Result<EnvoyOptions, HarnessError> {
        let mut opts = EnvoyOptions::new(envoy_bin, wasm);
        opts.yaml = case.variant.yaml();
        opts.ports = PortMap::ephemeral(self.auth.port(), self.echo.port());
        opts.concurrency = case.workers;
        // Same level for every variant; nothing logs per request at `warning`.
        opts.log_level = "warning".into();
        // Nor does any variant write an access log: the checked-in bootstrap has one (a JSON line
        // per request), the passthrough, ext_authz and Lua ones do not. The filter still records
        // its decision for it (`accessLog`), which is the filter's own cost and stays measured.
        // Likewise the path and header hardening options, which the other bootstraps lack.
        if opts.yaml == mesh_authz_integration::paths::default_envoy_yaml() {
            opts.patches.push(overrides::strip_access_log);
            opts.hardened = false;
        }
        match case.variant.plugin_config(&self.mixed)? {
            Some(json) => opts.plugin_config = Some(json.to_string()),
            None => opts.wasm = None,
        }
        Ok(opts)
    }

    pub fn boot(&mut self, case: Case, envoy_bin: &Path, wasm: &Path) -> Result<(), HarnessError> {
        let opts = self.options(&case, envoy_bin, wasm)?;
        let envoy = Envoy::start(&opts)?;
        self.envoys.insert(case, envoy);
        Ok(())
    }

    /// A few requests through the case's Envoy: the variant must answer 200 before it is timed.
    pub fn probe(&self, case: &Case) -> Result<(), String> {
        let envoy = self
            .envoys
            .get(case)
            .ok_or_else(|| format!("{} not booted", case.id()))?;
        let addr = envoy.listen_addr().map_err(|e| e.to_string())?;
        let mut conn = crate::conn::Conn::new(addr);
        let req = get_with_bearer(PATH, self.token_for(case.variant));
        match conn.exchange(&req) {
            Ok(200) => Ok(()),
            Ok(s) => Err(format!(
                "{}: a request with a valid token got {s}, not 200",
                case.id()
            )),
            Err(e) => Err(format!("{}: {e}", case.id())),
        }
    }

    fn token_for(&self, variant: Variant) -> &str {
        match variant.credentials(&self.mixed) {
            Credentials::One => TOKEN,
            Credentials::Zipf { .. } => self.users.first().map(String::as_str).unwrap_or(TOKEN),
        }
    }

    fn requests(&self, variant: Variant) -> Requests {
        match variant.credentials(&self.mixed) {
            Credentials::One => Requests {
                bodies: vec![get_with_bearer(PATH, TOKEN)],
                pick: None,
            },
            Credentials::Zipf { users, s } => Requests {
                bodies: self
                    .users
                    .iter()
                    .take(users)
                    .map(|t| get_with_bearer(PATH, t))
                    .collect(),
                pick: Some(Zipf::new(users, s)),
            },
        }
    }

    /// Warm-up, then the window: requests, latency, Envoy CPU and callouts.
    pub fn measure(&self, case: &Case, spec: &LoadSpec, round: u32) -> Result<Sample, String> {
        let envoy = self
            .envoys
            .get(case)
            .ok_or_else(|| format!("{} not booted", case.id()))?;
        let addr = envoy.listen_addr().map_err(|e| e.to_string())?;
        let pid = envoy.pid();
        let requests = self.requests(case.variant);
        let with_filter = case.variant.is_mesh_authz();
        self.auth.set_latency(case.variant.auth_latency());
        let snapshot = || -> Result<Edge, String> {
            // Counters first at the start and last at the end, so the admin call's own CPU stays
            // outside the CPU window.
            let counters = if with_filter {
                filter_counters(envoy)?
            } else {
                BTreeMap::new()
            };
            let ticks = (cpu::process_ticks(pid)?, cpu::threads_ticks(AUTH_THREADS)?);
            Ok((counters, ticks, self.auth.calls()))
        };
        let end = || -> Result<Edge, String> {
            let ticks = (cpu::process_ticks(pid)?, cpu::threads_ticks(AUTH_THREADS)?);
            let calls = self.auth.calls();
            let counters = if with_filter {
                filter_counters(envoy)?
            } else {
                BTreeMap::new()
            };
            Ok((counters, ticks, calls))
        };
        let (result, before, after) = load::run(addr, spec, &requests, snapshot, end);
        let (c0, t0, a0) = before?;
        let (c1, t1, a1) = after?;
        let n = result.requests.max(1) as f64;
        let per_req = |ticks: u64| {
            cpu::ticks_to_duration(ticks, self.ticks_per_second).as_secs_f64() * 1e6 / n
        };
        let envoy_cpu = per_req(t1.0.saturating_sub(t0.0));
        let auth_cpu = per_req(t1.1.saturating_sub(t0.1));
        let delta: BTreeMap<String, u64> = c1
            .iter()
            .map(|(k, v)| {
                (
                    k.trim_start_matches(COUNTER_PREFIX).to_string(),
                    v.saturating_sub(c0.get(k).copied().unwrap_or(0)),
                )
            })
            .collect();
        let hits = delta.get("cache_hits").copied().unwrap_or(0);
        let misses = delta.get("cache_misses").copied().unwrap_or(0);
        Ok(Sample {
            round,
            requests: result.requests,
            window_s: result.window.as_secs_f64(),
            rps: result.rps(),
            p50_ms: result.quantile_ms(0.50),
            p90_ms: result.quantile_ms(0.90),
            p99_ms: result.quantile_ms(0.99),
            cpu_us_per_req: envoy_cpu,
            auth_cpu_us_per_req: auth_cpu,
            path_cpu_us_per_req: envoy_cpu + auth_cpu,
            callouts_per_req: a1.saturating_sub(a0) as f64 / n,
            hit_ratio: (with_filter && hits + misses > 0)
                .then(|| hits as f64 / (hits + misses) as f64),
            errors: result.errors(),
            warmup_requests: result.warmup_requests,
            failures: result.failures,
            filter_counters: delta,
        })
    }
}

fn filter_counters(envoy: &Envoy) -> Result<BTreeMap<String, u64>, String> {
    let text = envoy
        .admin_get("/stats?filter=wasmcustom")
        .map_err(|e| e.to_string())?
        .text();
    Ok(stats::parse_stats(&text)
        .into_iter()
        .filter(|(k, _)| k.starts_with(COUNTER_PREFIX))
        .collect())
}
