//! Reading the auth service's answer: 2xx allows, 5xx (and a 1xx, which is never final) is an error,
//! anything else denies. Also decides how long the answer may be cached and whether other requests
//! waiting on the same key may be handed it.
//!
//! Requests without a credential share one key, so an answer made for one client (it sets a cookie,
//! or says `private`, `no-store` or `no-cache`) is never cached and never handed to another client:
//! a fresh pre-session or CSRF cookie given to everyone is session fixation.

use crate::cache::MAX_ENTRY_PAYLOAD_BYTES;
use crate::cache_control;
use crate::config::Config;
use crate::decision::{CalloutError, Decision, TaggedHeaders, Unreachable, Weigh};

/// The header Envoy's router adds to every answer that came from upstream.
const UPSTREAM_SERVICE_TIME: &str = "x-envoy-upstream-service-time";

/// The auth service's answer as the adapter read it: header pairs (with `:status`) and the body,
/// at most `maxDenyBodyBytes` of it.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    pub headers: &'a [(&'a str, &'a [u8])],
    pub body: &'a [u8],
}

#[derive(Debug, PartialEq, Eq)]
pub struct Judged {
    pub decision: Decision,
    /// 0: do not cache.
    pub ttl_secs: u32,
    /// Requests waiting on the same callout may be given this answer; when false each must ask
    /// the auth service itself.
    pub shareable: bool,
}

/// `headers` are the response's header pairs (with `:status`), `body` at most what the adapter read.
pub fn judge(
    config: &Config,
    headers: &[(&str, &[u8])],
    body: &[u8],
) -> Result<Judged, CalloutError> {
    if headers.is_empty() {
        return Err(CalloutError::Unreachable(Unreachable::NoAnswer));
    }
    let status = status(headers).ok_or(CalloutError::Malformed)?;
    if status >= 500 {
        // Envoy adds x-envoy-upstream-service-time to every answer that came from upstream; a 5xx
        // without it is Envoy's own: its timeout (504), or the service unreachable.
        let from_upstream = headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(UPSTREAM_SERVICE_TIME));
        return Err(match (from_upstream, status) {
            (true, s) => CalloutError::ServerError(s),
            (false, 504) => CalloutError::Timeout,
            (false, s) => CalloutError::Unreachable(Unreachable::EnvoyReply(s)),
        });
    }
    if status < 200 {
        return Err(CalloutError::Malformed);
    }
    let named = |name: &'static str| {
        headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    };
    let cc = cache_control::parse(named("cache-control"));
    let per_client = cc.per_client() || named("set-cookie").next().is_some();
    let policy = if per_client { None } else { config.cache };
    if (200..300).contains(&status) {
        let identity = pick(&config.identity_headers, headers);
        let ttl = match policy {
            Some(p) => cc.max_age.unwrap_or(p.allow_ttl_secs).min(p.max_ttl_secs),
            None => 0,
        };
        return Ok(bounded(
            Decision::Allow { status, identity },
            ttl,
            !per_client,
        ));
    }
    let cacheable = status == 401 || status == 403;
    let ttl = match policy {
        Some(p) if cacheable => p.deny_ttl_secs.min(p.max_ttl_secs),
        _ => 0,
    };
    let end = body.len().min(config.max_deny_body_bytes);
    let body = body.get(..end).unwrap_or_default();
    let decision = Decision::Deny {
        status,
        headers: pick(&config.deny_headers, headers),
        body: body.into(),
    };
    Ok(bounded(decision, ttl, !per_client))
}

/// A decision too large for one cache entry still goes to the client (and to waiters, as it is the
/// same for everyone), but is not cached: the cache's memory stays proportional to its entries.
pub(crate) fn bounded(decision: Decision, ttl_secs: u32, shareable: bool) -> Judged {
    let ttl_secs = if decision.payload_bytes() > MAX_ENTRY_PAYLOAD_BYTES {
        0
    } else {
        ttl_secs
    };
    Judged {
        decision,
        ttl_secs,
        shareable,
    }
}

/// The answer's `:status`, if it is a valid status code.
fn status(headers: &[(&str, &[u8])]) -> Option<u16> {
    headers
        .iter()
        .find(|(n, _)| *n == ":status")
        .and_then(|(_, v)| std::str::from_utf8(v).ok())
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|s| (100..=599).contains(s))
}

/// Whether `judge` will use the body: only a deny passes it on, so an allow's or an error's body
/// need not be read from the host at all.
pub fn body_wanted(headers: &[(&str, &[u8])]) -> bool {
    status(headers).is_some_and(|s| (300..500).contains(&s))
}

