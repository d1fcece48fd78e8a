//! `mesh-authz-bench startup`: Envoy start to ready and the memory the filter's VMs take, at 1, 2
//! and 4 workers. Each worker runs its own VM (and the main thread one more), so the memory is
//! Envoy's with the filter minus Envoy's without it (passthrough) at the same worker count, divided
//! by the VMs Envoy reports as active.

use crate::rig::{Case, Rig};
use crate::variant::{MixedWorkload, Variant};
use mesh_authz_integration::envoy::Envoy;
use serde::Serialize;
use std::path::Path;
use std::time::{Duration, Instant};

const BOOTS: usize = 3;

#[derive(Debug, Serialize)]
pub struct StartupRow {
    pub workers: u32,
    pub ready_ms_median: f64,
    pub ready_ms_passthrough_median: f64,
    pub rss_bytes: u64,
    pub rss_passthrough_bytes: u64,
    /// `/memory`'s `allocated`, with and without the filter.
    pub allocated_bytes: u64,
    pub allocated_passthrough_bytes: u64,
    pub active_vms: u64,
    /// RSS with the filter minus RSS without it, over the VMs: an average that includes V8's
    /// fixed cost, which does not grow with workers (compare the rows for the marginal cost).
    pub rss_per_vm_bytes: f64,
    /// The filter's own gauge: one VM's linear memory.
    pub vm_linear_memory_bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct StartupReport {
    pub date_utc: String,
    pub source: String,
    pub module_bytes: u64,
    pub rows: Vec<StartupRow>,
}

struct Booted {
    ready_ms: f64,
    rss: u64,
    allocated: u64,
    active_vms: u64,
    vm_memory: u64,
}

fn boot_once(rig: &Rig, case: Case, envoy: &Path, wasm: &Path) -> Result<Booted, String> {
    let opts = rig.options(&case, envoy, wasm).map_err(|e| e.to_string())?;
    let t = Instant::now();
    let e = Envoy::start(&opts).map_err(|e| e.to_string())?;
    let ready_ms = t.elapsed().as_secs_f64() * 1000.0;
    let addr = e.listen_addr().map_err(|e| e.to_string())?;
    let mut conn = crate::conn::Conn::new(addr);
    for _ in 0..20 {
        let req = crate::conn::get_with_bearer(crate::rig::PATH, crate::rig::TOKEN);
        let _ = conn.exchange(&req);
    }
    // The filter records its gauges once a second.
    std::thread::sleep(Duration::from_millis(1300));
    let stats = e.stats().map_err(|e| e.to_string())?;
    let active_vms = stats
        .iter()
        .filter(|(k, _)| k.starts_with("wasm.") && k.ends_with(".active"))
        .map(|(_, v)| *v)
        .sum();
    let vm_memory = stats
        .get("wasmcustom.mesh_authz_vm_memory_bytes")
        .copied()
        .unwrap_or(0);
    let memory: serde_json::Value = e
        .admin_get("/memory")
        .map_err(|e| e.to_string())?
        .json()
        .map_err(|e| e.to_string())?;
    let field = memory.get("allocated");
    let allocated = field
        .and_then(|a| a.as_str())
        .and_then(|s| s.parse().ok())
        .or_else(|| field.and_then(|a| a.as_u64()))
        .unwrap_or(0);
    Ok(Booted {
        ready_ms,
        rss: crate::memory::rss_bytes(e.pid())?,
        allocated,
        active_vms,
        vm_memory,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The median boot of `BOOTS` and the memory of the last one.
fn boot(rig: &Rig, case: Case, envoy: &Path, wasm: &Path) -> Result<(f64, Booted), String> {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..BOOTS {
        let b = boot_once(rig, case, envoy, wasm)?;
        times.push(b.ready_ms);
        last = Some(b);
    }
    Ok((median(times), last.ok_or("no boot")?))
}

pub fn run(envoy: &Path, wasm: &Path, workers: &[u32]) -> Result<StartupReport, String> {
    let rig = Rig::new(MixedWorkload::default(), 2, None).map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    for &w in workers {
        let (ready, with) = boot(
            &rig,
            Case {
                variant: Variant::Hit,
                workers: w,
            },
            envoy,
            wasm,
        )?;
        let (ready_pass, without) = boot(
            &rig,
            Case {
                variant: Variant::Passthrough,
                workers: w,
            },
            envoy,
            wasm,
        )?;
        let row = StartupRow {
            workers: w,
            ready_ms_median: ready,
            ready_ms_passthrough_median: ready_pass,
            rss_bytes: with.rss,
            rss_passthrough_bytes: without.rss,
            allocated_bytes: with.allocated,
            allocated_passthrough_bytes: without.allocated,
            active_vms: with.active_vms,
            rss_per_vm_bytes: with.rss.saturating_sub(without.rss) as f64
                / with.active_vms.max(1) as f64,
            vm_linear_memory_bytes: with.vm_memory,
        };
        println!(
            "{w} worker(s): ready {:.0} ms (passthrough {:.0} ms); RSS {:.1} MiB vs {:.1} MiB without the filter (+{:.1} MiB, {} VMs active); allocated {:.1} vs {:.1} MiB; filter's VM memory gauge {:.1} MiB",
            row.ready_ms_median,
            row.ready_ms_passthrough_median,
            mib(row.rss_bytes),
            mib(row.rss_passthrough_bytes),
            mib(row.rss_bytes.saturating_sub(row.rss_passthrough_bytes)),
            row.active_vms,
            mib(row.allocated_bytes),
            mib(row.allocated_passthrough_bytes),
            mib(row.vm_linear_memory_bytes)
        );
        rows.push(row);
    }
    let machine = crate::machine::Machine::probe(envoy);
    Ok(StartupReport {
        date_utc: machine.date_utc,
        source: machine.source,
        module_bytes: std::fs::metadata(wasm).map(|m| m.len()).unwrap_or(0),
        rows,
    })
}

fn mib(b: u64) -> f64 {
    b as f64 / 1048576.0
}
