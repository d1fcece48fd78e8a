//! `mesh-authz-bench memory`: what a cached decision costs in memory, and how long Envoy takes from
//! start to a configured filter.
//!
//! Memory is read from the filter's own gauge `mesh_authz_vm_memory_bytes` (the VM's linear memory,
//! recorded once a second), so it is what the module really holds, allocator overhead and the
//! cache's hash table included. Two Envoys take the same N distinct credentials: one whose cache
//! holds them all, one whose cache holds one entry. The difference divided by the entries held is
//! the cost of one decision. The shared level lives in Envoy's shared data, outside the VM; its
//! cost is the difference in Envoy's resident memory with and without it.

use crate::conn::{get_with_bearer, Conn};
use mesh_authz_integration::auth::{AuthService, AuthState};
use mesh_authz_integration::echo;
use mesh_authz_integration::envoy::{plugin_config_of, Envoy, EnvoyOptions, PortMap};
use mesh_authz_integration::server::ServerHandle;
use serde::Serialize;
use std::net::SocketAddr;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

const THREADS: usize = 4;
const BOOTS: usize = 5;

#[derive(Debug, Serialize)]
pub struct MemoryReport {
    pub entries_requested: usize,
    pub entries_held: u64,
    pub vm_memory_full_bytes: u64,
    pub vm_memory_one_entry_bytes: u64,
    pub vm_bytes_per_entry: f64,
    pub shared_level_rss_bytes_per_entry: f64,
    pub module_bytes: u64,
    pub start_to_ready_ms_median: f64,
    pub start_to_ready_ms: Vec<f64>,
    pub requests_per_second_while_filling: f64,
    /// The soak through many more credentials than the cache holds (`--soak`, 0: skipped).
    pub soak: Option<crate::soak::SoakReport>,
}

struct Services {
    auth: AuthService,
    echo: ServerHandle,
    users: Vec<String>,
}

fn services(entries: usize) -> Result<Services, String> {
    let (tokens, users) = crate::rig::user_tokens(entries, "mem-user");
    let state = AuthState::new(tokens, "/check");
    state.set_recording(false);
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let auth = AuthService::spawn(any, 2, state).map_err(|e| e.to_string())?;
    let echo = echo::spawn(any, 2).map_err(|e| e.to_string())?;
    Ok(Services { auth, echo, users })
}

fn boot(
    s: &Services,
    envoy: &Path,
    wasm: &Path,
    max_entries: usize,
    shared_slots: usize,
) -> Result<Envoy, String> {
    let mut opts = EnvoyOptions::new(envoy, wasm);
    opts.ports = PortMap::ephemeral(s.auth.port(), s.echo.port());
    opts.log_level = "warning".into();
    let mut config = plugin_config_of(&opts.yaml).map_err(|e| e.to_string())?;
    let cache = serde_json::json!({
        "enabled": true, "maxEntries": max_entries, "allowTtlSeconds": 300, "maxTtlSeconds": 300,
        "sharedSlots": shared_slots
    });
    config
        .as_object_mut()
        .ok_or("the checked-in plugin config is not a JSON object")?
        .insert("cache".into(), cache);
    opts.plugin_config = Some(config.to_string());
    Envoy::start(&opts).map_err(|e| e.to_string())
}

/// Sends one request per user over `THREADS` keep-alive connections; returns requests per second.
fn fill(envoy: &Envoy, users: &[String]) -> Result<f64, String> {
    let addr = envoy.listen_addr().map_err(|e| e.to_string())?;
    let started = Instant::now();
    let chunk = users.len().div_ceil(THREADS).max(1);
    let results: Vec<Result<(), String>> = thread::scope(|scope| {
        let handles: Vec<_> = users
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    let mut conn = Conn::new(addr);
                    for token in part {
                        let status = conn
                            .exchange(&get_with_bearer("/mem", token))
                            .map_err(|e| e.to_string())?;
                        if status != 200 {
                            return Err(format!("status {status} while filling the cache"));
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("filler thread died".into()))
            })
            .collect()
    });
    results.into_iter().collect::<Result<Vec<()>, String>>()?;
    Ok(users.len() as f64 / started.elapsed().as_secs_f64())
}

