//! `mesh_authz_core::host::Host` on proxy-wasm: the clock and the counters.

use crate::abi;
use mesh_authz_core::host::{Host, HostError, Metric};

/// Counter ids, defined once per VM. A counter the host refused to define stays `None` and is skipped.
#[derive(Debug, Clone, Copy, Default)]
pub struct Metrics([Option<u32>; Metric::ALL.len()]);

impl Metrics {
    pub fn define() -> Result<Metrics, (Metric, abi::HostStatus)> {
        let mut ids = [None; Metric::ALL.len()];
        for (slot, metric) in ids.iter_mut().zip(Metric::ALL) {
            *slot = Some(abi::define_counter(metric.name()).map_err(|s| (metric, s))?);
        }
        Ok(Metrics(ids))
    }
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
}
