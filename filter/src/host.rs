//! The core's `Host` (clock, counters, shared data) on the adapter's hostcalls, and the gauges the
//! root context updates once a second.

use crate::abi::{HostStatus, CAS_MISMATCH, COUNTER, GAUGE, HISTOGRAM};
use crate::hostcalls::Hostcalls;
use mesh_authz_core::host::{Histogram, Host, HostError, Metric, SharedError};

/// Counter and histogram ids, defined once per root context. One the host refused stays `None`
/// and is skipped.
#[derive(Debug, Clone, Copy, Default)]
pub struct Metrics {
    counters: [Option<u32>; Metric::ALL.len()],
    histograms: [Option<u32>; Histogram::ALL.len()],
}

impl Metrics {
    pub fn define(h: &impl Hostcalls) -> Result<Metrics, (&'static str, HostStatus)> {
        let mut m = Metrics::default();
        for (slot, metric) in m.counters.iter_mut().zip(Metric::ALL) {
            *slot = Some(
                h.define_metric(COUNTER, metric.name())
                    .map_err(|s| (metric.name(), s))?,
            );
        }
        for (slot, histogram) in m.histograms.iter_mut().zip(Histogram::ALL) {
            *slot = Some(
                h.define_metric(HISTOGRAM, histogram.name())
                    .map_err(|s| (histogram.name(), s))?,
            );
        }
        Ok(m)
    }
}

/// Gauges: decisions in the cache, linear memory (to see what the cache costs), callouts in flight
/// and requests waiting on them (both back to 0 when traffic stops, or something leaked).
///
/// Envoy runs one VM per worker thread (and one on the main thread), all writing the same gauge
/// names; a gauge each VM *set* would show whichever wrote last. So each VM adds the change since
/// its own last reading, and a gauge is the sum over every VM of the Envoy.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gauges {
    ids: [Option<u32>; 4],
    /// What this VM last added to each gauge, in total.
    shown: [u64; 4],
    /// `mesh_authz_revocation_lag_seconds` (0 while no revocation feed is followed). Unlike the
    /// others it is *set*: every VM knows the same last good read (shared data), so a sum over
    /// VMs would multiply it, and whichever VM set it last is right.
    lag: Option<u32>,
}

const GAUGE_NAMES: [&str; 4] = [
    "mesh_authz_cache_entries",
    "mesh_authz_vm_memory_bytes",
    "mesh_authz_callouts_in_flight",
    "mesh_authz_requests_waiting",
];

impl Gauges {
    pub fn define(h: &impl Hostcalls) -> Gauges {
        Gauges {
            ids: GAUGE_NAMES.map(|name| h.define_metric(GAUGE, name).ok()),
            shown: [0; 4],
            lag: h
                .define_metric(GAUGE, mesh_authz_core::host::REVOCATION_LAG_GAUGE)
                .ok(),
        }
    }

    pub fn record(&mut self, h: &impl Hostcalls, v: &mesh_authz_core::flow::Gauges) {
        self.show(
            h,
            [
                v.cache_entries as u64,
                h.memory_bytes(),
                v.in_flight as u64,
                v.waiting as u64,
            ],
        );
        if let (Some(lag_ms), Some(id)) = (v.revocation_lag_ms, self.lag) {
            let _ = h.record_metric(id, lag_ms / 1000);
        }
    }

    /// Takes this VM's share back out (its root context is going away).
    pub fn withdraw(&mut self, h: &impl Hostcalls) {
        self.show(h, [0; 4]);
    }

    fn show(&mut self, h: &impl Hostcalls, values: [u64; 4]) {
        for ((id, shown), value) in self.ids.iter().zip(self.shown.iter_mut()).zip(values) {
            let Some(id) = id else { continue };
            let delta = i64::try_from(value).unwrap_or(i64::MAX)
                - i64::try_from(*shown).unwrap_or(i64::MAX);
            if delta != 0 && h.increment(*id, delta).is_ok() {
                *shown = value;
            }
        }
    }
}

/// The core's view of the host, for one root context's counters.
pub struct ProxyHost<'h, H> {
    pub calls: &'h H,
    pub metrics: Metrics,
}

impl<H: Hostcalls> Host for ProxyHost<'_, H> {
    fn now_ms(&self) -> Result<u64, HostError> {
        self.calls
            .now_nanos()
            .map(|ns| ns / 1_000_000)
            .map_err(|s| HostError(format!("clock: {s}")))
    }

    fn count(&self, metric: Metric) {
        let index = Metric::ALL.iter().position(|m| *m == metric);
        if let Some(id) = index.and_then(|i| self.metrics.counters.get(i).copied().flatten()) {
            let _ = self.calls.increment(id, 1);
        }
    }

    fn observe(&self, histogram: Histogram, value: u64) {
        let index = Histogram::ALL.iter().position(|h| *h == histogram);
        if let Some(id) = index.and_then(|i| self.metrics.histograms.get(i).copied().flatten()) {
            let _ = self.calls.record_metric(id, value);
        }
    }

    fn shared_get(&self, key: &str) -> Result<Option<(Vec<u8>, u32)>, HostError> {
        self.calls
            .shared_get(key)
            .map_err(|s| HostError(format!("shared data: {s}")))
    }

    fn count_by(&self, metric: Metric, n: u32) {
        let index = Metric::ALL.iter().position(|m| *m == metric);
        if let Some(id) = index.and_then(|i| self.metrics.counters.get(i).copied().flatten()) {
            let _ = self.calls.increment(id, i64::from(n));
        }
    }

    fn property(&self, path: &[&str]) -> Result<Option<Vec<u8>>, HostError> {
        self.calls
            .property(path)
            .map_err(|s| HostError(format!("property {}: {s}", path.join("."))))
    }

    fn call_foreign(&self, name: &str, args: &[u8]) -> Result<Vec<u8>, HostError> {
        self.calls
            .call_foreign(name, args)
            .map_err(|s| HostError(format!("{name}: {s}")))
    }

    fn shared_set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), SharedError> {
        self.calls
            .shared_set(key, value, cas)
            .map_err(|s| match s.0 {
                CAS_MISMATCH => SharedError::CasMismatch,
                _ => SharedError::Host(HostError(format!("shared data: {s}"))),
            })
    }
}
