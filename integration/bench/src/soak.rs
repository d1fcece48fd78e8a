//! The memory soak: many distinct credentials (each one a cache miss, a callout and a new entry)
//! through an Envoy with 2 workers and the checked-in cache bounds, sampling the VMs' memory
//! (`mesh_authz_vm_memory_bytes`, summed over the Envoy's VMs) and Envoy's resident memory every
//! `every` requests. Once the caches are full every new entry evicts an old one, so both must be
//! flat: the second half of the run may not end higher than the first half did.

use crate::conn::{get_with_bearer, Conn};
use mesh_authz_integration::auth::tokens::generated_token;
use mesh_authz_integration::auth::{AuthService, AuthState, Tokens};
use mesh_authz_integration::echo;
use mesh_authz_integration::envoy::{plugin_config_of, Envoy, EnvoyOptions, PortMap};
use serde::Serialize;
use std::net::SocketAddr;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

const THREADS: u64 = 4;
const SAMPLES: u64 = 20;
const WORKERS: u32 = 2;
const PREFIX: &str = "soak";
/// Growth from the first half's peak to the second half's that still counts as flat: VM linear
/// memory grows in 64 KiB pages and never shrinks; RSS moves with Envoy's own allocator too.
pub const VM_FLAT: f64 = 0.05;
pub const RSS_FLAT: f64 = 0.10;

#[derive(Debug, Clone, Serialize)]
pub struct SoakSample {
    pub requests: u64,
    pub seconds: f64,
    pub vm_memory_bytes: u64,
    pub rss_bytes: u64,
    pub cache_entries: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SoakReport {
    pub credentials: u64,
    pub every: u64,
    pub workers: u32,
    pub max_entries: u64,
    pub requests_per_second: f64,
    pub errors: u64,
    pub samples: Vec<SoakSample>,
    pub vm_first_half_peak: u64,
    pub vm_second_half_peak: u64,
    pub vm_growth: f64,
    pub rss_first_half_peak: u64,
    pub rss_second_half_peak: u64,
    pub rss_growth: f64,
    pub flat: bool,
}

fn growth(first: u64, second: u64) -> f64 {
    (second as f64 - first as f64) / first.max(1) as f64
}

/// Peaks of the first and second half of `values`.
fn halves(values: &[u64]) -> (u64, u64) {
    let (a, b) = values.split_at(values.len() / 2);
    (
        a.iter().copied().max().unwrap_or(0),
        b.iter().copied().max().unwrap_or(0),
    )
}

/// Sends credentials `from..to`, striped over `THREADS` keep-alive connections; returns errors.
fn send_range(addr: SocketAddr, from: u64, to: u64) -> u64 {
    thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                scope.spawn(move || {
                    let mut conn = Conn::new(addr);
                    let mut errors = 0;
                    for n in (from + t..to).step_by(THREADS as usize) {
                        let req = get_with_bearer("/soak", &generated_token(PREFIX, n));
                        if !matches!(conn.exchange(&req), Ok(200)) {
                            errors += 1;
                        }
                    }
                    errors
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(to - from))
            .sum()
    })
}

fn sample(envoy: &Envoy, requests: u64, started: Instant) -> Result<SoakSample, String> {
    let stats = envoy.stats().map_err(|e| e.to_string())?;
    let g = |n: &str| {
        stats
            .get(&format!("wasmcustom.mesh_authz_{n}"))
            .copied()
            .unwrap_or(0)
    };
    Ok(SoakSample {
        requests,
        seconds: started.elapsed().as_secs_f64(),
        vm_memory_bytes: g("vm_memory_bytes"),
        rss_bytes: crate::memory::rss_bytes(envoy.pid())?,
        cache_entries: g("cache_entries"),
    })
}

