//! The `jwt` object as users write it, field for field. Defaults live here; checks in `config`.

use serde::Deserialize;
use std::collections::BTreeMap;

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "Jwt"))]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawJwt {
    /// `gate`: tokens are checked, then the auth service decides; `authenticate`: a valid token is
    /// the decision (its claims become identity headers), no callout.
    pub mode: RawMode,
    /// At least one; the token's `iss` picks the provider. Names and issuers are unique.
    pub providers: Vec<RawProvider>,
    /// Gate mode only (default false): a request without a token gets 401 instead of going on.
    // `None`, not `false`, so that setting it in authenticate mode is an error, not a no-op.
    #[serde(default)]
    pub require_token: Option<bool>,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "JwtMode"))]
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum RawMode {
    /// Tokens are checked (a bad one is 401 without a callout), then the auth service decides.
    Gate,
    /// A valid token is allowed with its claims as identity; anything else is 401. No callout.
    Authenticate,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "JwtProvider"))]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawProvider {
    /// Unique among the providers; names the provider in logs and counters.
    pub name: String,
    /// The token's `iss` must equal it exactly.
    pub issuer: String,
    /// The token's `aud` must contain one of them; absent: `aud` is not checked. `[]` is refused.
    #[serde(default)]
    pub audiences: Option<Vec<String>>,
    /// Where the provider's keys come from: fetched (`cluster`, `path`, ...) or `inline`.
    pub jwks: RawJwks,
    /// Accepted `alg` values. Default: RS256, RS384, RS512, ES256, ES384 (checked by Envoy);
    /// PS256/384/512 and EdDSA only when listed (checked in the VM). `none` and HS* are refused.
    #[serde(default)]
    pub algorithms: Option<Vec<String>>,
    /// Where tokens are read: `{header, prefix}`, `{cookie}` or `{query}`; list every place your
    /// auth service reads tokens from.
    #[serde(default = "default_from")]
    pub from: Vec<RawFrom>,
    /// Authenticate mode only: claim (dotted path for nested claims) to header; every header
    /// must be an `identityHeaders` entry.
    #[serde(default)]
    pub claim_headers: BTreeMap<String, String>,
    /// `false`: the token's header (or cookie) is removed before the upstream.
    #[serde(default = "yes")]
    pub forward_token: bool,
    /// Leeway for `exp`, `nbf` and `iat`, 0 to 600 seconds.
    #[serde(default = "default_clock_skew")]
    pub clock_skew_seconds: u32,
}

/// Either `{cluster, authority?, path, refreshSeconds?, timeoutMs?}` or `{inline}`; which one is
/// decided in `config`, so that a mix names the field at fault.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "Jwks"))]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawJwks {
    /// Envoy cluster the keys are fetched through (under Istio `outbound|PORT||FQDN`).
    #[serde(default)]
    pub cluster: Option<String>,
    /// `:authority` of the fetch; default: the FQDN of an Istio cluster name.
    #[serde(default)]
    pub authority: Option<String>,
    /// Path of the JWKS document on that cluster.
    #[serde(default)]
    pub path: Option<String>,
    /// Seconds between fetches, 10 to 86400 (default 300).
    #[serde(default)]
    pub refresh_seconds: Option<u32>,
    /// Fetch timeout in milliseconds, 1 to 60000 (default 2000).
    #[serde(default)]
    pub timeout_ms: Option<u32>,
    /// The JWKS document itself, as a JSON string; checked at load. Not beside the fetch fields.
    #[serde(default)]
    pub inline: Option<String>,
}

/// One of `{header, prefix?}`, `{cookie}`, `{query}`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "TokenPlace"))]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawFrom {
    /// A request header carrying the token (not an identity header).
    #[serde(default)]
    pub header: Option<String>,
    /// With `header`: the scheme before the token (`Bearer `), matched in any case and followed
    /// by any spaces or tabs.
    #[serde(default)]
    pub prefix: Option<String>,
    /// A cookie carrying the token.
    #[serde(default)]
    pub cookie: Option<String>,
    /// A query parameter carrying the token (left in place even with `forwardToken: false`).
    #[serde(default)]
    pub query: Option<String>,
}

pub const DEFAULT_REFRESH_SECONDS: u32 = 300;
pub const DEFAULT_JWKS_TIMEOUT_MS: u32 = 2000;

fn yes() -> bool {
    true
}
fn default_clock_skew() -> u32 {
    60
}
fn default_from() -> Vec<RawFrom> {
    vec![RawFrom {
        header: Some("authorization".to_string()),
        prefix: Some("Bearer ".to_string()),
        cookie: None,
        query: None,
    }]
}
