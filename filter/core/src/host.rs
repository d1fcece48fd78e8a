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
    SharedHits,
    /// Requests refused for a dot segment in their path (also counted as denied).
    BadPaths,
    /// Expired decisions served because the callout failed (also counted as allowed or denied).
    StaleServed,
    /// Shadow mode: denials let through (also counted as denied).
    ShadowDenied,
    /// Shadow mode: errors `onError` would have denied, let through (also counted as errors).
    ShadowErrors,
    /// Requests answered 401 by the local token checks (also counted as denied).
    JwtRejected,
    /// Tokens whose signature was checked (a verified-token cache miss).
    JwtVerified,
    /// Tokens judged from the verified-token cache.
    JwtCacheHits,
    /// JWKS fetches that brought usable keys.
    JwksFetches,
    /// JWKS fetches that failed (the last good keys stay in use).
    JwksFetchFailures,
    /// Revocations applied from the feed (a flush counts as one).
    RevocationsApplied,
    /// Cached decisions not served because a revocation (or flush) came after them.
    RevocationDropped,
    /// Feed reads that brought a page.
    RevocationFetches,
    /// Feed reads that failed (cached decisions keep serving up to `maxStaleSeconds`).
    RevocationFetchFailures,
    /// Fields of a gRPC CheckResponse that mesh-authz does not apply (`headers_to_remove`,
    /// `response_headers_to_add`, query parameters, dynamic metadata): a policy relying on more
    /// than identity shows here.
    GrpcIgnoredFields,
}

impl Metric {
    pub const ALL: [Metric; 22] = [
        Metric::Allowed,
        Metric::Denied,
        Metric::Errors,
        Metric::Bypassed,
        Metric::CacheHits,
        Metric::CacheMisses,
        Metric::Callouts,
        Metric::SharedHits,
        Metric::BadPaths,
        Metric::StaleServed,
        Metric::ShadowDenied,
        Metric::ShadowErrors,
        Metric::JwtRejected,
        Metric::JwtVerified,
        Metric::JwtCacheHits,
        Metric::JwksFetches,
        Metric::JwksFetchFailures,
        Metric::RevocationsApplied,
        Metric::RevocationDropped,
        Metric::RevocationFetches,
        Metric::RevocationFetchFailures,
        Metric::GrpcIgnoredFields,
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
            Metric::SharedHits => "mesh_authz_shared_cache_hits",
            Metric::BadPaths => "mesh_authz_bad_paths",
            Metric::StaleServed => "mesh_authz_stale_served",
            Metric::ShadowDenied => "mesh_authz_shadow_denied",
            Metric::ShadowErrors => "mesh_authz_shadow_errors",
            Metric::JwtRejected => "mesh_authz_jwt_rejected",
            Metric::JwtVerified => "mesh_authz_jwt_verified",
            Metric::JwtCacheHits => "mesh_authz_jwt_cache_hits",
            Metric::JwksFetches => "mesh_authz_jwks_fetches",
            Metric::JwksFetchFailures => "mesh_authz_jwks_fetch_failures",
            Metric::RevocationsApplied => "mesh_authz_revocations_applied",
            Metric::RevocationDropped => "mesh_authz_revocation_dropped",
            Metric::RevocationFetches => "mesh_authz_revocation_fetches",
            Metric::RevocationFetchFailures => "mesh_authz_revocation_fetch_failures",
            Metric::GrpcIgnoredFields => "mesh_authz_grpc_ignored_fields",
        }
    }
}

/// The gauge a root context should set from `Follower::lag_ms` (seconds since the last good read
/// of the revocation feed). Every VM of an Envoy knows the same last good read, so one VM (or the
/// maximum) is the value: a sum over VMs, as the other gauges are kept, would not be.
pub const REVOCATION_LAG_GAUGE: &str = "mesh_authz_revocation_lag_seconds";

/// The histograms the filter exports (`mesh_authz_<name>` with `_bucket`s in Prometheus).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Histogram {
    /// From dispatch to answer: the auth service's latency as the filter sees it.
    CalloutDurationMs,
}

impl Histogram {
    pub const ALL: [Histogram; 1] = [Histogram::CalloutDurationMs];

