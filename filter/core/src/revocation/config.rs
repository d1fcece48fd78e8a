//! The `revocation` block: where the feed is, how often it is read, how long decisions may serve
//! while it cannot be read, and what the VM keeps of it. `raw` mirrors the JSON; `check` gives the
//! immutable `Feed` or the field at fault and why.

use crate::config::{AuthService, CachePolicy, ConfigError};
use crate::identity;
use crate::path;
use serde::Deserialize;

pub const MIN_INTERVAL_MS: u32 = 100;
pub const MAX_INTERVAL_MS: u32 = 60_000;
/// An hour: past that, a feed that cannot be read is an outage to fix, not to ride out.
pub const MAX_STALE_SECONDS: u32 = 3_600;
pub const MAX_KEPT_ENTRIES: u32 = 1_000_000;
pub const MIN_KEPT_BYTES: u32 = 4 << 10;
pub const MAX_KEPT_BYTES: u32 = 64 << 20;

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "Revocation"))]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawRevocation {
    /// The identity header whose value names a revoked subject; one of `identityHeaders`.
    pub subject_header: String,
    /// Envoy cluster serving the feed; default: `authService.cluster`.
    #[serde(default)]
    pub cluster: Option<String>,
    /// `:authority` of the feed requests; default: `authService.authority`.
    #[serde(default)]
    pub authority: Option<String>,
    /// Path of the feed (a plain path; the cursor is added as `?cursor=`).
    #[serde(default = "default_path")]
    pub path: String,
    /// How often each Envoy reads the feed, in milliseconds (100 to 60000, plus up to a fifth of
    /// it as jitter).
    #[serde(default = "default_interval_ms")]
    pub interval_ms: u32,
    /// Feed request timeout in milliseconds (1 to 60000, at most `intervalMs`).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u32,
    /// While the feed cannot be read, cached decisions serve this long past the last good read
    /// (1 to 3600); after it, every request is asked again until the feed is back.
    #[serde(default = "default_max_stale")]
    pub max_stale_seconds: u32,
    /// Revoked subjects kept per VM (1 to 1000000); past it, or past `maxBytes`, every cached
    /// decision is dropped instead (safe, one callout each).
    #[serde(default = "default_max_entries")]
    pub max_entries: u32,
    /// Bytes of revoked subjects kept per VM (4096 to 67108864).
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u32,
}

/// The checked feed settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feed {
    pub cluster: String,
    pub authority: String,
    pub path: String,
    pub interval_ms: u64,
    pub timeout_ms: u32,
    pub max_stale_ms: u64,
    /// The index of `subjectHeader` in `identityHeaders`: how a cached allow names its subject.
    pub subject_index: u8,
    pub subject_header: String,
    pub max_entries: usize,
    pub max_bytes: usize,
    /// How long a revocation matters: no cached decision (stale-if-error included) outlives it.
    pub keep_ms: u64,
}

/// Checks the block against the rest of the configuration.
pub fn check(
    raw: RawRevocation,
    auth: Option<&AuthService>,
    identity_headers: &[String],
    cache: Option<&CachePolicy>,
) -> Result<Feed, ConfigError> {
    let wanted = raw.subject_header.trim().to_ascii_lowercase();
    let subject_index = identity_headers
        .iter()
        .position(|h| identity::same_name(&wanted, h))
        .ok_or_else(|| {
            ConfigError::new(
                "revocation.subjectHeader",
                format!("'{wanted}' is not one of identityHeaders; a revocation names the value of an identity header the auth service sets on an allow"),
            )
        })?;
    let subject_index = u8::try_from(subject_index).map_err(|_| {
        ConfigError::new(
            "revocation.subjectHeader",
            "must be among the first 256 identityHeaders",
        )
    })?;
    let cluster = match (raw.cluster, auth) {
        (Some(c), _) if !c.trim().is_empty() => c.trim().to_string(),
        (Some(_), _) => return Err(ConfigError::new("revocation.cluster", "is empty")),
        (None, Some(a)) => a.cluster.clone(),
        (None, None) => {
            return Err(ConfigError::new(
                "revocation.cluster",
                "is required without authService",
            ))
        }
    };
    let authority = match (raw.authority, auth) {
        (Some(a), _) => a,
        (None, Some(a)) => a.authority.clone(),
        (None, None) => {
            return Err(ConfigError::new(
                "revocation.authority",
                "is required without authService",
            ))
        }
    };
    if authority.is_empty() || !authority.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ConfigError::new(
            "revocation.authority",
            "must be a host[:port] without spaces",
        ));
    }
    path::check_prefix("revocation.path", &raw.path)?;
    if !(MIN_INTERVAL_MS..=MAX_INTERVAL_MS).contains(&raw.interval_ms) {
        return Err(ConfigError::new(
            "revocation.intervalMs",
            format!("must be {MIN_INTERVAL_MS} to {MAX_INTERVAL_MS}"),
        ));
    }
    if raw.timeout_ms == 0 || raw.timeout_ms > raw.interval_ms {
        return Err(ConfigError::new(
            "revocation.timeoutMs",
            format!(
                "must be 1 to intervalMs ({}): one read at a time",
                raw.interval_ms
            ),
        ));
    }
    if raw.max_stale_seconds == 0 || raw.max_stale_seconds > MAX_STALE_SECONDS {
        return Err(ConfigError::new(
            "revocation.maxStaleSeconds",
            format!("must be 1 to {MAX_STALE_SECONDS}"),
        ));
    }
    if u64::from(raw.max_stale_seconds) * 1000 < u64::from(raw.interval_ms) * 2 {
        return Err(ConfigError::new(
            "revocation.maxStaleSeconds",
            format!("must cover two reads (2 x intervalMs = {} ms): one lost answer must not drop every cached decision", u64::from(raw.interval_ms) * 2),
        ));
    }
    if raw.max_entries == 0 || raw.max_entries > MAX_KEPT_ENTRIES {
        return Err(ConfigError::new(
            "revocation.maxEntries",
            format!("must be 1 to {MAX_KEPT_ENTRIES}"),
        ));
    }
    if !(MIN_KEPT_BYTES..=MAX_KEPT_BYTES).contains(&raw.max_bytes) {
        return Err(ConfigError::new(
            "revocation.maxBytes",
            format!("must be {MIN_KEPT_BYTES} to {MAX_KEPT_BYTES}"),
        ));
    }
    // A decision is stamped no later than its callout's dispatch, cached at most maxTtlSeconds
    // from its answer and served stale at most staleIfErrorSeconds longer.
    let keep_ms = cache.map_or(0, |c| {
        u64::from(c.max_ttl_secs) * 1000 + c.stale_ms + auth.map_or(0, |a| u64::from(a.timeout_ms))
    }) + 1000;
    Ok(Feed {
        cluster,
        authority,
        path: raw.path,
        interval_ms: u64::from(raw.interval_ms),
        timeout_ms: raw.timeout_ms,
        max_stale_ms: u64::from(raw.max_stale_seconds) * 1000,
        subject_index,
        subject_header: identity_headers
            .get(usize::from(subject_index))
            .cloned()
            .unwrap_or(wanted),
        max_entries: raw.max_entries as usize,
        max_bytes: raw.max_bytes as usize,
        keep_ms,
    })
}

