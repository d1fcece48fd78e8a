//! `mesh_authz_core::host::Host` on proxy-wasm: the clock and the counters; and the gauges the root
//! context records once a second.

use crate::abi;
use mesh_authz_core::host::{Host, HostError, Metric, SharedError};

/// Counter ids, defined once per root context. One the host refused stays `None` and is skipped.
#[derive(Debug, Clone, Copy, Default)]
pub struct Metrics([Option<u32>; Metric::ALL.len()]);

impl Metrics {
    pub fn define() -> Result<Metrics, (&'static str, abi::HostStatus)> {
        let mut ids = [None; Metric::ALL.len()];
        for (slot, metric) in ids.iter_mut().zip(Metric::ALL) {
            *slot = Some(abi::define_counter(metric.name()).map_err(|s| (metric.name(), s))?);
        }
        Ok(Metrics(ids))
    }
}

/// Gauges: decisions in this VM's cache, its linear memory (to see what the cache costs), callouts
/// in flight and requests waiting on them (both back to 0 when traffic stops, or something leaked).
#[derive(Debug, Clone, Copy, Default)]
pub struct Gauges {
    pub cache_entries: Option<u32>,
    pub memory_bytes: Option<u32>,
    pub in_flight: Option<u32>,
    pub waiting: Option<u32>,
}

/// What the gauges show at one tick.
pub struct GaugeValues {
    pub cache_entries: usize,
    pub in_flight: usize,
    pub waiting: usize,
}

impl Gauges {
    pub fn define() -> Gauges {
        Gauges {
            cache_entries: abi::define_gauge("mesh_authz_cache_entries").ok(),
            memory_bytes: abi::define_gauge("mesh_authz_vm_memory_bytes").ok(),
            in_flight: abi::define_gauge("mesh_authz_callouts_in_flight").ok(),
            waiting: abi::define_gauge("mesh_authz_requests_waiting").ok(),
        }
    }

    pub fn record(&self, v: &GaugeValues) {
        let values = [
            (self.cache_entries, v.cache_entries as u64),
            (self.memory_bytes, memory_bytes()),
            (self.in_flight, v.in_flight as u64),
            (self.waiting, v.waiting as u64),
        ];
        for (id, value) in values {
            if let Some(id) = id {
                let _ = abi::record(id, value);
            }
        }
    }
}

#[cfg(target_arch = "wasm32")]
fn memory_bytes() -> u64 {
    core::arch::wasm32::memory_size(0) as u64 * 65_536
}

#[cfg(not(target_arch = "wasm32"))]
fn memory_bytes() -> u64 {
    0
}

#[derive(Debug, Clone, Copy)]
pub struct ProxyHost {
    pub metrics: Metrics,
}

impl Host for ProxyHost {
    fn now_ms(&self) -> Result<u64, HostError> {
        abi::now_nanos()
            .map(|ns| ns / 1_000_000)
            .map_err(|s| HostError(format!("clock: {s}")))
    }

    fn count(&self, metric: Metric) {
        let index = Metric::ALL.iter().position(|m| *m == metric);
        if let Some(id) = index.and_then(|i| self.metrics.0.get(i).copied().flatten()) {
            let _ = abi::increment(id, 1);
        }
    }

    fn shared_get(&self, key: &str) -> Result<Option<(Vec<u8>, u32)>, HostError> {
        abi::shared_get(key).map_err(|s| HostError(format!("shared data: {s}")))
    }

    fn shared_set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), SharedError> {
        abi::shared_set(key, value, cas).map_err(|s| match s.0 {
            abi::CAS_MISMATCH => SharedError::CasMismatch,
            _ => SharedError::Host(HostError(format!("shared data: {s}"))),
        })
    }
}
