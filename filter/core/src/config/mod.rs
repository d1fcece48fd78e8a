//! Configuration in two stages: `raw` mirrors the JSON, `Config` is the checked, immutable form the
//! request path reads. Every rejection names the field (`cache.maxEntries`) and the reason.

pub mod announce;
pub(crate) mod names;
mod on_error;
mod raw;

pub use crate::error::ConfigError;

use crate::bypass::BypassRule;
use crate::identity;
use crate::jwt::JwtConfig;
use crate::path;
pub use on_error::{ErrorPolicy, OnError};
#[cfg(feature = "schema")]
pub use raw::json_schema;
use raw::{RawConfig, RawMode, RawProtocol};
use sha2::{Digest, Sha256};

pub const MAX_TIMEOUT_MS: u32 = 60_000;
pub const MAX_ENTRIES: u32 = 10_000_000;
pub const MAX_DENY_BODY_BYTES: u32 = 1 << 20;
/// `cache.maxBytes` bounds: below 64 KiB a cache holds too few decisions to help; above 1 GiB it
/// would take a quarter of wasm32's 4 GiB address space.
/// A day: longer than any auth-service outage a stale decision should cover.
pub const MAX_STALE_SECONDS: u32 = 86_400;
pub const MIN_CACHE_BYTES: u32 = 64 << 10;
pub const MAX_CACHE_BYTES: u32 = 1 << 30;
/// `authService.contextExtensions` bounds: they travel in every CheckRequest.
pub const MAX_CONTEXT_EXTENSIONS: usize = 32;
pub const MAX_CONTEXT_EXTENSION_BYTES: usize = 1024;

#[derive(Debug, Clone)]
pub struct Config {
    /// `None` only in `jwt.mode: authenticate`, which makes no callout.
    pub auth: Option<AuthService>,
    /// Lowercase; stripped from every request, set from the auth service's allow answer.
    pub identity_headers: Vec<String>,
    /// Lowercase; the only auth-service headers a denied client sees.
    pub deny_headers: Vec<String>,
    pub max_deny_body_bytes: usize,
    /// `None` when caching is off.
    pub cache: Option<CachePolicy>,
    pub on_error: OnError,
    pub mode: Mode,
    /// Record each decision as request properties (`mesh_authz.outcome`, ...) for the access log.
    pub access_log: bool,
    /// As one property or four (see `access_log`).
    pub access_log_format: crate::access_log::Format,
    pub bypass: Vec<BypassRule>,
    /// `None` when tokens are not checked in the proxy.
    pub jwt: Option<JwtConfig>,
    /// `None` when no revocation feed is followed.
    pub revocation: Option<crate::revocation::Feed>,
    /// Digest of the configuration text: part of every cache key, so a new config never reads
    /// decisions made under an old one, in this VM or (through shared data) in another.
    pub generation: [u8; 32],
    /// What loaded but is worth a warning, found while checking (see `warnings`).
    notes: Vec<String>,
}

/// Its `Debug` shows `addHeaders` and `contextExtensions` names only: their values may be shared
/// secrets.
#[derive(Clone)]
pub struct AuthService {
    pub protocol: Protocol,
    pub cluster: String,
    pub authority: String,
    pub path_prefix: String,
    pub include_request_path: bool,
    pub timeout_ms: u32,
    pub forward_headers: Vec<String>,
    pub trace_headers: Vec<String>,
    pub add_headers: Vec<(String, String)>,
    /// gRPC only (empty in HTTP mode), in name order.
    pub context_extensions: Vec<(String, String)>,
}

/// How the auth service is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Envoy ext_authz's HTTP check request (`callout`).
    Http,
    /// `envoy.service.auth.v3.Authorization/Check` (`grpc`).
    Grpc,
}