pub fn run(envoy_bin: &Path, wasm: &Path, credentials: u64) -> Result<SoakReport, String> {
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let state = AuthState::new(Tokens::example().with_generated(PREFIX), "/check");
    state.set_recording(false);
    let auth = AuthService::spawn(any, 2, state).map_err(|e| e.to_string())?;
    let echo = echo::spawn(any, 2).map_err(|e| e.to_string())?;
    let mut opts = EnvoyOptions::new(envoy_bin, wasm);
    opts.ports = PortMap::ephemeral(auth.port(), echo.port());
    opts.log_level = "warning".into();
    opts.concurrency = WORKERS;
    let config = plugin_config_of(&opts.yaml).map_err(|e| e.to_string())?;
    let max_entries = config
        .pointer("/cache/maxEntries")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    let envoy = Envoy::start(&opts).map_err(|e| e.to_string())?;
    let addr = envoy.listen_addr().map_err(|e| e.to_string())?;
    let every = (credentials / SAMPLES).max(1);
    let started = Instant::now();
    let mut samples = Vec::new();
    let mut errors = 0;
    let mut done = 0;
    while done < credentials {
        let to = (done + every).min(credentials);
        errors += send_range(addr, done, to);
        done = to;
        // The gauges are written once a second: wait for a reading that includes this segment.
        thread::sleep(Duration::from_millis(1100));
        let s = sample(&envoy, done, started)?;
        eprintln!(
            "soak: {:>8} credentials  VM {:>10} B  RSS {:>10} B  entries {:>6}",
            s.requests, s.vm_memory_bytes, s.rss_bytes, s.cache_entries
        );
        samples.push(s);
    }
    let busy = started.elapsed().as_secs_f64() - 1.1 * samples.len() as f64;
    let vm: Vec<u64> = samples.iter().map(|s| s.vm_memory_bytes).collect();
    let rss: Vec<u64> = samples.iter().map(|s| s.rss_bytes).collect();
    let (vm1, vm2) = halves(&vm);
    let (rss1, rss2) = halves(&rss);
    let (vm_growth, rss_growth) = (growth(vm1, vm2), growth(rss1, rss2));
    Ok(SoakReport {
        credentials,
        every,
        workers: WORKERS,
        max_entries,
        requests_per_second: credentials as f64 / busy.max(0.001),
        errors,
        samples,
        vm_first_half_peak: vm1,
        vm_second_half_peak: vm2,
        vm_growth,
        rss_first_half_peak: rss1,
        rss_second_half_peak: rss2,
        rss_growth,
        flat: vm_growth <= VM_FLAT && rss_growth <= RSS_FLAT && errors == 0,
    })
}

pub fn print(r: &SoakReport) {
    println!(
        "soak: {} distinct credentials through {} workers (cache maxEntries {} per VM), {:.0} req/s, {} errors, sampled every {}",
        r.credentials, r.workers, r.max_entries, r.requests_per_second, r.errors, r.every
    );
    println!(
        "  VM memory (sum over VMs) peak: first half {} B, second half {} B: {:+.2}% (flat if <= {:.0}%)",
        r.vm_first_half_peak,
        r.vm_second_half_peak,
        r.vm_growth * 100.0,
        VM_FLAT * 100.0
    );
    println!(
        "  Envoy RSS peak:               first half {} B, second half {} B: {:+.2}% (flat if <= {:.0}%)",
        r.rss_first_half_peak,
        r.rss_second_half_peak,
        r.rss_growth * 100.0,
        RSS_FLAT * 100.0
    );
    println!(
        "  {}",
        if r.flat {
            "flat at the cache bounds"
        } else {
            "NOT flat (or errors): see the samples"
        }
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_and_growth() {
        assert_eq!(halves(&[1, 5, 3, 4]), (5, 4));
        assert_eq!(halves(&[1, 2, 3]), (1, 3));
        assert!(growth(100, 104) <= VM_FLAT);
        assert!(growth(100, 120) > RSS_FLAT);
        assert!(growth(0, 0).abs() < 1e-9);
    }
}
