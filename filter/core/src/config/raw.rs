//! The JSON users write, field for field. Defaults live here; checks live in `config::mod`.

use serde::Deserialize;
use std::collections::BTreeMap;

/// The plugin configuration of mesh-authz (a WasmPlugin's `pluginConfig`, or the JSON of an
/// Envoy wasm filter's `configuration`).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "MeshAuthzConfig"))]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawConfig {
    /// The service asked for a decision. Required, except in `jwt.mode: authenticate`, which
    /// never calls out.
    #[serde(default)]
    pub auth_service: Option<RawAuthService>,
    /// Headers stripped from every incoming request under every spelling (case ignored, `_` is
    /// `-`) and set from the auth service's allow answer.
    #[serde(default)]
    pub identity_headers: Vec<String>,
    /// The only auth-service headers a denied client sees.
    #[serde(default = "default_deny_headers")]
    pub deny_headers: Vec<String>,
    /// Longest deny body passed on to the client, at most 1048576.
    #[serde(default = "default_max_deny_body_bytes")]
    pub max_deny_body_bytes: u32,
    /// The decision cache: per worker VM, and a level shared by all workers.
    #[serde(default)]
    pub cache: RawCache,
    /// What a request gets when the auth service gives no decision, by cause.
    #[serde(default)]
    pub on_error: RawOnError,
    /// `enforce` answers denies and errors; `shadow` decides, caches, counts and logs the same but
    /// lets denied and failed requests go on (without identity).
    #[serde(default)]
    pub mode: RawMode,
    /// Record each decision as filter state (`wasm.mesh_authz.outcome`, ...) for Envoy's access log.
    #[serde(default = "yes")]
    pub access_log: bool,
    /// `fields`: four properties (`wasm.mesh_authz.outcome`, `.cached`, `.auth_status`, `.user`);
    /// `json`: one (`wasm.mesh_authz`), a JSON object of the same four, at about a quarter of the
    /// cost per request.
    #[serde(default)]
    pub access_log_format: RawAccessLogFormat,
    /// Requests that skip the callout; every field of a rule must match.
    #[serde(default)]
    pub bypass: Vec<RawBypass>,
    /// Local token checks (JWT); absent: tokens are not checked in the proxy.
    #[serde(default)]
    pub jwt: Option<crate::jwt::raw::RawJwt>,
    /// A feed of revocations the auth service publishes: a cached decision for a revoked subject
    /// (or every one, on a flush) is dropped within about `intervalMs`. Absent: no feed.
    #[serde(default)]
    pub revocation: Option<crate::revocation::config::RawRevocation>,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "AuthService"))]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawAuthService {
    /// `http` (default): Envoy ext_authz's HTTP flavour. `grpc`:
    /// `envoy.service.auth.v3.Authorization/Check` (OPA's Envoy plugin, Authorino); `cluster` must
    /// then be an HTTP/2 cluster, and `pathPrefix` and `includeRequestPath` do not apply.
    #[serde(default)]
    pub protocol: RawProtocol,
    /// Envoy cluster of the auth service; under Istio `outbound|PORT||FQDN`.
    pub cluster: String,
    /// `:authority` of the callout; default: the FQDN of an Istio cluster name, otherwise required.
    #[serde(default)]
    pub authority: Option<String>,
    /// Prepended to the request path: a plain path (starts with `/`; no `%`, `;`, `\`, `?`, `#`
    /// or dot segment), not ending with `/` while `includeRequestPath` is true. Default: none.
    /// HTTP only.
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// `false`: the callout path is exactly `pathPrefix` (or `/`), and the cache is per credential
    /// instead of per path. Default: `true`. HTTP only.
    #[serde(default)]
    pub include_request_path: Option<bool>,
    /// Callout timeout in milliseconds, 1 to 60000.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u32,
    /// Request headers sent to the service; they decide, so they are part of the cache key.
    #[serde(default = "default_forward_headers")]
    pub forward_headers: Vec<String>,
    /// Forwarded for correlation only, never in the cache key; not also in `forwardHeaders`.
    #[serde(default = "default_trace_headers")]
    pub trace_headers: Vec<String>,
    /// Fixed headers added to every callout (name to value); values are never logged.
    #[serde(default)]
    pub add_headers: BTreeMap<String, String>,
    /// gRPC only: sent as the CheckRequest's `attributes.context_extensions` (at most 32 entries,
    /// each name and value together at most 1024 bytes); values are never logged.
    #[serde(default)]
    pub context_extensions: BTreeMap<String, String>,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "Protocol"))]
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub enum RawProtocol {
    /// Envoy ext_authz's HTTP check request.
    #[default]
    Http,
    /// `envoy.service.auth.v3.Authorization/Check` over gRPC.
    Grpc,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "Cache"))]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawCache {
    /// `false`: every request calls out (and none waits on another's callout).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Decisions kept per worker VM, least recently used evicted first (1 to 10000000).
    #[serde(default = "default_max_entries")]
    pub max_entries: u32,
    /// How long an allow is kept, unless the service's `Cache-Control: max-age` says otherwise.
    #[serde(default = "default_allow_ttl")]
    pub allow_ttl_seconds: u32,
    /// How long a 401 or 403 is kept; other denials are never cached.
    #[serde(default = "default_deny_ttl")]
    pub deny_ttl_seconds: u32,
    /// Cap on any TTL, `max-age` included; the two TTLs above may not exceed it.
    #[serde(default = "default_max_ttl")]
    pub max_ttl_seconds: u32,
    /// Bytes the decision cache may hold per worker VM (65536 to 1073741824).
    #[serde(default = "default_cache_max_bytes")]
    pub max_bytes: u32,
    /// Slots of the level shared by all workers; default: `maxEntries`; 0 turns it off.
    #[serde(default)]
    pub shared_slots: Option<u32>,
    /// Seconds after its expiry a decision may still serve when the callout fails (0 to 86400;
    /// 0: never).
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

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "ErrorMode"))]
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum RawErrorMode {
    /// Answer with `status`.
    Deny,
    /// Let the request go on, without identity.
    Allow,
}

