//! `mesh-authz-bench instructions`: machine instructions per request, every thread of the real
//! Envoy counted by callgrind. Unlike time on a shared 2-vCPU machine (20-40 % apart round to
//! round), the count moves by about a percent between runs, so a 5 % change is visible.
//!
//! One Envoy under callgrind serves every case on its own listener (`instr_bootstrap`). For each
//! case in turn: warm-up requests on one keep-alive connection, then counters zeroed,
//! instrumentation on, N requests on the same connection, instrumentation off, a dump, read back
//! (`callgrind`). The auth service and the echo upstream run in this process, not in Envoy, so
//! only Envoy's work is counted.

use crate::callgrind::{self, JIT_OBJECT};
use crate::conn::{get_with_bearer, Conn};
use crate::instr_bootstrap::{self, BigHeader, InstrCase, Module, BIG_HEADER_BYTES};
use crate::instr_report::{InstrReport, Row};
use crate::jwt_pool::TokenPool;
use crate::jwt_variant::{JwtWorkload, TokenLoad};
use crate::rig::{Rig, PATH, TOKEN};
use crate::variant::{Credentials, MixedWorkload, Variant};
use mesh_authz_integration::auth::Tokens;
use mesh_authz_integration::envoy::{Envoy, EnvoyOptions, PortMap};
use mesh_authz_integration::grpc_auth::GrpcAuthService;
use mesh_authz_integration::paths;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Envoy under callgrind takes tens of seconds to start (V8 compiles the module under Valgrind).
const READY_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, PartialEq)]
pub struct InstrArgs {
    /// `check`: the gate's cases; `full`: all of them.
    pub mode: String,
    pub requests: u64,
    pub warmup: u64,
    pub baseline: Option<PathBuf>,
    /// The ids of the mesh-authz cases run again with the baseline module (all when `None`).
    pub baseline_cases: Option<Vec<String>>,
    /// The baseline's bypass rules reduced to what modules before `corsPreflight` take.
    pub baseline_compat: bool,
    pub out: PathBuf,
    pub budgets: Option<PathBuf>,
}

fn progress(line: &str) {
    use std::io::Write as _;
    println!("{line}");
    let _ = std::io::stdout().flush();
}

/// Listener name -> address, from the admin endpoint.
fn listeners(envoy: &Envoy) -> Result<BTreeMap<String, SocketAddr>, String> {
    let v: serde_json::Value = envoy
        .admin_get("/listeners?format=json")
        .map_err(|e| e.to_string())?
        .json()
        .map_err(|e| e.to_string())?;
    let mut out = BTreeMap::new();
    let all = v.get("listener_statuses").and_then(|l| l.as_array());
    for l in all.into_iter().flatten() {
        let ip = l
            .pointer("/local_address/socket_address/address")
            .and_then(|a| a.as_str())
            .and_then(|a| a.parse().ok());
        let port = l
            .pointer("/local_address/socket_address/port_value")
            .and_then(|p| p.as_u64())
            .and_then(|p| u16::try_from(p).ok());
        let name = l.get("name").and_then(|n| n.as_str());
        if let (Some(name), Some(ip), Some(port)) = (name, ip, port) {
            out.insert(name.to_string(), SocketAddr::new(ip, port));
        }
    }
    Ok(out)
}

fn request_for(case: &InstrCase, pool: &TokenPool) -> Vec<u8> {
    let token = match case.variant.credentials(&MixedWorkload::default()) {
        Credentials::Jwt(_) => pool.one.as_str(),
        _ => TOKEN,
    };
    let mut request = get_with_bearer(PATH, token);
    if let Some(h) = case.big_header {
        // Before the blank line that ends the head.
        request.truncate(request.len().saturating_sub(2));
        let value = "c".repeat(BIG_HEADER_BYTES.saturating_sub("session=".len()));
        request.extend_from_slice(format!("{}: session={value}\r\n\r\n", h.name()).as_bytes());
    }
    request
}

