//! The `jwt` object checked into an immutable `JwtConfig`. Every rejection names the field
//! (`jwt.providers[0].jwks.path`) and the reason, and never quotes a configured value.

use super::alg::{self, Alg};
use super::jwks::KeySet;
use super::raw::{self, RawFrom, RawJwks, RawJwt, RawMode, RawProvider};
use crate::config::{istio_host, names, ConfigError};
use crate::identity;

pub const MAX_CLOCK_SKEW_SECS: u32 = 600;
pub const MIN_REFRESH_SECS: u32 = 10;
pub const MAX_REFRESH_SECS: u32 = 86_400;
pub const MAX_JWKS_TIMEOUT_MS: u32 = 60_000;

#[derive(Debug, Clone)]
pub struct JwtConfig {
    pub mode: Mode,
    pub providers: Vec<Provider>,
    /// Gate mode: a request without a token is 401 instead of going on to the auth service.
    pub require_token: bool,
    /// Every place a token is read from, once each: providers may share places, and a request's
    /// token is looked for in all of them (two tokens anywhere are refused).
    pub sources: Vec<Source>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A bad token is 401 without a callout; a good one goes on to the auth service.
    Gate,
    /// A good token is allowed with its `claimHeaders` as identity; there is no callout.
    Authenticate,
}

#[derive(Debug, Clone)]
pub struct Provider {
    pub name: String,
    pub issuer: String,
    /// `None`: `aud` is not checked.
    pub audiences: Option<Vec<String>>,
    pub jwks: Jwks,
    pub algorithms: Vec<Alg>,
    /// Indexes into `JwtConfig::sources`.
    pub from: Vec<usize>,
    pub claim_headers: Vec<ClaimHeader>,
    pub forward_token: bool,
    pub clock_skew_secs: u32,
}

#[derive(Debug, Clone)]
pub enum Jwks {
    Remote(RemoteJwks),
    Inline(KeySet),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteJwks {
    pub cluster: String,
    pub authority: String,
    pub path: String,
    pub refresh_secs: u32,
    pub timeout_ms: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `prefix` is matched ignoring ASCII case (`bearer ` as `Bearer `: RFC 9110 schemes).
    Header {
        name: String,
        prefix: String,
    },
    Cookie(String),
    Query(String),
}

/// A claim (by dotted path) whose text becomes the identity header at `header` in
/// `identityHeaders`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimHeader {
    pub claim: String,
    pub header: u8,
}

/// `has_auth_service`: whether the configuration has an `authService` (gate mode needs one).
pub fn validate(
    raw: RawJwt,
    identity_headers: &[String],
    has_auth_service: bool,
) -> Result<JwtConfig, ConfigError> {
    let mode = match raw.mode {
        RawMode::Gate => Mode::Gate,
        RawMode::Authenticate => Mode::Authenticate,
    };
    if mode == Mode::Gate && !has_auth_service {
        return Err(ConfigError::new(
            "jwt.mode",
            "gate mode passes valid tokens on to the auth service: configure authService, or use mode authenticate",
        ));
    }
    let require_token = match (mode, raw.require_token) {
        (Mode::Authenticate, Some(_)) => {
            return Err(ConfigError::new(
                "jwt.requireToken",
                "belongs to gate mode (authenticate mode always requires a token)",
            ));
        }
        (_, r) => r.unwrap_or(false),
    };
    if raw.providers.is_empty() {
        return Err(ConfigError::new(
            "jwt.providers",
            "is empty; configure at least one token issuer",
        ));
    }
    let mut sources: Vec<Source> = Vec::new();
    let mut providers: Vec<Provider> = Vec::with_capacity(raw.providers.len());
    for (i, p) in raw.providers.into_iter().enumerate() {
        let at = format!("jwt.providers[{i}]");
        let provider = provider(&at, p, mode, identity_headers, &mut sources)?;
        if providers.iter().any(|q| q.name == provider.name) {
            return Err(ConfigError::new(
                format!("{at}.name"),
                "is used by an earlier provider",
            ));
        }
        if providers.iter().any(|q| q.issuer == provider.issuer) {
            return Err(ConfigError::new(
                format!("{at}.issuer"),
                "is the issuer of an earlier provider; providers are chosen by the token's iss",
            ));
        }
        providers.push(provider);
    }
    Ok(JwtConfig {
        mode,
        providers,
        require_token,
        sources,
    })
}