impl std::fmt::Debug for AuthService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let added: Vec<&str> = self.add_headers.iter().map(|(n, _)| n.as_str()).collect();
        let extensions: Vec<&str> = self
            .context_extensions
            .iter()
            .map(|(n, _)| n.as_str())
            .collect();
        f.debug_struct("AuthService")
            .field("protocol", &self.protocol)
            .field("cluster", &self.cluster)
            .field("authority", &self.authority)
            .field("path_prefix", &self.path_prefix)
            .field("include_request_path", &self.include_request_path)
            .field("timeout_ms", &self.timeout_ms)
            .field("forward_headers", &self.forward_headers)
            .field("trace_headers", &self.trace_headers)
            .field("add_headers (values hidden)", &added)
            .field("context_extensions (values hidden)", &extensions)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachePolicy {
    pub max_entries: usize,
    pub allow_ttl_secs: u32,
    pub deny_ttl_secs: u32,
    pub max_ttl_secs: u32,
    /// The per-VM cache's byte budget.
    pub max_bytes: usize,
    /// 0: no shared level.
    pub shared_slots: u32,
    /// How long after its expiry a decision may still serve when the callout fails; 0: never.
    pub stale_ms: u64,
}

/// `enforce` answers denies and errors; `shadow` decides, caches, counts and logs the same, but
/// lets denied and failed requests go on (without identity), to roll out beside another filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Enforce,
    Shadow,
}

impl Config {
    /// Parses and checks the plugin configuration exactly as Envoy hands it over.
    pub fn parse(text: &[u8]) -> Result<Config, ConfigError> {
        if text.iter().all(u8::is_ascii_whitespace) {
            return Err(ConfigError::new(
                "(config)",
                "no configuration given; authService.cluster is required",
            ));
        }
        let mut de = serde_json::Deserializer::from_slice(text);
        let raw: RawConfig =
            serde_path_to_error::deserialize(&mut de).map_err(ConfigError::from_serde)?;
        de.end()
            .map_err(|e| ConfigError::new("(config)", crate::error::from_json(&e)))?;
        Config::from_raw(raw, Sha256::digest(text).into())
    }

    /// What an operator should hear about a configuration that loads but is probably not meant.
    pub fn warnings(&self) -> Vec<String> {
        let unused_auth = self.auth.is_some()
            && self
                .jwt
                .as_ref()
                .is_some_and(|j| j.mode == crate::jwt::Mode::Authenticate);
        let unused_auth = unused_auth.then(|| {
            "authService: never called in jwt.mode authenticate (a valid token is allowed, anything else is 401)".to_string()
        });
        self.bypass
            .iter()
            .enumerate()
            .filter(|(_, r)| r.bypasses_any_options())
            .map(|(i, _)| {
                format!(
                    "bypass[{i}]: method OPTIONS lets every OPTIONS request through unchecked, body and x-http-method-override included; for CORS preflights use {{\"corsPreflight\": true}}"
                )
            })
            .chain(unused_auth)
            .chain(self.notes.iter().cloned())
            .chain(self.on_error.warnings())
            .chain(self.jwt.iter().flat_map(crate::jwt::JwtConfig::warnings))
            .collect()
    }

