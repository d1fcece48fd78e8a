//! The `jwt` object checked into an immutable `JwtConfig`. Every rejection names the field
//! (`jwt.providers[0].jwks.path`) and the reason, and never quotes a configured value.

use super::alg::{self, Alg};
use super::jwks::KeySet;
use super::raw::{RawJwt, RawMode, RawProvider};
use super::verify::MAX_KEYS_TRIED;
use crate::config::ConfigError;
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

impl JwtConfig {
    /// Whether some provider takes its token out before the upstream (`forwardToken: false`).
    pub fn removes_tokens(&self) -> bool {
        self.providers.iter().any(|p| !p.forward_token)
    }

    /// What loads but costs: algorithms checked inside the VM, and inline key sets where a token
    /// without `kid` is refused because more keys fit than one token is tried against.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, p) in self.providers.iter().enumerate() {
            let in_vm: Vec<&str> = p
                .algorithms
                .iter()
                .filter(|a| a.in_vm())
                .map(|a| a.name())
                .collect();
            if !in_vm.is_empty() {
                out.push(format!(
                    "jwt.providers[{i}].algorithms: {} signatures are checked inside the Wasm VM (an RSA-PSS check costs about 1 ms of a worker's CPU, forged tokens included; RS*/ES* are checked by Envoy): list them only for an issuer that signs with them",
                    in_vm.join(", ")
                ));
            }
            if let Jwks::Inline(set) = &p.jwks {
                let crowded = p
                    .algorithms
                    .iter()
                    .filter(|a| set.fitting(**a).count() > MAX_KEYS_TRIED)
                    .map(|a| a.name())
                    .collect::<Vec<_>>();
                if !crowded.is_empty() {
                    out.push(format!(
                        "jwt.providers[{i}].jwks.inline: more than {MAX_KEYS_TRIED} keys fit {}: a token without kid is refused (it would be checked against every one)",
                        crowded.join(", ")
                    ));
                }
            }
        }
        out
    }
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
    let listed = p.algorithms.is_some();
    let mut algorithms = algorithms(at, p.algorithms)?;
    let jwks = jwks_source::jwks(
        &format!("{at}.jwks"),
        p.jwks,
        if listed { &algorithms } else { &Alg::ALL },
    )?;
    // An inline key set with no key for the default algorithms (only Ed25519 or RSA-PSS keys)
    // loaded before the default narrowed: it keeps loading, with the algorithms its keys fit
    // (checked in the VM, so `warnings` names the cost), rather than break on upgrade.
    if let (false, Jwks::Inline(set)) = (listed, &jwks) {
        if !algorithms.iter().any(|a| set.fitting(*a).next().is_some()) {
            algorithms = Alg::ALL
                .into_iter()
                .filter(|a| set.fitting(*a).next().is_some())
                .collect();
        }
    }
    let from = places::from(at, &p.from, identity_headers, sources)?;
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
        return Ok(Alg::DEFAULT.to_vec());
    };
    if names.is_empty() {
        return Err(ConfigError::new(
            format!("{at}.algorithms"),
            "is empty; leave it out for RS256, RS384, RS512, ES256 and ES384",
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

mod jwks_source;
mod places;

#[cfg(test)]
mod tests;