fn provider(
    at: &str,
    p: RawProvider,
    mode: Mode,
    identity_headers: &[String],
    sources: &mut Vec<Source>,
) -> Result<Provider, ConfigError> {
    if p.name.trim().is_empty() {
        return Err(ConfigError::new(format!("{at}.name"), "is empty"));
    }
    if p.issuer.is_empty() {
        return Err(ConfigError::new(format!("{at}.issuer"), "is empty"));
    }
    let audiences = match p.audiences {
        None => None,
        Some(list) if list.is_empty() => {
            return Err(ConfigError::new(
                format!("{at}.audiences"),
                "is empty, so no token could pass; leave it out to not check aud",
            ));
        }
        Some(list) => {
            for (j, a) in list.iter().enumerate() {
                if a.is_empty() || list.iter().take(j).any(|b| b == a) {
                    return Err(ConfigError::new(
                        format!("{at}.audiences[{j}]"),
                        "is empty or listed twice",
                    ));
                }
            }
            Some(list)
        }
    };
    let algorithms = algorithms(at, p.algorithms)?;
    let jwks = jwks(&format!("{at}.jwks"), p.jwks, &algorithms)?;
    let from = from(at, &p.from, identity_headers, sources)?;
    let claim_headers = claim_headers(at, p.claim_headers, mode, identity_headers)?;
    if p.clock_skew_seconds > MAX_CLOCK_SKEW_SECS {
        return Err(ConfigError::new(
            format!("{at}.clockSkewSeconds"),
            format!("must be 0 to {MAX_CLOCK_SKEW_SECS}"),
        ));
    }
    Ok(Provider {
        name: p.name,
        issuer: p.issuer,
        audiences,
        jwks,
        algorithms,
        from,
        claim_headers,
        forward_token: p.forward_token,
        clock_skew_secs: p.clock_skew_seconds,
    })
}

fn algorithms(at: &str, raw: Option<Vec<String>>) -> Result<Vec<Alg>, ConfigError> {
    let Some(names) = raw else {
        return Ok(Alg::ALL.to_vec());
    };
    if names.is_empty() {
        return Err(ConfigError::new(
            format!("{at}.algorithms"),
            "is empty; leave it out for every supported asymmetric algorithm",
        ));
    }
    let mut out = Vec::with_capacity(names.len());
    for (j, name) in names.iter().enumerate() {
        let field = format!("{at}.algorithms[{j}]");
        if let Some(why) = alg::refusal(name) {
            return Err(ConfigError::new(field, why));
        }
        match Alg::from_name(name) {
            Some(a) if !out.contains(&a) => out.push(a),
            _ => return Err(ConfigError::new(field, "is listed twice")),
        }
    }
    Ok(out)
}

