//! The one place where an outcome becomes what Envoy does with the request.

use crate::config::{Config, OnError};
use crate::decision::{Decision, Outcome, TaggedHeaders};

const TEXT: &[u8] = b"text/plain";

#[derive(Debug, PartialEq, Eq)]
pub enum Action<'a> {
    /// Send the request upstream with these identity headers set (client-sent ones are already gone).
    Continue { identity: Vec<(&'a str, &'a [u8])> },
    /// Answer the client locally.
    Respond {
        status: u16,
        headers: Vec<(&'a str, &'a [u8])>,
        body: &'a [u8],
    },
}

pub fn action<'a>(config: &'a Config, outcome: &'a Outcome) -> Action<'a> {
    match outcome {
        Outcome::Bypass => Action::Continue {
            identity: Vec::new(),
        },
        Outcome::Decided(decision) => match decision.as_ref() {
            Decision::Allow { identity } => Action::Continue {
                identity: named(&config.identity_headers, identity),
            },
            Decision::Deny {
                status,
                headers,
                body,
            } => Action::Respond {
                status: *status,
                headers: named(&config.deny_headers, headers),
                body,
            },
        },
        Outcome::Error(_) => match config.on_error {
            OnError::Allow => Action::Continue {
                identity: Vec::new(),
            },
            OnError::Deny { status } => Action::Respond {
                status,
                headers: vec![("content-type", TEXT)],
                body: b"authorization service unavailable\n",
            },
        },
        Outcome::BadRequest(_) => Action::Respond {
            status: 400,
            headers: vec![("content-type", TEXT)],
            body: b"bad request\n",
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
    use crate::decision::CalloutError;
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
            identity: TaggedHeaders::from_pairs([(0, b"alice".as_slice())]),
        });
        assert_eq!(
            action(&cfg, &o),
            Action::Continue {
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
            Action::Respond {
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
        let o = Outcome::Error(CalloutError::NoResponse);
        assert!(matches!(
            action(&deny, &o),
            Action::Respond { status: 503, .. }
        ));
        assert_eq!(action(&allow, &o), Action::Continue { identity: vec![] });
    }

    #[test]
    fn bypass_and_bad_requests() {
        let cfg = config(r#"{"mode": "allow"}"#);
        assert_eq!(
            action(&cfg, &Outcome::Bypass),
            Action::Continue { identity: vec![] }
        );
        let bad = Outcome::BadRequest(BadRequest::MissingPseudoHeader(":method"));
        assert!(
            matches!(action(&cfg, &bad), Action::Respond { status: 400, .. }),
            "bad requests never fail open"
        );
    }
}
