//! The one place where an outcome becomes what Envoy does with the request, what it is counted as,
//! and what the access log shows of it.

use crate::config::{Config, ErrorPolicy, Mode};
use crate::decision::{Decision, Outcome, TaggedHeaders};

const TEXT: &[u8] = b"text/plain";

#[derive(Debug, PartialEq, Eq)]
pub enum Verdict<'a> {
    /// Send the request upstream with these identity headers set (client-sent ones are already gone).
    Continue { identity: Vec<(&'a str, &'a [u8])> },
    /// Answer the client locally.
    Respond {
        status: u16,
        headers: Vec<(&'a str, &'a [u8])>,
        body: &'a [u8],
    },
}

/// What the filter did with a request: its counter and its access-log `outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    Allow,
    Deny,
    Bypass,
    /// `onError` applied.
    Error,
    /// An expired decision served because the callout failed.
    Stale,
    /// Shadow mode: denied, let through.
    ShadowDeny,
    /// Shadow mode: `onError` would have denied, let through.
    ShadowError,
}

impl Label {
    pub fn name(self) -> &'static str {
        match self {
            Label::Allow => "allow",
            Label::Deny => "deny",
            Label::Bypass => "bypass",
            Label::Error => "error",
            Label::Stale => "stale",
            Label::ShadowDeny => "shadow-deny",
            Label::ShadowError => "shadow-error",
        }
    }
}

/// The decision a request got, in access-log terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    pub label: Label,
    /// Decided from a cache level (a stale decision included), without a callout of its own.
    pub cached: bool,
    /// The auth service's status behind the decision, when there is one.
    pub auth_status: Option<u16>,
    /// The first configured identity header's value, on an allow.
    pub user: Option<&'a [u8]>,
}

pub fn label(config: &Config, outcome: &Outcome) -> Label {
    let shadow = config.mode == Mode::Shadow;
    let deny = if shadow {
        Label::ShadowDeny
    } else {
        Label::Deny
    };
    match outcome {
        Outcome::Bypass => Label::Bypass,
        Outcome::Decided(d) => match d.as_ref() {
            Decision::Allow { .. } => Label::Allow,
            Decision::Deny { .. } => deny,
        },
        Outcome::Stale(d, _) => match d.as_ref() {
            Decision::Deny { .. } if shadow => Label::ShadowDeny,
            _ => Label::Stale,
        },
        Outcome::Error(e) => match config.on_error.policy(e.cause()) {
            ErrorPolicy::Deny { .. } if shadow => Label::ShadowError,
            _ => Label::Error,
        },
        Outcome::BadRequest(_) | Outcome::Unauthenticated { .. } => deny,
        Outcome::Authenticated(_) => Label::Allow,
    }
}

pub fn record<'a>(config: &Config, outcome: &'a Outcome, cached: bool) -> Record<'a> {
    let decision = match outcome {
        Outcome::Decided(d) | Outcome::Stale(d, _) => Some(d.as_ref()),
        _ => None,
    };
    let (auth_status, user) = match decision {
        Some(Decision::Allow { status, identity }) => (
            Some(*status),
            identity.iter().find(|(i, _)| *i == 0).map(|(_, v)| v),
        ),
        Some(Decision::Deny { status, .. }) => (Some(*status), None),
        None => match outcome {
            Outcome::Authenticated(identity) => {
                (None, identity.iter().find(|(i, _)| *i == 0).map(|(_, v)| v))
            }
            _ => (None, None),
        },
    };
    Record {
        label: label(config, outcome),
        cached: cached || matches!(outcome, Outcome::Stale(..)),
        auth_status,
        user,
    }
}

/// What a request gets when the filter cannot do its job safely (a host call failed, or the
/// request came before any valid configuration): closed, never open. With shadow mode too: the
/// request was not judged at all.
pub fn fail_closed() -> Verdict<'static> {
    Verdict::Respond {
        status: 500,
        headers: vec![("content-type", TEXT)],
        body: b"internal error\n",
    }
}