fn jwks(at: &str, raw: RawJwks, algorithms: &[Alg]) -> Result<Jwks, ConfigError> {
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
            "has no key for any of the provider's algorithms",
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

/// The provider's places as indexes into `sources`, which gains the ones not seen before.
fn from(
    at: &str,
    raw: &[RawFrom],
    identity_headers: &[String],
    sources: &mut Vec<Source>,
) -> Result<Vec<usize>, ConfigError> {
    if raw.is_empty() {
        return Err(ConfigError::new(
            format!("{at}.from"),
            "is empty; leave it out for the authorization header with prefix \"Bearer \"",
        ));
    }
    let mut out = Vec::with_capacity(raw.len());
    for (j, f) in raw.iter().enumerate() {
        let field = format!("{at}.from[{j}]");
        let source = source(&field, f, identity_headers)?;
        if let Source::Header { name, .. } = &source {
            let other_prefix = sources
                .iter()
                .any(|s| matches!(s, Source::Header { name: n, .. } if n == name) && *s != source);
            if other_prefix {
                return Err(ConfigError::new(
                    field,
                    "reads a header that another place reads with another prefix; one header has one prefix",
                ));
            }
        }
        let index = match sources.iter().position(|s| *s == source) {
            Some(k) => k,
            None => {
                sources.push(source);
                sources.len() - 1
            }
        };
        if out.contains(&index) {
            return Err(ConfigError::new(field, "is listed twice"));
        }
        out.push(index);
    }
    Ok(out)
}

fn source(field: &str, f: &RawFrom, identity_headers: &[String]) -> Result<Source, ConfigError> {
    let only_one = "needs exactly one of header (with an optional prefix), cookie or query";
    match (&f.header, &f.cookie, &f.query) {
        (Some(h), None, None) => {
            let name = names::header_name(&format!("{field}.header"), h)?;
            if identity_headers
                .iter()
                .any(|id| identity::same_name(&name, id))
            {
                return Err(ConfigError::new(
                    format!("{field}.header"),
                    "is an identity header, which is removed from every request",
                ));
            }
            let prefix = f.prefix.clone().unwrap_or_default();
            if !prefix.bytes().all(|b| (b' '..=b'~').contains(&b)) {
                return Err(ConfigError::new(
                    format!("{field}.prefix"),
                    "must be printable ASCII",
                ));
            }
            Ok(Source::Header { name, prefix })
        }
        (None, Some(c), None) if f.prefix.is_none() => {
            if c.is_empty()
                || !c
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
            {
                return Err(ConfigError::new(
                    format!("{field}.cookie"),
                    "is not a cookie name",
                ));
            }
            Ok(Source::Cookie(c.clone()))
        }
        (None, None, Some(q)) if f.prefix.is_none() => {
            if q.is_empty()
                || !q
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && !b"&=#%+".contains(&b))
            {
                return Err(ConfigError::new(
                    format!("{field}.query"),
                    "is not a plain query parameter name (no '&', '=', '#', '%', '+' or spaces)",
                ));
            }
            Ok(Source::Query(q.clone()))
        }
        (None, ..) if f.prefix.is_some() => Err(ConfigError::new(
            format!("{field}.prefix"),
            "belongs to a header",
        )),
        _ => Err(ConfigError::new(field, only_one)),
    }
}

fn claim_headers(
    at: &str,
    raw: std::collections::BTreeMap<String, String>,
    mode: Mode,
    identity_headers: &[String],
) -> Result<Vec<ClaimHeader>, ConfigError> {
    if mode == Mode::Gate && !raw.is_empty() {
        return Err(ConfigError::new(
            format!("{at}.claimHeaders"),
            "belongs to authenticate mode; in gate mode the identity comes from the auth service",
        ));
    }
    let mut out: Vec<ClaimHeader> = Vec::with_capacity(raw.len());
    for (claim, header) in raw {
        let field = format!("{at}.claimHeaders.{claim}");
        if claim.is_empty() || claim.split('.').any(str::is_empty) {
            return Err(ConfigError::new(field, "the claim path has an empty part"));
        }
        let index = identity_headers
            .iter()
            .position(|id| identity::same_name(&header, id))
            .and_then(|i| u8::try_from(i).ok())
            .ok_or_else(|| {
                ConfigError::new(
                    &field,
                    "names no identityHeaders entry (only those are removed from what clients send)",
                )
            })?;
        if out.iter().any(|c| c.header == index) {
            return Err(ConfigError::new(
                field,
                "sets the same identity header as another claim",
            ));
        }
        out.push(ClaimHeader {
            claim,
            header: index,
        });
    }
    // In `identityHeaders` order, as the auth service's identity is.
    out.sort_by_key(|c| c.header);
    Ok(out)
}

#[cfg(test)]
mod tests;
