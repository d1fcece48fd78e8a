//! The JSON users write, field for field. Defaults live here; checks live in `config::mod`.

use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub auth_service: Option<RawAuthService>,
    #[serde(default)]
    pub identity_headers: Vec<String>,
    #[serde(default = "default_deny_headers")]
    pub deny_headers: Vec<String>,
    #[serde(default = "default_max_deny_body_bytes")]
    pub max_deny_body_bytes: u32,
    #[serde(default)]
    pub cache: RawCache,
    #[serde(default)]
    pub on_error: RawOnError,
    #[serde(default)]
    pub mode: RawMode,
    #[serde(default = "yes")]
    pub access_log: bool,
    #[serde(default)]
    pub bypass: Vec<RawBypass>,
    #[serde(default)]
    pub jwt: Option<crate::jwt::raw::RawJwt>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawAuthService {
    pub cluster: String,
    #[serde(default)]
    pub authority: Option<String>,
    #[serde(default)]
    pub path_prefix: String,
    #[serde(default = "yes")]
    pub include_request_path: bool,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u32,
    #[serde(default = "default_forward_headers")]
    pub forward_headers: Vec<String>,
    #[serde(default = "default_trace_headers")]
    pub trace_headers: Vec<String>,
    #[serde(default)]
    pub add_headers: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawCache {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "default_max_entries")]
    pub max_entries: u32,
    #[serde(default = "default_allow_ttl")]
    pub allow_ttl_seconds: u32,
    #[serde(default = "default_deny_ttl")]
    pub deny_ttl_seconds: u32,
    #[serde(default = "default_max_ttl")]
    pub max_ttl_seconds: u32,
    /// Bytes the per-VM cache may hold (entries counted as in `cache::ENTRY_OVERHEAD_BYTES`).
    #[serde(default = "default_cache_max_bytes")]
    pub max_bytes: u32,
    /// Slots of the level shared by all workers; default: `maxEntries`; 0 turns it off.
    #[serde(default)]
    pub shared_slots: Option<u32>,
    /// Seconds after its expiry a decision may still serve when the callout fails; 0: never.
    #[serde(default)]
    pub stale_if_error_seconds: u32,
}

impl Default for RawCache {
    fn default() -> Self {
        RawCache {
            enabled: true,
            max_entries: default_max_entries(),
            allow_ttl_seconds: default_allow_ttl(),
            deny_ttl_seconds: default_deny_ttl(),
            max_ttl_seconds: default_max_ttl(),
            max_bytes: default_cache_max_bytes(),
            shared_slots: None,
            stale_if_error_seconds: 0,
        }
    }
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum RawErrorMode {
    Deny,
    Allow,
}

/// `onError`: `mode` and `status` are the defaults; each cause may override either. A status is
/// kept optional here so that one given beside `"mode": "allow"` can be refused.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawOnError {
    #[serde(default)]
    pub mode: Option<RawErrorMode>,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub timeout: Option<RawErrorPolicy>,
    #[serde(default)]
    pub unreachable: Option<RawErrorPolicy>,
    #[serde(default)]
    pub server_error: Option<RawErrorPolicy>,
    #[serde(default)]
    pub malformed: Option<RawErrorPolicy>,
    #[serde(default)]
    pub jwks: Option<RawErrorPolicy>,
}

#[derive(Debug, Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawErrorPolicy {
    #[serde(default)]
    pub mode: Option<RawErrorMode>,
    #[serde(default)]
    pub status: Option<u16>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub enum RawMode {
    #[default]
    Enforce,
    Shadow,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawBypass {
    #[serde(default)]
    pub path_prefix: Option<String>,
    #[serde(default)]
    pub method: Option<String>,
    /// Only a CORS preflight: `OPTIONS` with `origin` and `access-control-request-method`.
    #[serde(default)]
    pub cors_preflight: bool,
}

fn yes() -> bool {
    true
}
fn default_timeout_ms() -> u32 {
    200
}
fn default_max_deny_body_bytes() -> u32 {
    8192
}
fn default_max_entries() -> u32 {
    10_000
}
fn default_allow_ttl() -> u32 {
    60
}
fn default_deny_ttl() -> u32 {
    5
}
fn default_max_ttl() -> u32 {
    300
}
fn default_cache_max_bytes() -> u32 {
    32 << 20
}
fn strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| (*s).to_string()).collect()
}
fn default_forward_headers() -> Vec<String> {
    strings(&["authorization", "cookie"])
}
fn default_trace_headers() -> Vec<String> {
    strings(&[
        "x-request-id",
        "traceparent",
        "tracestate",
        "x-b3-traceid",
        "x-b3-spanid",
        "x-b3-parentspanid",
        "x-b3-sampled",
        "x-b3-flags",
        "b3",
    ])
}
fn default_deny_headers() -> Vec<String> {
    strings(&["www-authenticate", "location", "set-cookie", "content-type"])
}