fn default_path() -> String {
    "/revocations".into()
}
fn default_interval_ms() -> u32 {
    1000
}
fn default_timeout_ms() -> u32 {
    500
}
fn default_max_stale() -> u32 {
    10
}
fn default_max_entries() -> u32 {
    10_000
}
fn default_max_bytes() -> u32 {
    1 << 20
}

#[cfg(test)]
mod tests {
    use crate::Config;

    fn parse(revocation: &str, extra: &str) -> Result<Config, crate::ConfigError> {
        let text = format!(
            r#"{{"authService": {{"cluster": "auth", "authority": "auth.local"}},
                "identityHeaders": ["x-user-id", "x-tenant"], "revocation": {revocation} {extra}}}"#
        );
        Config::parse(text.as_bytes())
    }

    #[test]
    fn defaults_follow_the_auth_service() {
        let c = parse(r#"{"subjectHeader": "X-Tenant"}"#, "").unwrap();
        let f = c.revocation.clone().unwrap();
        assert_eq!(
            (f.cluster.as_str(), f.authority.as_str(), f.path.as_str()),
            ("auth", "auth.local", "/revocations")
        );
        assert_eq!(
            (f.subject_index, f.subject_header.as_str()),
            (1, "x-tenant")
        );
        assert_eq!(
            (f.interval_ms, f.timeout_ms, f.max_stale_ms),
            (1_000, 500, 10_000)
        );
        // maxTtlSeconds 300 + staleIfError 0 + timeoutMs 200 + 1 s.
        assert_eq!(f.keep_ms, 301_200);
        assert!(c.warnings().is_empty());
        let off = parse(
            r#"{"subjectHeader": "x-user-id"}"#,
            r#", "cache": {"enabled": false}"#,
        )
        .unwrap();
        assert!(off.warnings().iter().any(|w| w.starts_with("revocation:")));
    }

    #[test]
    fn each_refusal_names_its_field() {
        for (block, field, why) in [
            (
                r#"{"subjectHeader": "x-other"}"#,
                "revocation.subjectHeader",
                "not one of identityHeaders",
            ),
            (r#"{}"#, "revocation", "missing field `subjectHeader`"),
            (
                r#"{"subjectHeader": "x-user-id", "cluster": " "}"#,
                "revocation.cluster",
                "empty",
            ),
            (
                r#"{"subjectHeader": "x-user-id", "authority": "a b"}"#,
                "revocation.authority",
                "host",
            ),
            (
                r#"{"subjectHeader": "x-user-id", "path": "/r?x"}"#,
                "revocation.path",
                "plain path",
            ),
            (
                r#"{"subjectHeader": "x-user-id", "intervalMs": 99}"#,
                "revocation.intervalMs",
                "100 to",
            ),
            (
                r#"{"subjectHeader": "x-user-id", "timeoutMs": 1001}"#,
                "revocation.timeoutMs",
                "intervalMs",
            ),
            (
                r#"{"subjectHeader": "x-user-id", "maxStaleSeconds": 0}"#,
                "revocation.maxStaleSeconds",
                "1 to",
            ),
            (
                r#"{"subjectHeader": "x-user-id", "intervalMs": 60000, "timeoutMs": 100, "maxStaleSeconds": 60}"#,
                "revocation.maxStaleSeconds",
                "two reads",
            ),
            (
                r#"{"subjectHeader": "x-user-id", "maxEntries": 0}"#,
                "revocation.maxEntries",
                "1 to",
            ),
            (
                r#"{"subjectHeader": "x-user-id", "maxBytes": 10}"#,
                "revocation.maxBytes",
                "4096 to",
            ),
            (
                r#"{"subjectHeader": "x-user-id", "every": 1}"#,
                "revocation",
                "unknown field",
            ),
        ] {
            let e = parse(block, "").unwrap_err();
            assert!(
                e.field.contains(field) && e.reason.contains(why),
                "{block}: {e:?}"
            );
        }
    }
}
