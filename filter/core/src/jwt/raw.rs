//! The `jwt` object as users write it, field for field. Defaults live here; checks in `config`.

use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawJwt {
    pub mode: RawMode,
    pub providers: Vec<RawProvider>,
    /// Gate mode only; `None` so that setting it in authenticate mode is an error, not a no-op.
    #[serde(default)]
    pub require_token: Option<bool>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum RawMode {
    Gate,
    Authenticate,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawProvider {
    pub name: String,
    pub issuer: String,
    #[serde(default)]
    pub audiences: Option<Vec<String>>,
    pub jwks: RawJwks,
    #[serde(default)]
    pub algorithms: Option<Vec<String>>,
    #[serde(default = "default_from")]
    pub from: Vec<RawFrom>,
    #[serde(default)]
    pub claim_headers: BTreeMap<String, String>,
    #[serde(default = "yes")]
    pub forward_token: bool,
    #[serde(default = "default_clock_skew")]
    pub clock_skew_seconds: u32,
}

/// Either `{cluster, authority?, path, refreshSeconds?, timeoutMs?}` or `{inline}`; which one is
/// decided in `config`, so that a mix names the field at fault.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawJwks {
    #[serde(default)]
    pub cluster: Option<String>,
    #[serde(default)]
    pub authority: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub refresh_seconds: Option<u32>,
    #[serde(default)]
    pub timeout_ms: Option<u32>,
    #[serde(default)]
    pub inline: Option<String>,
}

/// One of `{header, prefix?}`, `{cookie}`, `{query}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawFrom {
    #[serde(default)]
    pub header: Option<String>,
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub cookie: Option<String>,
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