/// Callouts each case must make per request, so that a case that does not behave as named (a
/// filter that failed over to something else, a cache that misses) is not taken for a figure.
fn expected_callouts(v: Variant) -> f64 {
    match v {
        Variant::CacheOff
        | Variant::ExtAuthz
        | Variant::Lua
        | Variant::ExtAuthzGrpc
        | Variant::GrpcCacheOff => 1.0,
        _ => 0.0,
    }
}

struct Window<'a> {
    envoy: &'a Envoy,
    rig: &'a Rig,
    grpc: &'a GrpcAuthService,
    dir: &'a Path,
    requests: u64,
    warmup: u64,
}

impl Window<'_> {
    /// Checks the service of this case's kind has answered so far.
    fn calls(&self, case: &InstrCase) -> u64 {
        if case.variant.is_grpc() {
            self.grpc.received().len() as u64
        } else {
            self.rig.auth.calls()
        }
    }

    fn measure(&self, case: &InstrCase, addr: SocketAddr, request: &[u8]) -> Result<Row, String> {
        let started = Instant::now();
        let pid = self.envoy.pid();
        let mut conn = Conn::new(addr);
        let mut warm_errors = 0u64;
        for _ in 0..self.warmup {
            if !matches!(conn.exchange(request), Ok(200)) {
                warm_errors += 1;
            }
        }
        if warm_errors == self.warmup {
            return Err(format!("{}: no warm-up request got 200", case.id()));
        }
        let before = callgrind::dumps(self.dir, pid).last().map(|(n, _)| *n);
        callgrind::control(pid, &["-z"])?;
        callgrind::control(pid, &["-i", "on"])?;
        let calls = self.calls(case);
        let mut errors = 0u64;
        for _ in 0..self.requests {
            if !matches!(conn.exchange(request), Ok(200)) {
                errors += 1;
            }
        }
        let callouts = self.calls(case).saturating_sub(calls);
        callgrind::control(pid, &["-i", "off"])?;
        callgrind::control(pid, &["-d"])?;
        let dump = callgrind::dumps(self.dir, pid)
            .into_iter()
            .rev()
            .find(|(n, _)| Some(*n) > before)
            .map(|(_, p)| p)
            .ok_or_else(|| format!("{}: callgrind wrote no dump", case.id()))?;
        let text = std::fs::read_to_string(&dump)
            .map_err(|e| format!("reading {}: {e}", dump.display()))?;
        let costs = callgrind::parse(&text).map_err(|e| format!("{}: {e}", dump.display()))?;
        let _ = std::fs::remove_file(&dump);
        let n = self.requests as f64;
        let per = |v: u64| v as f64 / n;
        let jit_out: u64 = costs
            .calls_between
            .iter()
            .filter(|((from, to), _)| from == JIT_OBJECT && to != JIT_OBJECT)
            .map(|(_, v)| *v)
            .sum();
        Ok(Row {
            id: case.id(),
            label: case.label(),
            baseline_module: case.module == Module::Baseline,
            requests: self.requests,
            warmup_requests: self.warmup,
            errors,
            callouts_per_req: callouts as f64 / n,
            expected_callouts_per_req: expected_callouts(case.variant),
            instructions: costs.total,
            instructions_per_req: per(costs.total),
            self_by_object_per_req: costs
                .self_by_object
                .iter()
                .map(|(k, v)| (k.clone(), per(*v)))
                .collect(),
            jit_calls_out_per_req: per(jit_out),
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}

pub fn run(a: &InstrArgs) -> Result<bool, String> {
    let started = Instant::now();
    callgrind::available()?;
    let p = paths::prerequisites()
        .map_err(|e| e.to_string())?
        .ok_or("Envoy or the module is missing: run `make venv build` first")?;
    let binary = callgrind::envoy_binary(&p.envoy, &paths::repo_root())?;
    let check = a.mode == "check";
    let list: &[(Variant, bool)] = if check {
        &instr_bootstrap::CHECK
    } else {
        &instr_bootstrap::FULL
    };
    let big: &[(Variant, BigHeader)] = if check {
        &[]
    } else {
        &instr_bootstrap::WITH_BIG_HEADER
    };
    let cases =
        instr_bootstrap::cases(list, big, a.baseline.is_some(), a.baseline_cases.as_deref());
    let pool = TokenPool::new(
        &JwtWorkload::for_mode("smoke"),
        &[TokenLoad::Repeated],
        1,
        1,
    )?;
    let rig = Rig::new(
        MixedWorkload::default(),
        2,
        Some((pool, JwtWorkload::for_mode("smoke"))),
    )
    .map_err(|e| e.to_string())?;
    // The gRPC cases' service (`alice-token` is among the example tokens); it runs in this
    // process like the HTTP one, so only Envoy is counted.
    let grpc = GrpcAuthService::spawn(Tokens::example()).map_err(|e| e.to_string())?;
    let dir = std::env::temp_dir().join(format!("mesh-authz-instr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let result = run_in(
        a, &rig, &grpc, &cases, &binary, &p.envoy, &p.wasm, &dir, started,
    );
    let _ = std::fs::remove_dir_all(&dir);
    let report = result?;
    crate::write_json(&report, &a.out)?;
    print!("{}", crate::instr_report::table(&report));
    let mut ok = report.problems.is_empty();
    for p in &report.problems {
        eprintln!("bench-instructions: {p}");
    }
    if let Some(b) = &a.budgets {
        ok &= crate::instr_report::check(&report, b)?;
    }
    Ok(ok)
}

#[allow(clippy::too_many_arguments)]
fn run_in(
    a: &InstrArgs,
    rig: &Rig,
    grpc: &GrpcAuthService,
    cases: &[InstrCase],
    binary: &Path,
    launcher: &Path,
    wasm: &Path,
    dir: &Path,
    started: Instant,
) -> Result<InstrReport, String> {
    let mut machine = crate::machine::Machine::probe(binary);
    let bootstrap = instr_bootstrap::compose(
        rig,
        cases,
        launcher,
        wasm,
        a.baseline.as_deref(),
        a.baseline_compat,
        Some(grpc.addr().port()),
    )?;
    let yaml = dir.join("bootstrap.yaml");
    std::fs::write(&yaml, bootstrap).map_err(|e| format!("writing {}: {e}", yaml.display()))?;
    let mut opts = EnvoyOptions::new(&callgrind::wrapper(dir, binary)?, wasm);
    opts.yaml = yaml;
    opts.wasm = None;
    opts.ports = PortMap::ephemeral(rig.auth.port(), rig.echo.port());
    opts.concurrency = 1;
    opts.log_level = "warning".into();
    opts.ready_timeout = READY_TIMEOUT;
    progress(&format!(
        "booting one Envoy under callgrind with {} listeners ({} mode, {} + {} requests each)",
        cases.len(),
        a.mode,
        a.warmup,
        a.requests
    ));
    let boot = Instant::now();
    let envoy = Envoy::start(&opts).map_err(|e| format!("Envoy under callgrind: {e}"))?;
    let addrs = listeners(&envoy)?;
    let boot_s = boot.elapsed().as_secs_f64();
    progress(&format!("ready after {boot_s:.1} s"));
    let window = Window {
        envoy: &envoy,
        rig,
        grpc,
        dir,
        requests: a.requests,
        warmup: a.warmup,
    };
    let pool = rig.pool()?;
    let mut rows = Vec::new();
    for c in cases {
        let addr = *addrs
            .get(&c.id())
            .ok_or_else(|| format!("Envoy has no listener {}", c.id()))?;
        let row = window.measure(c, addr, &request_for(c, pool))?;
        progress(&format!(
            "{:<28} {:>9.0} instructions/request  (JIT {:>8.0}, called from JIT {:>8.0})  callouts/req {:.2}  {:.1} s",
            row.id,
            row.instructions_per_req,
            row.self_by_object_per_req.get(JIT_OBJECT).copied().unwrap_or(0.0),
            row.jit_calls_out_per_req,
            row.callouts_per_req,
            row.seconds
        ));
        rows.push(row);
    }
    drop(envoy);
    machine.loadavg_after = crate::machine::loadavg();
    Ok(InstrReport::new(
        machine,
        a,
        wasm,
        boot_s,
        started.elapsed().as_secs_f64(),
        rows,
    ))
}
