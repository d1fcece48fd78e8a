//! `onError`: what a request gets when the auth service gives no decision, by cause. `mode` and
//! `status` are the defaults; `timeout`, `unreachable`, `serverError`, `malformed` and `jwks` (a
//! token's keys not fetched) may each override either and inherit what they omit.
//!
//! A cause's `status` beside its `allow` means nothing, so it is refused. The top-level `status`
//! beside `"mode": "allow"` is not: 0.1.0 loaded it (and ignored it), and refusing a configuration
//! that loaded before would stop every sidecar at once on upgrade. It serves the causes set to
//! deny; when none is, it is ignored with a warning that names it.

use super::raw::{RawErrorMode, RawErrorPolicy, RawOnError};
use crate::decision::Cause;
use crate::error::ConfigError;

pub const DEFAULT_ERROR_STATUS: u16 = 503;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorPolicy {
    Deny { status: u16 },
    Allow,
}

/// The policy per cause, in `Cause::ALL` order, and whether a top-level `status` was ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OnError([ErrorPolicy; 5], bool);

impl OnError {
    pub fn policy(&self, cause: Cause) -> ErrorPolicy {
        let i = Cause::ALL.iter().position(|c| *c == cause).unwrap_or(0);
        self.0.get(i).copied().unwrap_or(ErrorPolicy::Deny {
            status: DEFAULT_ERROR_STATUS,
        })
    }

    /// The same policy for every cause.
    #[cfg(test)]
    pub fn uniform(policy: ErrorPolicy) -> Self {
        OnError([policy; 5], false)
    }

    /// What loads but means nothing: a top-level `status` no cause denies with.
    pub fn warnings(&self) -> Option<String> {
        self.1.then(|| {
            "onError.status: ignored beside \"mode\": \"allow\" with no cause set to deny (deprecated, loaded for configurations written for 0.1.0); remove it, or set a cause's mode to deny".to_string()
        })
    }
}

fn policy(
    field: &str,
    mode: RawErrorMode,
    status: Option<u16>,
    fallback_status: u16,
) -> Result<ErrorPolicy, ConfigError> {
    match (mode, status) {
        (RawErrorMode::Allow, Some(_)) => Err(ConfigError::new(
            format!("{field}.status"),
            "has no effect with mode allow (the request goes on); remove it or set mode to deny",
        )),
        (RawErrorMode::Allow, None) => Ok(ErrorPolicy::Allow),
        (RawErrorMode::Deny, status) => {
            let status = status.unwrap_or(fallback_status);
            if (400..=599).contains(&status) {
                Ok(ErrorPolicy::Deny { status })
            } else {
                Err(ConfigError::new(
                    format!("{field}.status"),
                    format!("{status} is not an error status (400 to 599)"),
                ))
            }
        }
    }
}