    pub fn name(self) -> &'static str {
        match self {
            Histogram::CalloutDurationMs => "mesh_authz_callout_duration_ms",
        }
    }
}

/// A shared-data write that did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SharedError {
    /// Another worker wrote the slot since we read it: its entry stays.
    CasMismatch,
    Host(HostError),
}

pub trait Host {
    /// Wall-clock milliseconds, the same clock for every worker.
    fn now_ms(&self) -> Result<u64, HostError>;
    fn count(&self, metric: Metric);
    /// Counts `metric` `n` times at once.
    fn count_by(&self, metric: Metric, n: u32) {
        for _ in 0..n {
            self.count(metric);
        }
    }
    fn observe(&self, histogram: Histogram, value: u64);
    /// The value of a shared-data key and its CAS token; `None` if the key was never written.
    fn shared_get(&self, key: &str) -> Result<Option<(Vec<u8>, u32)>, HostError>;
    /// Writes a shared-data key if its CAS token is still `cas` (0: unconditionally).
    fn shared_set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), SharedError>;
    /// Calls a function the host registered (Envoy's `verify_signature`); an error when the host
    /// has none by that name or refused the arguments.
    fn call_foreign(&self, name: &str, args: &[u8]) -> Result<Vec<u8>, HostError> {
        let _ = (name, args);
        Err(HostError("no foreign functions".into()))
    }
    /// A property of the request the host is working on now (`["source", "address"]`), as the
    /// host spells it; `None` when it has none. Read only in gRPC mode, where the CheckRequest
    /// carries what the headers do not.
    fn property(&self, path: &[&str]) -> Result<Option<Vec<u8>>, HostError> {
        let _ = path;
        Ok(None)
    }
}

/// A host for tests: a clock they set, the counts they read, shared data as Envoy keeps it.
#[cfg(test)]
pub mod fake {
    use super::*;
    use std::cell::{Cell, RefCell};
    use std::collections::HashMap;
    use std::rc::Rc;

    /// Shared data as Envoy keeps it: values with a CAS token that changes on every write.
    pub type SharedData = Rc<RefCell<HashMap<String, (Vec<u8>, u32)>>>;

    #[derive(Default)]
    pub struct FakeHost {
        pub now: Cell<u64>,
        pub broken_clock: Cell<bool>,
        pub counts: RefCell<Vec<Metric>>,
        pub observed: RefCell<Vec<(Histogram, u64)>>,
        pub shared: SharedData,
        /// Properties by their dotted path (`source.address`).
        pub properties: RefCell<HashMap<String, Vec<u8>>>,
    }

    impl Host for FakeHost {
        fn now_ms(&self) -> Result<u64, HostError> {
            if self.broken_clock.get() {
                return Err(HostError("no clock".into()));
            }
            Ok(self.now.get())
        }
        fn count(&self, metric: Metric) {
            self.counts.borrow_mut().push(metric);
        }
        fn observe(&self, histogram: Histogram, value: u64) {
            self.observed.borrow_mut().push((histogram, value));
        }
        fn shared_get(&self, key: &str) -> Result<Option<(Vec<u8>, u32)>, HostError> {
            Ok(self.shared.borrow().get(key).cloned())
        }
        /// As Envoy does it: a key that exists is written only if `cas` is 0 or its CAS; a key
        /// that does not exist is created whatever `cas` says.
        fn shared_set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), SharedError> {
            let mut map = self.shared.borrow_mut();
            let current = map.get(key).map(|(_, c)| *c);
            if current.is_some_and(|c| cas != 0 && cas != c) {
                return Err(SharedError::CasMismatch);
            }
            map.insert(key.to_string(), (value.to_vec(), current.unwrap_or(0) + 1));
            Ok(())
        }
        fn property(&self, path: &[&str]) -> Result<Option<Vec<u8>>, HostError> {
            Ok(self.properties.borrow().get(&path.join(".")).cloned())
        }
    }

    impl FakeHost {
        pub fn count_of(&self, m: Metric) -> usize {
            self.counts.borrow().iter().filter(|x| **x == m).count()
        }
    }
}
