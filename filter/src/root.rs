//! A root context: one plugin configuration's request flow (`Flow`), its counters and gauges.

use crate::host::{Gauges, Metrics, ProxyHost};
use mesh_authz_core::Flow;

#[derive(Default)]
pub struct Root {
    pub flow: Flow,
    /// `None` until the first configuration defines them (or when the host refused).
    pub metrics: Option<Metrics>,
    pub gauges: Gauges,
}

impl Root {
    /// The core's view of the host, counting into this root's counters.
    pub fn host<'h, H>(&self, calls: &'h H) -> ProxyHost<'h, H> {
        ProxyHost {
            calls,
            metrics: self.metrics.unwrap_or_default(),
        }
    }
}