pub fn action<'a>(config: &'a Config, outcome: &'a Outcome) -> Verdict<'a> {
    let go_on = Verdict::Continue {
        identity: Vec::new(),
    };
    // Shadow mode decides everything as usual but stops nothing: an allow still carries its
    // identity, anything else goes on without one (client-sent identity is already gone).
    let shadow = config.mode == Mode::Shadow;
    match outcome {
        Outcome::Bypass => go_on,
        Outcome::Decided(decision) | Outcome::Stale(decision, _) => match decision.as_ref() {
            Decision::Allow { identity, .. } => Verdict::Continue {
                identity: named(&config.identity_headers, identity),
            },
            Decision::Deny { .. } if shadow => go_on,
            Decision::Deny {
                status,
                headers,
                body,
            } => Verdict::Respond {
                status: *status,
                headers: named(&config.deny_headers, headers),
                body,
            },
        },
        Outcome::Error(e) => match config.on_error.policy(e.cause()) {
            ErrorPolicy::Allow => go_on,
            ErrorPolicy::Deny { .. } if shadow => go_on,
            ErrorPolicy::Deny { status } => Verdict::Respond {
                status,
                headers: vec![("content-type", TEXT)],
                body: b"authorization service unavailable\n",
            },
        },
        Outcome::BadRequest(_) if shadow => go_on,
        Outcome::BadRequest(_) => Verdict::Respond {
            status: 400,
            headers: vec![("content-type", TEXT)],
            body: b"bad request\n",
        },
        Outcome::Authenticated(identity) => Verdict::Continue {
            identity: named(&config.identity_headers, identity),
        },
        Outcome::Unauthenticated { .. } if shadow => go_on,
        // RFC 6750: a bad token (expired, forged, wrong audience alike) is `invalid_token`; no
        // token at all is a bare challenge. Which check failed is for the log, not the client.
        Outcome::Unauthenticated { presented } => Verdict::Respond {
            status: 401,
            headers: vec![
                (
                    "www-authenticate",
                    if *presented {
                        b"Bearer error=\"invalid_token\"".as_slice()
                    } else {
                        b"Bearer"
                    },
                ),
                ("content-type", TEXT),
            ],
            body: if *presented {
                b"invalid token\n"
            } else {
                b"token required\n"
            },
        },
    }
}

