//! What the core needs from the proxy, behind a trait: the adapter implements it on proxy-wasm
//! hostcalls, tests fake it. Every call can fail; the core degrades (a miss, an uncounted event)
//! rather than failing a request.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostError(pub String);

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The counters the filter exports (as Envoy stats `wasmcustom.mesh_authz_<name>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Allowed,
    Denied,
    Errors,
    Bypassed,
    CacheHits,
    CacheMisses,
    Callouts,
}

impl Metric {
    pub const ALL: [Metric; 7] = [
        Metric::Allowed,
        Metric::Denied,
        Metric::Errors,
        Metric::Bypassed,
        Metric::CacheHits,
        Metric::CacheMisses,
        Metric::Callouts,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Metric::Allowed => "mesh_authz_allowed",
            Metric::Denied => "mesh_authz_denied",
            Metric::Errors => "mesh_authz_errors",
            Metric::Bypassed => "mesh_authz_bypassed",
            Metric::CacheHits => "mesh_authz_cache_hits",
            Metric::CacheMisses => "mesh_authz_cache_misses",
            Metric::Callouts => "mesh_authz_callouts",
        }
    }
}

pub trait Host {
    /// Wall-clock milliseconds; only differences matter.
    fn now_ms(&self) -> Result<u64, HostError>;
    fn count(&self, metric: Metric);
}