    fn from_raw(raw: RawConfig, generation: [u8; 32]) -> Result<Config, ConfigError> {
        let authenticate = raw
            .jwt
            .as_ref()
            .is_some_and(|j| j.mode == crate::jwt::raw::RawMode::Authenticate);
        // Authenticate mode never calls out; an `authService` beside it is checked and unused
        // (a warning at load says so).
        let auth = match (raw.auth_service, authenticate) {
            (Some(a), _) => Some(auth_service(a)?),
            (None, true) => None,
            (None, false) => {
                return Err(ConfigError::new(
                    "authService",
                    "is missing; name the auth service (cluster, authority), or check tokens alone with jwt.mode authenticate",
                ))
            }
        };
        // Both cases below loaded in the first release: they load still, with a warning, since
        // neither weakens anything (every spelling of an identity header is stripped either way).
        let mut notes = Vec::new();
        let mut identity_headers: Vec<String> = Vec::new();
        for (i, name) in names::header_list("identityHeaders", &raw.identity_headers)?
            .into_iter()
            .enumerate()
        {
            // Compared as the stripping compares them: a client's `x_user_id` is removed as a
            // spelling of `x-user-id`, so it could not be forwarded either.
            let same = |n: &String| identity::same_name(n, &name);
            if identity_headers.iter().any(same) {
                notes.push(format!("identityHeaders[{i}]: '{name}' is another spelling of an earlier identity header ('_' and '-' are the same name to many upstreams); ignored, as every spelling is stripped anyway"));
                continue;
            }
            if auth.as_ref().is_some_and(|a| {
                a.forward_headers.iter().any(same) || a.trace_headers.iter().any(same)
            }) {
                notes.push(format!("identityHeaders[{i}]: '{name}' is also forwarded to the auth service, but a client-sent identity header is removed before the callout: the service never receives it"));
            }
            identity_headers.push(name);
        }
        let deny_headers = names::header_list("denyHeaders", &raw.deny_headers)?;
        if raw.max_deny_body_bytes > MAX_DENY_BODY_BYTES {
            return Err(ConfigError::new(
                "maxDenyBodyBytes",
                format!("must be at most {MAX_DENY_BODY_BYTES}"),
            ));
        }
        let c = raw.cache;
        let cache = if c.enabled {
            if c.max_entries == 0 || c.max_entries > MAX_ENTRIES {
                return Err(ConfigError::new(
                    "cache.maxEntries",
                    format!("must be 1 to {MAX_ENTRIES} (or set cache.enabled to false)"),
                ));
            }
            if c.max_ttl_seconds == 0 {
                return Err(ConfigError::new(
                    "cache.maxTtlSeconds",
                    "must be at least 1 (or set cache.enabled to false)",
                ));
            }
            for (field, ttl) in [
                ("cache.allowTtlSeconds", c.allow_ttl_seconds),
                ("cache.denyTtlSeconds", c.deny_ttl_seconds),
            ] {
                if ttl > c.max_ttl_seconds {
                    return Err(ConfigError::new(
                        field,
                        format!("{ttl} is above cache.maxTtlSeconds ({})", c.max_ttl_seconds),
                    ));
                }
            }
            if !(MIN_CACHE_BYTES..=MAX_CACHE_BYTES).contains(&c.max_bytes) {
                return Err(ConfigError::new(
                    "cache.maxBytes",
                    format!("must be {MIN_CACHE_BYTES} (64 KiB) to {MAX_CACHE_BYTES} (1 GiB)"),
                ));
            }
            let shared_slots = c.shared_slots.unwrap_or(c.max_entries);
            if shared_slots > MAX_ENTRIES {
                return Err(ConfigError::new(
                    "cache.sharedSlots",
                    format!("must be 0 (off) to {MAX_ENTRIES}"),
                ));
            }
            if c.stale_if_error_seconds > MAX_STALE_SECONDS {
                return Err(ConfigError::new(
                    "cache.staleIfErrorSeconds",
                    format!("must be 0 (off) to {MAX_STALE_SECONDS}"),
                ));
            }
            Some(CachePolicy {
                shared_slots,
                max_entries: c.max_entries as usize,
                allow_ttl_secs: c.allow_ttl_seconds,
                deny_ttl_secs: c.deny_ttl_seconds,
                max_ttl_secs: c.max_ttl_seconds,
                max_bytes: c.max_bytes as usize,
                stale_ms: u64::from(c.stale_if_error_seconds) * 1000,
            })
        } else {
            None
        };
        let on_error = on_error::check(&raw.on_error)?;
        let mode = match raw.mode {
            RawMode::Enforce => Mode::Enforce,
            RawMode::Shadow => Mode::Shadow,
        };
        let bypass = raw
            .bypass
            .iter()
            .enumerate()
            .map(|(i, b)| {
                BypassRule::new(
                    &format!("bypass[{i}]"),
                    b.path_prefix.as_deref(),
                    b.method.as_deref(),
                    b.cors_preflight,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let has_auth = auth.is_some();
        let jwt = raw
            .jwt
            .map(|j| crate::jwt::config::validate(j, &identity_headers, has_auth))
            .transpose()?;
        if jwt
            .as_ref()
            .is_some_and(|j| j.mode == crate::jwt::Mode::Authenticate)
            && on_error.policy(crate::decision::Cause::Jwks) == ErrorPolicy::Allow
        {
            // In authenticate mode the token is the only check: letting an unchecked token through
            // would let a forged one pass where no token gets 401.
            let field = if raw.on_error.jwks.is_some_and(|j| j.mode.is_some()) {
                "onError.jwks.mode"
            } else {
                "onError.mode"
            };
            return Err(ConfigError::new(
                field,
                "allow would let a token whose keys are not fetched pass unchecked in jwt.mode authenticate (a forged token would get further than none); use deny for the jwks cause",
            ));
        }
        let revocation = raw
            .revocation
            .map(|r| {
                crate::revocation::config::check(
                    r,
                    auth.as_ref(),
                    &identity_headers,
                    cache.as_ref(),
                )
            })
            .transpose()?;
        if revocation.is_some() && cache.is_none() {
            notes.push("revocation: the feed is followed, but with cache.enabled false there is no cached decision to revoke".into());
        }
        Ok(Config {
            notes,
            revocation,
            auth,
            identity_headers,
            deny_headers,
            max_deny_body_bytes: raw.max_deny_body_bytes as usize,
            cache,
            on_error,
            mode,
            access_log: raw.access_log,
            access_log_format: match raw.access_log_format {
                raw::RawAccessLogFormat::Fields => crate::access_log::Format::Fields,
                raw::RawAccessLogFormat::Json => crate::access_log::Format::Json,
            },
            bypass,
            jwt,
            generation,
        })
    }
}

fn auth_service(raw: raw::RawAuthService) -> Result<AuthService, ConfigError> {
    let cluster = raw.cluster.trim().to_string();
    if cluster.is_empty() {
        return Err(ConfigError::new(
            "authService.cluster",
            "is empty; name the Envoy cluster of the auth service",
        ));
    }
    let authority = match raw.authority {
        Some(a) if a.trim().is_empty() => {
            return Err(ConfigError::new("authService.authority", "is empty"));
        }
        Some(a) => a,
        None => istio_host(&cluster).ok_or_else(|| {
            ConfigError::new(
                "authService.authority",
                "is required when authService.cluster is not an Istio name like outbound|8080||auth.ns.svc.cluster.local",
            )
        })?,
    };
    if !authority.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ConfigError::new(
            "authService.authority",
            "must be a host[:port] without spaces",
        ));
    }
    let protocol = match raw.protocol {
        RawProtocol::Http => Protocol::Http,
        RawProtocol::Grpc => Protocol::Grpc,
    };
    if protocol == Protocol::Grpc {
        // The gRPC method is fixed and the whole request path travels in the CheckRequest.
        if raw.path_prefix.is_some() {
            return Err(ConfigError::new(
                "authService.pathPrefix",
                "does not apply with protocol grpc (the method is always envoy.service.auth.v3.Authorization/Check); remove it",
            ));
        }
        if raw.include_request_path.is_some() {
            return Err(ConfigError::new(
                "authService.includeRequestPath",
                "does not apply with protocol grpc (the CheckRequest always carries the request path, and the cache is per path); remove it",
            ));
        }
    }
    let context_extensions = context_extensions(protocol, raw.context_extensions)?;
    let prefix = raw.path_prefix.unwrap_or_default();
    let include_request_path = raw.include_request_path.unwrap_or(true);
    if !prefix.is_empty() {
        path::check_prefix("authService.pathPrefix", &prefix)?;
    }
    if include_request_path && prefix.ends_with('/') {
        return Err(ConfigError::new(
            "authService.pathPrefix",
            "must not end with '/' when includeRequestPath is true (the request path brings its own)",
        ));
    }
    if raw.timeout_ms == 0 || raw.timeout_ms > MAX_TIMEOUT_MS {
        return Err(ConfigError::new(
            "authService.timeoutMs",
            format!("must be 1 to {MAX_TIMEOUT_MS}"),
        ));
    }
    let forward_headers =
        names::callout_header_list("authService.forwardHeaders", &raw.forward_headers)?;
    let trace_headers = names::callout_header_list("authService.traceHeaders", &raw.trace_headers)?;
    if let Some((i, name)) = trace_headers
        .iter()
        .enumerate()
        .find(|(_, n)| forward_headers.contains(n))
    {
        return Err(ConfigError::new(
            format!("authService.traceHeaders[{i}]"),
            format!("'{name}' is also in forwardHeaders; a header is either a decision input or trace context"),
        ));
    }
    let mut add_headers = Vec::with_capacity(raw.add_headers.len());
    for (name, value) in raw.add_headers {
        let field = format!("authService.addHeaders.{name}");
        let lower = names::callout_header_name(&field, &name)?;
        if forward_headers.contains(&lower) || trace_headers.contains(&lower) {
            return Err(ConfigError::new(
                field,
                "is also forwarded from the request; pick one",
            ));
        }
        if add_headers.iter().any(|(n, _)| *n == lower) {
            return Err(ConfigError::new(
                field,
                "is given twice (header names ignore case)",
            ));
        }
        names::header_value(&field, &value)?;
        add_headers.push((lower, value));
    }
    Ok(AuthService {
        protocol,
        cluster,
        authority,
        path_prefix: prefix,
        include_request_path,
        timeout_ms: raw.timeout_ms,
        forward_headers,
        trace_headers,
        add_headers,
        context_extensions,
    })
}

/// `authService.contextExtensions`: gRPC only, bounded (they travel in every CheckRequest), names
/// not empty; values are checked for size only, and never quoted.
fn context_extensions(
    protocol: Protocol,
    raw: std::collections::BTreeMap<String, String>,
) -> Result<Vec<(String, String)>, ConfigError> {
    if raw.is_empty() {
        return Ok(Vec::new());
    }
    if protocol != Protocol::Grpc {
        return Err(ConfigError::new(
            "authService.contextExtensions",
            "applies to protocol grpc only (the HTTP check request has no such field); use addHeaders",
        ));
    }
    if raw.len() > MAX_CONTEXT_EXTENSIONS {
        return Err(ConfigError::new(
            "authService.contextExtensions",
            format!(
                "has {} entries; at most {MAX_CONTEXT_EXTENSIONS}",
                raw.len()
            ),
        ));
    }
    for (name, value) in &raw {
        let field = format!("authService.contextExtensions.{name}");
        if name.is_empty() {
            return Err(ConfigError::new(field, "has an empty name"));
        }
        if name.len() + value.len() > MAX_CONTEXT_EXTENSION_BYTES {
            return Err(ConfigError::new(
                field,
                format!("name and value are over {MAX_CONTEXT_EXTENSION_BYTES} bytes together"),
            ));
        }
    }
    Ok(raw.into_iter().collect())
}

/// `outbound|8080||auth.auth-system.svc.cluster.local` -> `auth.auth-system.svc.cluster.local`.
pub(crate) fn istio_host(cluster: &str) -> Option<String> {
    let mut parts = cluster.split('|');
    let (dir, port, _subset, host) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let ok = dir == "outbound"
        && port.parse::<u16>().is_ok()
        && !host.is_empty()
        && parts.next().is_none();
    ok.then(|| host.to_string())
}

#[cfg(test)]
mod grpc_tests;
#[cfg(test)]
mod tests;