/// `onError`: `mode` and `status` are the defaults; each cause may override either and inherits
/// what it omits.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "OnError"))]
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawOnError {
    /// `deny` (default) or `allow` when the auth service gives no decision.
    #[serde(default)]
    pub mode: Option<RawErrorMode>,
    /// Status of the deny answer, 400 to 599 (default 503). Beside `"mode": "allow"` it only
    /// serves causes set to deny; with none it is ignored (a warning at load).
    #[serde(default)]
    pub status: Option<u16>,
    /// The callout timed out (`authService.timeoutMs`).
    #[serde(default)]
    pub timeout: Option<RawErrorPolicy>,
    /// No connection to the auth service.
    #[serde(default)]
    pub unreachable: Option<RawErrorPolicy>,
    /// The auth service answered 5xx.
    #[serde(default)]
    pub server_error: Option<RawErrorPolicy>,
    /// The answer could not be read as a decision.
    #[serde(default)]
    pub malformed: Option<RawErrorPolicy>,
    /// A token whose keys are not fetched; `allow` only in gate mode.
    #[serde(default)]
    pub jwks: Option<RawErrorPolicy>,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "ErrorPolicy"))]
#[derive(Debug, Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawErrorPolicy {
    /// Default: `onError.mode`.
    #[serde(default)]
    pub mode: Option<RawErrorMode>,
    /// Status of the deny answer, 400 to 599; default: `onError.status`. Refused beside an
    /// `allow`.
    #[serde(default)]
    pub status: Option<u16>,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "Mode"))]
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub enum RawMode {
    /// Denies and errors are answered.
    #[default]
    Enforce,
    /// Denies and errors let the request go on (without identity), counted and logged.
    Shadow,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "AccessLogFormat"))]
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub enum RawAccessLogFormat {
    /// One filter-state property per field, printed with `%FILTER_STATE(wasm.mesh_authz.outcome:PLAIN)%` etc.
    #[default]
    Fields,
    /// One property, `%FILTER_STATE(wasm.mesh_authz:PLAIN)%`: `{"outcome":"allow","cached":true,...}`.
    Json,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "BypassRule"))]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawBypass {
    /// A plain path (`/healthz`): matches it and everything below it, whole segments only.
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// An HTTP method (letters only), matched exactly; not beside `corsPreflight`.
    #[serde(default)]
    pub method: Option<String>,
    /// Only a CORS preflight: `OPTIONS` with `origin` and `access-control-request-method`, no
    /// body and no method-override header.
    #[serde(default)]
    pub cors_preflight: bool,
}

/// The JSON Schema of the plugin configuration, derived from the types above (the file checked in
/// is compared with it by `tests/schema.rs`).
#[cfg(feature = "schema")]
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(RawConfig);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
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