/// The filter's gauges once their next recording (once a second) has happened.
fn settled_gauge(envoy: &Envoy, name: &str) -> Result<u64, String> {
    thread::sleep(Duration::from_millis(1300));
    envoy
        .counter(&format!("wasmcustom.mesh_authz_{name}"))
        .map_err(|e| e.to_string())
}

pub fn rss_bytes(pid: u32) -> Result<u64, String> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| e.to_string())?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| "no VmRSS".to_string())
}

pub fn run(
    envoy: &Path,
    wasm: &Path,
    entries: usize,
    soak_credentials: u64,
) -> Result<MemoryReport, String> {
    let s = services(entries)?;
    let module_bytes = std::fs::metadata(wasm).map_err(|e| e.to_string())?.len();

    let mut start_ms = Vec::with_capacity(BOOTS);
    for _ in 0..BOOTS {
        let t = Instant::now();
        let e = boot(&s, envoy, wasm, 10_000, 10_000)?;
        start_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        drop(e);
    }
    let mut sorted = start_ms.clone();
    sorted.sort_by(f64::total_cmp);
    let start_median = sorted.get(sorted.len() / 2).copied().unwrap_or_default();

    eprintln!("filling a {entries}-entry cache (shared level off) ...");
    let full = boot(&s, envoy, wasm, entries, 0)?;
    let rps = fill(&full, &s.users)?;
    let held = settled_gauge(&full, "cache_entries")?;
    let full_mem = settled_gauge(&full, "vm_memory_bytes")?;
    let full_rss = rss_bytes(full.pid())?;
    drop(full);

    eprintln!("the same traffic into a 1-entry cache ...");
    let one = boot(&s, envoy, wasm, 1, 0)?;
    fill(&one, &s.users)?;
    let one_mem = settled_gauge(&one, "vm_memory_bytes")?;
    drop(one);

    eprintln!("the same traffic with the shared level on ...");
    let shared = boot(&s, envoy, wasm, entries, entries)?;
    fill(&shared, &s.users)?;
    settled_gauge(&shared, "cache_entries")?;
    let shared_rss = rss_bytes(shared.pid())?;
    drop(shared);

    let soak = if soak_credentials > 0 {
        eprintln!(
            "soak: {soak_credentials} distinct credentials, 2 workers, checked-in cache bounds ..."
        );
        Some(crate::soak::run(envoy, wasm, soak_credentials)?)
    } else {
        None
    };

    let per_entry = full_mem.saturating_sub(one_mem) as f64 / held.max(1) as f64;
    let shared_per_entry = shared_rss.saturating_sub(full_rss) as f64 / held.max(1) as f64;
    Ok(MemoryReport {
        entries_requested: entries,
        entries_held: held,
        vm_memory_full_bytes: full_mem,
        vm_memory_one_entry_bytes: one_mem,
        vm_bytes_per_entry: per_entry,
        shared_level_rss_bytes_per_entry: shared_per_entry,
        module_bytes,
        start_to_ready_ms_median: start_median,
        start_to_ready_ms: start_ms,
        requests_per_second_while_filling: rps,
        soak,
    })
}

pub fn print(r: &MemoryReport) {
    println!(
        "cache entries held            {:>10}  (of {} distinct credentials)",
        r.entries_held, r.entries_requested
    );
    println!(
        "VM memory, full cache         {:>10} bytes",
        r.vm_memory_full_bytes
    );
    println!(
        "VM memory, 1-entry cache      {:>10} bytes",
        r.vm_memory_one_entry_bytes
    );
    println!(
        "VM memory per cached decision {:>10.1} bytes",
        r.vm_bytes_per_entry
    );
    println!(
        "shared level, Envoy RSS/entry {:>10.1} bytes",
        r.shared_level_rss_bytes_per_entry
    );
    println!("module size                   {:>10} bytes", r.module_bytes);
    println!(
        "Envoy start to configured filter ready: median {:.0} ms over {} boots ({:?})",
        r.start_to_ready_ms_median,
        r.start_to_ready_ms.len(),
        r.start_to_ready_ms
            .iter()
            .map(|m| m.round() as u64)
            .collect::<Vec<_>>()
    );
    if let Some(soak) = &r.soak {
        crate::soak::print(soak);
    }
}