pub fn check(raw: &RawOnError) -> Result<OnError, ConfigError> {
    let mode = raw.mode.unwrap_or(RawErrorMode::Deny);
    if mode == RawErrorMode::Deny {
        policy("onError", mode, raw.status, DEFAULT_ERROR_STATUS)?;
    }
    let default_status = raw.status.unwrap_or(DEFAULT_ERROR_STATUS);
    let per_cause = [
        raw.timeout,
        raw.unreachable,
        raw.server_error,
        raw.malformed,
        raw.jwks,
    ];
    let mut out = [ErrorPolicy::Allow; 5];
    for ((slot, cause), given) in out.iter_mut().zip(Cause::ALL).zip(per_cause) {
        let given = given.unwrap_or(RawErrorPolicy::default());
        let field = format!("onError.{}", cause.name());
        *slot = policy(
            &field,
            given.mode.unwrap_or(mode),
            given.status,
            default_status,
        )?;
    }
    let denies = out.iter().any(|p| matches!(p, ErrorPolicy::Deny { .. }));
    let ignored = mode == RawErrorMode::Allow && raw.status.is_some() && !denies;
    Ok(OnError(out, ignored))
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::decision::Cause;

    use super::*;

    fn on_error(json: &str) -> Result<OnError, ConfigError> {
        let text = format!(
            r#"{{"authService": {{"cluster": "c", "authority": "a"}}, "onError": {json}}}"#
        );
        Config::parse(text.as_bytes()).map(|c| c.on_error)
    }

    #[test]
    fn causes_inherit_what_they_omit() {
        let deny = |status| ErrorPolicy::Deny { status };
        let cases: &[(&str, [ErrorPolicy; 5])] = &[
            ("{}", [deny(503); 5]),
            (r#"{"mode": "allow"}"#, [ErrorPolicy::Allow; 5]),
            (r#"{"status": 500}"#, [deny(500); 5]),
            (
                r#"{"timeout": {"mode": "allow"}}"#,
                [
                    ErrorPolicy::Allow,
                    deny(503),
                    deny(503),
                    deny(503),
                    deny(503),
                ],
            ),
            (
                r#"{"status": 502, "serverError": {"status": 504}, "malformed": {"mode": "deny"}}"#,
                [deny(502), deny(502), deny(504), deny(502), deny(502)],
            ),
            (
                r#"{"mode": "allow", "unreachable": {"mode": "deny", "status": 500}}"#,
                [
                    ErrorPolicy::Allow,
                    deny(500),
                    ErrorPolicy::Allow,
                    ErrorPolicy::Allow,
                    ErrorPolicy::Allow,
                ],
            ),
            (
                r#"{"mode": "allow", "unreachable": {"mode": "deny"}}"#,
                [
                    ErrorPolicy::Allow,
                    deny(503),
                    ErrorPolicy::Allow,
                    ErrorPolicy::Allow,
                    ErrorPolicy::Allow,
                ],
            ),
        ];
        for (json, want) in cases {
            let got = on_error(json).unwrap();
            let got: Vec<ErrorPolicy> = Cause::ALL.iter().map(|c| got.policy(*c)).collect();
            assert_eq!(got, want, "{json}");
        }
    }

    /// 0.1.0 loaded `{"mode": "allow", "status": ...}` (the status ignored): it still loads, all
    /// causes allowed, with a warning naming the field; a status some cause denies with is used.
    #[test]
    fn a_top_level_status_beside_allow_loads() {
        let load = |json: &str| {
            let text = format!(
                r#"{{"authService": {{"cluster": "c", "authority": "a"}}, "onError": {json}}}"#
            );
            Config::parse(text.as_bytes()).unwrap()
        };
        let deny = |status| ErrorPolicy::Deny { status };
        let cases: &[(&str, [ErrorPolicy; 5], bool)] = &[
            (
                r#"{"mode": "allow", "status": 503}"#,
                [ErrorPolicy::Allow; 5],
                true,
            ),
            (
                r#"{"mode": "allow", "status": 200}"#,
                [ErrorPolicy::Allow; 5],
                true,
            ),
            (
                r#"{"mode": "allow", "status": 502, "unreachable": {"mode": "deny"}}"#,
                [
                    ErrorPolicy::Allow,
                    deny(502),
                    ErrorPolicy::Allow,
                    ErrorPolicy::Allow,
                    ErrorPolicy::Allow,
                ],
                false,
            ),
            (r#"{"mode": "allow"}"#, [ErrorPolicy::Allow; 5], false),
        ];
        for (json, want, warned) in cases {
            let config = load(json);
            let got: Vec<ErrorPolicy> = Cause::ALL
                .iter()
                .map(|c| config.on_error.policy(*c))
                .collect();
            assert_eq!(got, want, "{json}");
            let warnings = config.warnings();
            let named = warnings.iter().any(|w| w.starts_with("onError.status:"));
            assert_eq!(named, *warned, "{json}: {warnings:?}");
        }
    }

    #[test]
    fn a_status_beside_allow_and_bad_statuses_are_refused() {
        let cases: &[(&str, &str)] = &[
            (
                r#"{"timeout": {"mode": "allow", "status": 503}}"#,
                "onError.timeout.status",
            ),
            (
                r#"{"mode": "allow", "serverError": {"status": 503}}"#,
                "onError.serverError.status",
            ),
            (r#"{"status": 200}"#, "onError.status"),
            (
                r#"{"malformed": {"status": 302}}"#,
                "onError.malformed.status",
            ),
        ];
        for (json, field) in cases {
            let e = on_error(json).unwrap_err();
            assert_eq!(e.field, *field, "{json}: {e}");
        }
        assert!(on_error(r#"{"timeout": {"mode": "maybe"}}"#).is_err());
        assert!(on_error(r#"{"retry": {}}"#).is_err(), "unknown cause");
    }

    #[test]
    fn authenticate_mode_refuses_to_let_unchecked_tokens_through() {
        let load = |on_error: &str| {
            let text = format!(
                r#"{{"identityHeaders": ["x-user-id"], "onError": {on_error},
                    "jwt": {{"mode": "authenticate", "providers": [{{"name": "p", "issuer": "https://i",
                      "jwks": {{"cluster": "idp", "authority": "idp", "path": "/jwks"}},
                      "claimHeaders": {{"sub": "x-user-id"}}}}]}}}}"#
            );
            Config::parse(text.as_bytes()).map(|_| ())
        };
        for (on_error, field) in [
            (r#"{"mode": "allow"}"#, "onError.mode"),
            (r#"{"jwks": {"mode": "allow"}}"#, "onError.jwks.mode"),
        ] {
            let e = load(on_error).unwrap_err();
            assert_eq!(e.field, field, "{on_error}: {e}");
            assert!(e.to_string().contains("forged"), "{e}");
        }
        load(r#"{"mode": "allow", "jwks": {"mode": "deny"}}"#).unwrap();
        load("{}").unwrap();
    }

    #[test]
    fn unknown_causes_are_refused() {
        assert!(on_error(r#"{"retry": {}}"#).is_err(), "unknown cause");
    }
}
