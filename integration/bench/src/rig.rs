//! The bench rig: one example auth service and one echo upstream for every variant, one Envoy per
//! case (variant × worker count) booted once and kept, and the measurement of one case: load
//! through that Envoy, its CPU and its callouts over the window.

use crate::conn::get_with_bearer;
use crate::cpu;
use crate::jwt_pool::TokenPool;
use crate::jwt_variant::{Checker, JwtVariant, JwtWorkload, TokenLoad};
use crate::load::{self, LoadSpec, Pick, Requests};
use crate::variant::{Credentials, MixedWorkload, Variant};
use crate::zipf::Zipf;
use mesh_authz_integration::auth::{AuthService, AuthState, Tokens};
use mesh_authz_integration::envoy::{overrides, stats, Envoy, EnvoyOptions, PortMap};
use mesh_authz_integration::server::ServerHandle;
use mesh_authz_integration::{echo, HarnessError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The token of every single-credential variant (it is in the example tokens file).
pub const TOKEN: &str = "alice-token";
/// The path every request asks for; not under `/admin`, so every known token is allowed.
pub const PATH: &str = "/bench/items";
const COUNTER_PREFIX: &str = "wasmcustom.mesh_authz_";
/// Envoy's jwt_authn counters under the listener's `stat_prefix` (`ingress`).
const JWT_AUTHN_PREFIX: &str = "http.ingress.jwt_authn.";
/// What mesh-authz logs at start-up (at info) about who checks signatures.
const SIGNATURES_LINE: &str = "signatures checked by";
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
    /// JWT variants: tokens answered from the checker's token cache / tokens checked, from its
    /// counters (mesh-authz `jwt_cache_hits` and `jwt_verified`; jwt_authn `jwt_cache_hit` and
    /// `jwt_cache_miss`). None where nothing caches tokens.
    #[serde(default)]
    pub token_hit_ratio: Option<f64>,
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
    /// The JWT variants' tokens and workload, when the run has any.
    jwt: Option<(TokenPool, JwtWorkload)>,
    /// Where the jwt_authn bootstraps with the run's keys are written; removed on drop.
    scratch: PathBuf,
    /// Whether mesh-authz checks RS*/ES* signatures with Envoy's `verify_signature` (its
    /// start-up log says so); None until a mesh-authz JWT variant has booted.
    pub envoy_verify: Option<bool>,
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

impl Rig {
    pub fn new(
        mixed: MixedWorkload,
        service_threads: usize,
        jwt: Option<(TokenPool, JwtWorkload)>,
    ) -> Result<Rig, HarnessError> {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        let (tokens, users) = tokens(&mixed);
        // In gate mode the auth service gets a verified token; it checks it again against the
        // same keys and takes its `sub` as the identity (`accept_jwt`, on by default).
        let keys = jwt
            .as_ref()
            .map_or(r#"{"keys":[]}"#, |(p, _)| p.jwks.as_str());
        let state = AuthState::new(tokens, "/check").with_jwks(keys);
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
            jwt,
            scratch: std::env::temp_dir().join(format!("mesh-authz-bench-{}", std::process::id())),
            envoy_verify: None,
        })
    }

    pub fn pool(&self) -> Result<&TokenPool, String> {
        self.jwt
            .as_ref()
            .map(|(p, _)| p)
            .ok_or_else(|| "a JWT variant without the run's tokens".to_string())
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
        let jwks = self.jwt.as_ref().map_or("", |(p, _)| p.jwks.as_str());
        if case.variant.is_jwt_authn() {
            let cached = case
                .variant
                .jwt()
                .is_some_and(|j| j.checker == Checker::JwtAuthnCached);
            let out = self.scratch.join(format!("{}.yaml", case.id()));
            crate::jwt_authn::write(&opts.yaml, jwks, cached, &out)
                .map_err(HarnessError::Config)?;
            opts.yaml = out;
        }
        if case.variant.jwt().is_some() && case.variant.is_mesh_authz() {
            // Only for its start-up line on signatures; nothing logs per request at info.
            opts.component_log_level = Some("wasm:info".into());
        }
        match case.variant.plugin_config(&self.mixed, jwks)? {
            Some(json) => opts.plugin_config = Some(json.to_string()),
            None => opts.wasm = None,
        }
        Ok(opts)
    }

    pub fn boot(&mut self, case: Case, envoy_bin: &Path, wasm: &Path) -> Result<(), HarnessError> {
        let opts = self.options(&case, envoy_bin, wasm)?;
        let envoy = Envoy::start(&opts)?;
        if self.envoy_verify.is_none() && opts.component_log_level.is_some() {
            // Written as the plugin is configured, flushed to the log file within 100 ms.
            if envoy.wait_for_log(SIGNATURES_LINE, Duration::from_secs(5)) {
                let log = envoy.log_text();
                self.envoy_verify = Some(!log.contains("has no verify_signature"));
            }
        }
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
        if let Some(j) = case.variant.jwt() {
            return crate::jwt_probe::probe(case, j, addr, self.pool()?, &self.auth);
        }
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
            Credentials::Zipf { .. } => self.users.first().map(String::as_str).unwrap_or(TOKEN),
            Credentials::Jwt(_) => self.jwt.as_ref().map_or(TOKEN, |(p, _)| p.one.as_str()),
            Credentials::One => TOKEN,
        }
    }

    /// What the load sends in round `round`.
    fn requests(&self, variant: Variant, round: u32) -> Result<Requests, String> {
        let (bodies, pick) = match variant.credentials(&self.mixed) {
            Credentials::One => (vec![get_with_bearer(PATH, TOKEN)], Pick::First),
            Credentials::Zipf { users, s } => (
                self.users
                    .iter()
                    .take(users)
                    .map(|t| get_with_bearer(PATH, t))
                    .collect(),
                Pick::Zipf(Zipf::new(users, s)),
            ),
            Credentials::Jwt(TokenLoad::Repeated) => {
                (vec![get_with_bearer(PATH, &self.pool()?.one)], Pick::First)
            }
            Credentials::Jwt(TokenLoad::New) => (self.pool()?.round(round).to_vec(), Pick::once()),
            Credentials::Jwt(load @ (TokenLoad::ForgedRs256 | TokenLoad::ForgedPs256)) => (
                self.pool()?.forged_round(load, round).to_vec(),
                Pick::once(),
            ),
            Credentials::Jwt(TokenLoad::Zipf) => {
                let users = self.jwt.as_ref().map_or(0, |(_, w)| w.users);
                let bodies = self.pool()?.users(users).to_vec();
                let pick = Pick::Zipf(Zipf::new(bodies.len(), self.mixed.zipf_s));
                (bodies, pick)
            }
        };
        // Forged tokens are all refused: a 401 is the answer that counts as served.
        let expect = variant
            .jwt()
            .is_some_and(|j| j.load.is_forged())
            .then_some(401);
        Ok(Requests {
            bodies,
            pick,
            expect,
        })
    }

    /// The new-token and forged variants' window and warm-up also end when their share of tokens
    /// is used.
    fn spec_for(&self, variant: Variant, spec: &LoadSpec) -> LoadSpec {
        match (variant.jwt(), &self.jwt) {
            (Some(JwtVariant { load, .. }), Some((_, w))) if load.is_new_each() => LoadSpec {
                max_requests: spec.max_requests.min(w.new_per_window),
                max_warmup_requests: spec.max_warmup_requests.min(w.new_per_warmup),
                ..*spec
            },
            _ => *spec,
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
        let requests = self.requests(case.variant, round)?;
        let spec = &self.spec_for(case.variant, spec);
        let with_filter = case.variant.is_mesh_authz();
        let counted = counter_source(case.variant);
        self.auth.set_latency(case.variant.auth_latency());
        let snapshot = || -> Result<Edge, String> {
            // Counters first at the start and last at the end, so the admin call's own CPU stays
            // outside the CPU window.
            let counters = match counted {
                Some((filter, prefix)) => filter_counters(envoy, filter, prefix)?,
                None => BTreeMap::new(),
            };
            let ticks = (cpu::process_ticks(pid)?, cpu::threads_ticks(AUTH_THREADS)?);
            Ok((counters, ticks, self.auth.calls()))
        };
        let end = || -> Result<Edge, String> {
            let ticks = (cpu::process_ticks(pid)?, cpu::threads_ticks(AUTH_THREADS)?);
            let calls = self.auth.calls();
            let counters = match counted {
                Some((filter, prefix)) => filter_counters(envoy, filter, prefix)?,
                None => BTreeMap::new(),
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
        let prefix = counted.map_or("", |(_, p)| p);
        let delta: BTreeMap<String, u64> = c1
            .iter()
            .map(|(k, v)| {
                (
                    k.trim_start_matches(prefix).to_string(),
                    v.saturating_sub(c0.get(k).copied().unwrap_or(0)),
                )
            })
            .collect();
        let count = |k: &str| delta.get(k).copied().unwrap_or(0);
        let hits = count("cache_hits");
        let misses = count("cache_misses");
        let (token_hits, token_checks) = if case.variant.is_jwt_authn() {
            (count("jwt_cache_hit"), count("jwt_cache_miss"))
        } else {
            (count("jwt_cache_hits"), count("jwt_verified"))
        };
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
            token_hit_ratio: (case.variant.jwt().is_some() && token_hits + token_checks > 0)
                .then(|| token_hits as f64 / (token_hits + token_checks) as f64),
            errors: result.errors(),
            warmup_requests: result.warmup_requests,
            failures: result.failures,
            filter_counters: delta,
        })
    }
}

/// Where the checker's own counters are: the admin `/stats` filter and the names' prefix.
fn counter_source(variant: Variant) -> Option<(&'static str, &'static str)> {
    if variant.is_mesh_authz() {
        Some(("wasmcustom", COUNTER_PREFIX))
    } else if variant.is_jwt_authn() {
        Some(("jwt_authn", JWT_AUTHN_PREFIX))
    } else {
        None
    }
}

fn filter_counters(
    envoy: &Envoy,
    filter: &str,
    prefix: &str,
) -> Result<BTreeMap<String, u64>, String> {
    let text = envoy
        .admin_get(&format!("/stats?filter={filter}"))
        .map_err(|e| e.to_string())?
        .text();
    Ok(stats::parse_stats(&text)
        .into_iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .collect())
}
