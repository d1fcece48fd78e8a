//! What the plugin configuration says a client must see when the auth service is in trouble, read
//! from the same JSON the Envoy under test runs with, so a config variant of the chaos run changes
//! its expectations by itself.
//!
//! Read today: `onError.mode` / `onError.status`. Read already, for the filter features still to
//! come, so their chaos variants need only a config patch: per-cause `onError.{timeout,
//! unreachable, serverError}` objects (each inheriting what it omits), `cache.staleIfErrorSeconds`
//! and the top-level `"mode": "shadow"`.

use serde_json::Value;

/// Why a callout failed, as the filter will tell them apart (the names of the per-cause
/// `onError` objects).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cause {
    /// No answer within `timeoutMs` (hung or slow service).
    Timeout,
    /// Connection refused or reset, no healthy host.
    Unreachable,
    /// A 5xx the service itself sent.
    ServerError,
}

impl Cause {
    pub const ALL: [Cause; 3] = [Cause::Timeout, Cause::Unreachable, Cause::ServerError];

    /// The key of its `onError` object.
    pub fn key(self) -> &'static str {
        match self {
            Cause::Timeout => "timeout",
            Cause::Unreachable => "unreachable",
            Cause::ServerError => "serverError",
        }
    }
}

/// What a request that needed the failed callout gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorAnswer {
    /// The filter answers this status itself (body `authorization service unavailable`).
    Deny { status: u16 },
    /// The request goes on to the upstream without identity.
    Allow,
}

/// Expectations of one configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub default: ErrorAnswer,
    /// Per cause, after inheritance; `Cause::ALL` order.
    pub per_cause: [ErrorAnswer; 3],
    /// `cache.staleIfErrorSeconds > 0`: an expired decision may be served during a failure.
    pub stale_if_error: bool,
    /// `"mode": "shadow"`: denials and errors go on to the upstream (without identity).
    pub shadow: bool,
}

const DEFAULT_STATUS: u16 = 503;

fn answer(obj: Option<&Value>, inherit: ErrorAnswer) -> ErrorAnswer {
    let Some(obj) = obj else { return inherit };
    let inherited_status = match inherit {
        ErrorAnswer::Deny { status } => status,
        ErrorAnswer::Allow => DEFAULT_STATUS,
    };
    let status = obj
        .get("status")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or(inherited_status);
    match obj.get("mode").and_then(Value::as_str) {
        Some("allow") => ErrorAnswer::Allow,
        Some(_) => ErrorAnswer::Deny { status },
        None => match inherit {
            ErrorAnswer::Allow => ErrorAnswer::Allow,
            ErrorAnswer::Deny { .. } => ErrorAnswer::Deny { status },
        },
    }
}

impl Policy {
    /// The policy of a plugin configuration (the filter's own defaults where a field is absent).
    pub fn of(config: &Value) -> Policy {
        let on_error = config.get("onError");
        let default = answer(
            on_error,
            ErrorAnswer::Deny {
                status: DEFAULT_STATUS,
            },
        );
        let per_cause = Cause::ALL.map(|c| answer(on_error.and_then(|o| o.get(c.key())), default));
        Policy {
            default,
            per_cause,
            stale_if_error: config
                .pointer("/cache/staleIfErrorSeconds")
                .and_then(Value::as_u64)
                .is_some_and(|s| s > 0),
            shadow: config.get("mode").and_then(Value::as_str) == Some("shadow"),
        }
    }

    /// The answer for a failure of this cause (`None`: the default).
    pub fn for_cause(&self, cause: Option<Cause>) -> ErrorAnswer {
        match cause {
            None => self.default,
            Some(c) => Cause::ALL
                .iter()
                .zip(self.per_cause)
                .find(|(k, _)| **k == c)
                .map_or(self.default, |(_, a)| a),
        }
    }

    /// Whether a request may reach the upstream without a decision (no identity) in a phase whose
    /// failures have this cause: an `allow` error answer, or shadow mode.
    pub fn passes_undecided(&self, cause: Option<Cause>) -> bool {
        self.shadow || (cause.is_some() && self.for_cause(cause) == ErrorAnswer::Allow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn policies_from_configs() {
        let deny503 = ErrorAnswer::Deny { status: 503 };
        let cases: Vec<(Value, ErrorAnswer, [ErrorAnswer; 3], bool, bool)> = vec![
            (json!({}), deny503, [deny503; 3], false, false),
            (
                json!({"onError": {"mode": "deny", "status": 502}}),
                ErrorAnswer::Deny { status: 502 },
                [ErrorAnswer::Deny { status: 502 }; 3],
                false,
                false,
            ),
            (
                json!({"onError": {"mode": "allow"}}),
                ErrorAnswer::Allow,
                [ErrorAnswer::Allow; 3],
                false,
                false,
            ),
            (
                // Fail open on timeouts only; server errors get their own status.
                json!({"onError": {"mode": "deny", "status": 503,
                    "timeout": {"mode": "allow"}, "serverError": {"status": 502}}}),
                deny503,
                [
                    ErrorAnswer::Allow,
                    deny503,
                    ErrorAnswer::Deny { status: 502 },
                ],
                false,
                false,
            ),
            (
                json!({"onError": {"mode": "allow", "unreachable": {"mode": "deny"}},
                    "cache": {"staleIfErrorSeconds": 30}, "mode": "shadow"}),
                ErrorAnswer::Allow,
                [ErrorAnswer::Allow, deny503, ErrorAnswer::Allow],
                true,
                true,
            ),
        ];
        for (config, default, per_cause, stale, shadow) in cases {
            let p = Policy::of(&config);
            assert_eq!(
                (p.default, p.per_cause, p.stale_if_error, p.shadow),
                (default, per_cause, stale, shadow),
                "{config}"
            );
        }
    }

    #[test]
    fn undecided_passes_only_where_configured() {
        let p = Policy::of(&json!({"onError": {"mode": "deny", "timeout": {"mode": "allow"}}}));
        assert!(p.passes_undecided(Some(Cause::Timeout)));
        assert!(!p.passes_undecided(Some(Cause::ServerError)));
        assert!(!p.passes_undecided(None));
        assert_eq!(
            p.for_cause(Some(Cause::Unreachable)),
            ErrorAnswer::Deny { status: 503 }
        );
        assert!(Policy::of(&json!({"mode": "shadow"})).passes_undecided(None));
    }
}
