//! `jwks`: a remote endpoint the root context fetches from (through an Envoy cluster), or a JWKS
//! given inline and checked whole at load.

use super::{Jwks, RemoteJwks, MAX_JWKS_TIMEOUT_MS, MAX_REFRESH_SECS, MIN_REFRESH_SECS};
use crate::config::{istio_host, ConfigError};
use crate::jwt::alg::Alg;
use crate::jwt::jwks::KeySet;
use crate::jwt::raw::{self, RawJwks};

pub(super) fn jwks(at: &str, raw: RawJwks, algorithms: &[Alg]) -> Result<Jwks, ConfigError> {
    let Some(inline) = raw.inline else {
        return remote(at, raw).map(Jwks::Remote);
    };
    let remote_fields = [
        ("cluster", raw.cluster.is_some()),
        ("authority", raw.authority.is_some()),
        ("path", raw.path.is_some()),
        ("refreshSeconds", raw.refresh_seconds.is_some()),
        ("timeoutMs", raw.timeout_ms.is_some()),
    ];
    if let Some((name, _)) = remote_fields.iter().find(|(_, set)| *set) {
        return Err(ConfigError::new(
            format!("{at}.{name}"),
            "belongs to a remote JWKS; an inline one has only \"inline\"",
        ));
    }
    let field = format!("{at}.inline");
    let (set, skipped) = KeySet::parse(inline.as_bytes())
        .map_err(|e| ConfigError::new(&field, format!("is not a usable JWKS: {e}")))?;
    if let Some(s) = skipped.first() {
        return Err(ConfigError::new(
            format!("{field}.keys[{}]", s.index),
            s.reason,
        ));
    }
    if !algorithms.iter().any(|a| set.fitting(*a).next().is_some()) {
        return Err(ConfigError::new(
            field,
            "has no key for any of the provider's algorithms (RS256, RS384, RS512, ES256 and ES384 unless algorithms lists others: PS256, PS384, PS512 and EdDSA are accepted only when listed)",
        ));
    }
    Ok(Jwks::Inline(set))
}

fn remote(at: &str, raw: RawJwks) -> Result<RemoteJwks, ConfigError> {
    let cluster = raw
        .cluster
        .as_deref()
        .map(str::trim)
        .unwrap_or_default()
        .to_string();
    if cluster.is_empty() {
        return Err(ConfigError::new(
            format!("{at}.cluster"),
            "is required: the Envoy cluster of the issuer's JWKS endpoint (or give the JWKS as \"inline\")",
        ));
    }
    let authority = match raw.authority {
        Some(a) if a.is_empty() || !a.bytes().all(|b| b.is_ascii_graphic()) => {
            return Err(ConfigError::new(
                format!("{at}.authority"),
                "must be a host[:port] without spaces",
            ));
        }
        Some(a) => a,
        None => istio_host(&cluster).ok_or_else(|| {
            ConfigError::new(
                format!("{at}.authority"),
                "is required when the cluster is not an Istio name like outbound|443||id.example.com",
            )
        })?,
    };
    let path = raw.path.unwrap_or_default();
    if !path.starts_with('/') || !path.bytes().all(|b| b.is_ascii_graphic() && b != b'#') {
        return Err(ConfigError::new(
            format!("{at}.path"),
            "is required: a path starting with '/', without spaces or '#'",
        ));
    }
    let refresh_secs = raw.refresh_seconds.unwrap_or(raw::DEFAULT_REFRESH_SECONDS);
    if !(MIN_REFRESH_SECS..=MAX_REFRESH_SECS).contains(&refresh_secs) {
        return Err(ConfigError::new(
            format!("{at}.refreshSeconds"),
            format!("must be {MIN_REFRESH_SECS} to {MAX_REFRESH_SECS}"),
        ));
    }
    let timeout_ms = raw.timeout_ms.unwrap_or(raw::DEFAULT_JWKS_TIMEOUT_MS);
    if !(1..=MAX_JWKS_TIMEOUT_MS).contains(&timeout_ms) {
        return Err(ConfigError::new(
            format!("{at}.timeoutMs"),
            format!("must be 1 to {MAX_JWKS_TIMEOUT_MS}"),
        ));
    }
    Ok(RemoteJwks {
        cluster,
        authority,
        path,
        refresh_secs,
        timeout_ms,
    })
}