/// The values of the `wanted` headers the service returned, in response order, tagged by index.
pub(crate) fn pick(wanted: &[String], headers: &[(&str, &[u8])]) -> TaggedHeaders {
    TaggedHeaders::from_pairs(headers.iter().filter_map(|(name, value)| {
        let idx = wanted.iter().position(|w| w == name)?;
        Some((u8::try_from(idx).ok()?, *value))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(cache: &str) -> Config {
        let text = format!(
            r#"{{"authService": {{"cluster": "c", "authority": "a"}}, "identityHeaders": ["x-user-id", "x-tenant-id"],
                "maxDenyBodyBytes": 8 {cache} }}"#
        );
        Config::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn two_hundreds_allow_with_the_identity_returned() {
        let cfg = config("");
        let j = judge(
            &cfg,
            &[
                (":status", b"200"),
                ("x-user-id", b"alice"),
                ("x-other", b"z"),
                ("x-tenant-id", b"acme"),
            ],
            b"",
        )
        .unwrap();
        assert_eq!(
            j.decision,
            Decision::Allow {
                status: 200,
                identity: TaggedHeaders::from_pairs([
                    (0, b"alice".as_slice()),
                    (1, b"acme".as_slice())
                ])
            }
        );
        assert_eq!(j.ttl_secs, 60);
        assert!(matches!(
            judge(&cfg, &[(":status", b"204")], b"").unwrap().decision,
            Decision::Allow { .. }
        ));
    }

    #[test]
    fn other_answers_deny_with_only_the_deny_headers_and_a_bounded_body() {
        let cfg = config("");
        let j = judge(
            &cfg,
            &[
                (":status", b"401"),
                ("www-authenticate", b"Bearer"),
                ("x-internal", b"secret"),
                ("set-cookie", b"a"),
                ("set-cookie", b"b"),
            ],
            b"0123456789",
        )
        .unwrap();
        let Decision::Deny {
            status,
            headers,
            body,
        } = j.decision
        else {
            panic!("not a deny")
        };
        assert_eq!(status, 401);
        // denyHeaders default: www-authenticate(0), location(1), set-cookie(2), content-type(3)
        let expected: [(u8, &[u8]); 3] = [(0, b"Bearer"), (2, b"a"), (2, b"b")];
        assert_eq!(headers.iter().collect::<Vec<_>>(), expected);
        assert_eq!(&*body, b"01234567");
        assert_eq!(
            (j.ttl_secs, j.shareable),
            (0, false),
            "it sets a cookie: made for this client only"
        );
    }

    #[test]
    fn answers_made_for_one_client_are_neither_cached_nor_shared() {
        let cfg = config("");
        // (headers, ttl, shareable)
        type Case<'a> = (&'a [(&'a str, &'a [u8])], u32, bool);
        let cases: &[Case<'_>] = &[
            (&[(":status", b"401")], 5, true),
            (&[(":status", b"401"), ("set-cookie", b"pre=1")], 0, false),
            (&[(":status", b"200"), ("set-cookie", b"s=1")], 0, false),
            (&[(":status", b"403"), ("Set-Cookie", b"s=1")], 0, false),
            (&[(":status", b"302"), ("set-cookie", b"csrf=9")], 0, false),
            (
                &[(":status", b"401"), ("cache-control", b"private")],
                0,
                false,
            ),
            (
                &[
                    (":status", b"200"),
                    ("cache-control", b"private, max-age=60"),
                ],
                0,
                false,
            ),
            (
                &[(":status", b"200"), ("cache-control", b"no-store")],
                0,
                false,
            ),
            (
                &[(":status", b"401"), ("cache-control", b"no-cache")],
                0,
                false,
            ),
            (
                &[(":status", b"200"), ("cache-control", b"x=\xff, no-store")],
                0,
                false,
            ),
            (
                &[
                    (":status", b"200"),
                    ("cache-control", b"public"),
                    ("cache-control", b"no-store"),
                ],
                0,
                false,
            ),
            // Not cached for their status alone, but the same answer for everyone.
            (&[(":status", b"302"), ("location", b"/login")], 0, true),
            (&[(":status", b"429")], 0, true),
            (
                &[(":status", b"200"), ("cache-control", b"public, max-age=9")],
                9,
                true,
            ),
        ];
        for (headers, ttl, shareable) in cases {
            let j = judge(&cfg, headers, b"").unwrap();
            assert_eq!((j.ttl_secs, j.shareable), (*ttl, *shareable), "{headers:?}");
        }
    }

    #[test]
    fn a_decision_too_large_for_one_entry_is_passed_on_and_shared_but_not_cached() {
        let cfg = Config::parse(
            br#"{"authService": {"cluster": "c", "authority": "a"}, "maxDenyBodyBytes": 1048576}"#,
        )
        .unwrap();
        let big = vec![b'x'; MAX_ENTRY_PAYLOAD_BYTES + 1];
        let j = judge(&cfg, &[(":status", b"403")], &big).unwrap();
        assert_eq!((j.ttl_secs, j.shareable), (0, true));
        assert_eq!(
            j.decision.payload_bytes(),
            big.len(),
            "the client gets it all"
        );
        let fits = vec![b'x'; MAX_ENTRY_PAYLOAD_BYTES];
        assert_eq!(
            judge(&cfg, &[(":status", b"403")], &fits).unwrap().ttl_secs,
            5
        );
        let big_header = vec![b'x'; MAX_ENTRY_PAYLOAD_BYTES];
        let j = judge(
            &cfg,
            &[(":status", b"401"), ("www-authenticate", &big_header)],
            b"x",
        )
        .unwrap();
        assert_eq!(j.ttl_secs, 0, "headers count too");
    }

    #[test]
    fn ttl_rules() {
        let cfg = config("");
        let ttl = |h: &[(&str, &[u8])]| judge(&cfg, h, b"").unwrap().ttl_secs;
        assert_eq!(
            ttl(&[(":status", b"200"), ("cache-control", b"max-age=10")]),
            10
        );
        assert_eq!(
            ttl(&[(":status", b"200"), ("cache-control", b"max-age=100000")]),
            300,
            "capped by maxTtlSeconds"
        );
        assert_eq!(
            ttl(&[(":status", b"200"), ("cache-control", b"no-store")]),
            0
        );
        assert_eq!(
            ttl(&[(":status", b"200"), ("cache-control", b"no-cache")]),
            0
        );
        assert_eq!(ttl(&[(":status", b"403")]), 5);
        assert_eq!(
            ttl(&[(":status", b"401"), ("cache-control", b"no-store")]),
            0
        );
        assert_eq!(
            ttl(&[(":status", b"302"), ("location", b"/login")]),
            0,
            "redirects are not cached"
        );
        assert_eq!(ttl(&[(":status", b"429")]), 0);
        let off = config(r#", "cache": {"enabled": false}"#);
        assert_eq!(
            judge(&off, &[(":status", b"200")], b"").unwrap().ttl_secs,
            0
        );
    }

    #[test]
    fn only_a_deny_wants_its_body() {
        let wants = |s: &[u8]| body_wanted(&[(":status", s)]);
        assert!(wants(b"401") && wants(b"302") && wants(b"403"));
        assert!(!wants(b"200") && !wants(b"204") && !wants(b"500") && !wants(b"x"));
        assert!(!wants(b"100") && !wants(b"103"));
        assert!(!body_wanted(&[]));
    }

    #[test]
    fn errors() {
        let cfg = config("");
        assert_eq!(
            judge(&cfg, &[], b""),
            Err(CalloutError::Unreachable(Unreachable::NoAnswer))
        );
        // What Envoy hands the module, seen on a real Envoy: the service's own 5xx carries
        // x-envoy-upstream-service-time; Envoy's timeout and connection failures do not.
        let upstream: &[u8] = b"3";
        let cases: &[(&[u8], bool, CalloutError)] = &[
            (b"500", true, CalloutError::ServerError(500)),
            (b"503", true, CalloutError::ServerError(503)),
            (b"504", true, CalloutError::ServerError(504)),
            (b"504", false, CalloutError::Timeout),
            (
                b"503",
                false,
                CalloutError::Unreachable(Unreachable::EnvoyReply(503)),
            ),
            (
                b"500",
                false,
                CalloutError::Unreachable(Unreachable::EnvoyReply(500)),
            ),
        ];
        for (status, from_upstream, want) in cases {
            let mut h: Vec<(&str, &[u8])> =
                vec![(":status", status), ("content-type", b"text/plain")];
            if *from_upstream {
                h.push(("x-envoy-upstream-service-time", upstream));
            }
            assert_eq!(judge(&cfg, &h, b""), Err(want.clone()), "{h:?}");
        }
        assert_eq!(
            judge(&cfg, &[(":status", b"abc")], b""),
            Err(CalloutError::Malformed)
        );
        assert_eq!(
            judge(&cfg, &[(":status", b"99")], b""),
            Err(CalloutError::Malformed)
        );
        for informational in [b"100", b"101", b"103", b"199"] {
            assert_eq!(
                judge(&cfg, &[(":status", informational)], b""),
                Err(CalloutError::Malformed),
                "a 1xx is not a final answer, so not a deny"
            );
        }
        assert_eq!(
            judge(&cfg, &[("x", b"y")], b""),
            Err(CalloutError::Malformed)
        );
    }
}