fn named<'a>(names: &'a [String], values: &'a TaggedHeaders) -> Vec<(&'a str, &'a [u8])> {
    values
        .iter()
        .filter_map(|(i, v)| Some((names.get(usize::from(i))?.as_str(), v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::callout::BadRequest;
    use crate::decision::{CalloutError, Unreachable};
    use std::rc::Rc;

    fn config(on_error: &str) -> Config {
        let text = format!(
            r#"{{"authService": {{"cluster": "c", "authority": "a"}}, "identityHeaders": ["x-user-id"], "onError": {on_error} }}"#
        );
        Config::parse(text.as_bytes()).unwrap()
    }

    fn decided(d: Decision) -> Outcome {
        Outcome::Decided(Rc::new(d))
    }

    #[test]
    fn allow_sets_identity_by_name() {
        let cfg = config(r#"{"mode": "deny"}"#);
        let o = decided(Decision::Allow {
            status: 200,
            identity: TaggedHeaders::from_pairs([(0, b"alice".as_slice())]),
        });
        assert_eq!(
            action(&cfg, &o),
            Verdict::Continue {
                identity: vec![("x-user-id", b"alice".as_slice())]
            }
        );
    }

    #[test]
    fn deny_passes_status_headers_and_body() {
        let cfg = config(r#"{"mode": "deny"}"#);
        let o = decided(Decision::Deny {
            status: 302,
            headers: TaggedHeaders::from_pairs([(1, b"/login".as_slice())]),
            body: b"go".as_slice().into(),
        });
        assert_eq!(
            action(&cfg, &o),
            Verdict::Respond {
                status: 302,
                headers: vec![("location", b"/login".as_slice())],
                body: b"go"
            }
        );
    }

    #[test]
    fn errors_follow_on_error() {
        let deny = config(r#"{"mode": "deny", "status": 503}"#);
        let allow = config(r#"{"mode": "allow"}"#);
        let o = Outcome::Error(CalloutError::Unreachable(Unreachable::NoAnswer));
        assert!(matches!(
            action(&deny, &o),
            Verdict::Respond { status: 503, .. }
        ));
        assert_eq!(action(&allow, &o), Verdict::Continue { identity: vec![] });
    }

    #[test]
    fn each_cause_follows_its_own_policy() {
        let cfg = config(
            r#"{"status": 503, "timeout": {"mode": "allow"}, "serverError": {"status": 502}}"#,
        );
        let cases: &[(CalloutError, Option<u16>, Label)] = &[
            (CalloutError::Timeout, None, Label::Error),
            (
                CalloutError::Unreachable(Unreachable::EnvoyReply(503)),
                Some(503),
                Label::Error,
            ),
            (CalloutError::ServerError(500), Some(502), Label::Error),
            (CalloutError::Malformed, Some(503), Label::Error),
        ];
        for (e, status, want) in cases {
            let o = Outcome::Error(e.clone());
            let got = match action(&cfg, &o) {
                Verdict::Respond { status, .. } => Some(status),
                Verdict::Continue { identity } => {
                    assert!(identity.is_empty());
                    None
                }
            };
            assert_eq!((got, label(&cfg, &o)), (*status, *want), "{e:?}");
        }
    }

    #[test]
    fn shadow_mode_stops_nothing_and_says_so() {
        let text = r#"{"authService": {"cluster": "c", "authority": "a"}, "identityHeaders": ["x-user-id"],
            "mode": "shadow", "onError": {"timeout": {"mode": "allow"}}}"#;
        let cfg = Config::parse(text.as_bytes()).unwrap();
        let go_on = Verdict::Continue { identity: vec![] };
        let deny = decided(Decision::Deny {
            status: 403,
            headers: TaggedHeaders::default(),
            body: b"no".as_slice().into(),
        });
        assert_eq!(action(&cfg, &deny), go_on);
        assert_eq!(label(&cfg, &deny), Label::ShadowDeny);
        let error = Outcome::Error(CalloutError::ServerError(500));
        assert_eq!(action(&cfg, &error), go_on);
        assert_eq!(label(&cfg, &error), Label::ShadowError);
        let allowed_anyway = Outcome::Error(CalloutError::Timeout);
        assert_eq!(
            label(&cfg, &allowed_anyway),
            Label::Error,
            "enforce would not stop it either"
        );
        let bad = Outcome::BadRequest(BadRequest::DotSegment);
        assert_eq!(
            (action(&cfg, &bad), label(&cfg, &bad)),
            (go_on, Label::ShadowDeny)
        );
        let allow = decided(Decision::Allow {
            status: 200,
            identity: TaggedHeaders::from_pairs([(0, b"alice".as_slice())]),
        });
        assert_eq!(
            action(&cfg, &allow),
            Verdict::Continue {
                identity: vec![("x-user-id", b"alice".as_slice())]
            },
            "an allow still carries its identity"
        );
    }

    #[test]
    fn records_say_what_the_access_log_shows() {
        let cfg = config(r#"{"mode": "deny"}"#);
        let allow = decided(Decision::Allow {
            status: 204,
            identity: TaggedHeaders::from_pairs([(0, b"alice".as_slice())]),
        });
        let r = record(&cfg, &allow, true);
        assert_eq!(
            (r.label.name(), r.cached, r.auth_status, r.user),
            ("allow", true, Some(204), Some(b"alice".as_slice()))
        );
        let stale = Outcome::Stale(
            Rc::new(Decision::Deny {
                status: 401,
                headers: TaggedHeaders::default(),
                body: Box::default(),
            }),
            CalloutError::Timeout,
        );
        let r = record(&cfg, &stale, false);
        assert_eq!(
            (r.label.name(), r.cached, r.auth_status, r.user),
            ("stale", true, Some(401), None)
        );
        let r = record(&cfg, &Outcome::Bypass, false);
        assert_eq!(
            (r.label.name(), r.cached, r.auth_status),
            ("bypass", false, None)
        );
    }

    #[test]
    fn bypass_and_bad_requests() {
        let cfg = config(r#"{"mode": "allow"}"#);
        assert_eq!(
            action(&cfg, &Outcome::Bypass),
            Verdict::Continue { identity: vec![] }
        );
        let bad = Outcome::BadRequest(BadRequest::MissingPseudoHeader(":method"));
        assert!(
            matches!(action(&cfg, &bad), Verdict::Respond { status: 400, .. }),
            "bad requests never fail open"
        );
    }
}
