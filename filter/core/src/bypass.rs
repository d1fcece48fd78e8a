//! Bypass rules: requests that go on without a callout (health checks, CORS preflight).
//! A rule's fields must all match. Path prefixes match whole segments (see `path::RequestPath`).
//! `corsPreflight` matches only a real preflight: `OPTIONS` with `origin` and
//! `access-control-request-method`, whose headers end the stream (no body: no `content-length`
//! above 0, no `transfer-encoding`) and that carries no method-override header. A plain `OPTIONS`,
//! or a preflight-shaped one with a body or an override, is an ordinary request that a handler
//! which ignores the method (or honours the override) would serve, so it is checked like any
//! other.

use crate::error::ConfigError;
use crate::path::{self, RequestPath};
use crate::request::RequestHead;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BypassRule {
    /// Without a trailing '/', so that "/" becomes "" and matches every path.
    path_prefix: Option<String>,
    method: Option<String>,
    cors_preflight: bool,
}

impl BypassRule {
    pub fn new(
        field: &str,
        path_prefix: Option<&str>,
        method: Option<&str>,
        cors_preflight: bool,
    ) -> Result<Self, ConfigError> {
        if path_prefix.is_none() && method.is_none() && !cors_preflight {
            return Err(ConfigError::new(
                field,
                "a bypass rule needs pathPrefix, method or corsPreflight: true",
            ));
        }
        if method.is_some() && cors_preflight {
            return Err(ConfigError::new(
                format!("{field}.method"),
                "cannot be combined with corsPreflight, which already means OPTIONS with origin and access-control-request-method",
            ));
        }
        let path_prefix = match path_prefix {
            None => None,
            Some(p) => {
                path::check_prefix(&format!("{field}.pathPrefix"), p)?;
                Some(p.trim_end_matches('/').to_string())
            }
        };
        let method = match method {
            None => None,
            Some(m) if m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphabetic()) => {
                return Err(ConfigError::new(
                    format!("{field}.method"),
                    "is not an HTTP method (letters only, such as GET or OPTIONS)",
                ));
            }
            Some(m) => Some(m.to_ascii_uppercase()),
        };
        Ok(BypassRule {
            path_prefix,
            method,
            cors_preflight,
        })
    }

    /// `path`: the request's path once it passed `path::check` (`None`: the request has none).
    pub fn matches(&self, req: &RequestHead<'_>, path: Option<&RequestPath<'_>>) -> bool {
        let Some(method) = req.method() else {
            return false;
        };
        let method_ok = self.method.as_deref().is_none_or(|m| m == method);
        let preflight_ok = !self.cors_preflight || is_cors_preflight(method, req);
        let path_ok = match self.path_prefix.as_deref() {
            None => true,
            Some(prefix) => path.is_some_and(|p| p.is_under(prefix)),
        };
        method_ok && preflight_ok && path_ok
    }

    /// A rule that lets every `OPTIONS` through, whatever it carries; worth a warning at load.
    pub fn bypasses_any_options(&self) -> bool {
        self.method.as_deref() == Some("OPTIONS")
    }
}

/// Headers a framework may read as the request's real method (Express's `method-override`,
/// Rails, Symfony, Google's APIs): a preflight never carries one.
const METHOD_OVERRIDES: [&str; 4] = [
    "x-http-method-override",
    "x-method-override",
    "x-http-method",
    "x-original-method",
];

fn is_cors_preflight(method: &str, req: &RequestHead<'_>) -> bool {
    let present = |name| req.first(name).is_some_and(|v| !v.is_empty());
    let bodiless = req.headers_only()
        && req.first("transfer-encoding").is_none()
        && req
            .values("content-length")
            .all(|v| v.trim_ascii().iter().all(|b| *b == b'0') && !v.trim_ascii().is_empty());
    let overridden = METHOD_OVERRIDES.iter().any(|h| req.first(h).is_some());
    method == "OPTIONS"
        && present("origin")
        && present("access-control-request-method")
        && bodiless
        && !overridden
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(p: Option<&str>, m: Option<&str>, cors: bool) -> BypassRule {
        BypassRule::new("bypass[0]", p, m, cors).unwrap()
    }

    /// A request whose headers end the stream, as a real preflight's do.
    fn matches(r: &BypassRule, headers: &[(&str, &[u8])]) -> bool {
        matches_ending(r, headers, true)
    }

    fn matches_ending(r: &BypassRule, headers: &[(&str, &[u8])], headers_only: bool) -> bool {
        let req = RequestHead::new(headers).ending(headers_only);
        let path = req.path().map(|p| path::check(p).unwrap());
        r.matches(&req, path.as_ref())
    }

    #[test]
    fn path_prefixes_match_whole_segments() {
        let cases: &[(&str, &str, bool)] = &[
            ("/healthz", "/healthz", true),
            ("/healthz", "/healthz/live", true),
            ("/healthz", "/healthzadmin", false),
            ("/healthz", "/healthz;x", false),
            ("/healthz", "/healthz%2fx", false),
            ("/healthz/", "/healthz/live", true),
            ("/healthz/", "/healthz", true),
            ("/", "/anything", true),
        ];
        for (prefix, p, want) in cases {
            let h: &[(&str, &[u8])] = &[(":method", b"GET"), (":path", p.as_bytes())];
            assert_eq!(
                matches(&rule(Some(prefix), None, false), h),
                *want,
                "{prefix} vs {p}"
            );
        }
    }

    #[test]
    fn all_fields_of_a_rule_must_match() {
        let r = rule(Some("/api"), Some("options"), false);
        assert!(matches(
            &r,
            &[(":method", b"OPTIONS"), (":path", b"/api/x")]
        ));
        assert!(!matches(&r, &[(":method", b"GET"), (":path", b"/api/x")]));
        assert!(!matches(
            &r,
            &[(":method", b"OPTIONS"), (":path", b"/other")]
        ));
        assert!(!matches(&r, &[(":method", b"OPTIONS")]), "no path");
        let any = rule(None, Some("OPTIONS"), false);
        assert!(matches(
            &any,
            &[(":method", b"OPTIONS"), (":path", b"/any")]
        ));
        assert!(!matches(&any, &[(":path", b"/any")]), "no method");
    }

    #[test]
    fn cors_preflight_needs_origin_and_requested_method() {
        const O: (&str, &[u8]) = ("origin", b"https://app.example");
        const ACRM: (&str, &[u8]) = ("access-control-request-method", b"POST");
        const OPTIONS: (&str, &[u8]) = (":method", b"OPTIONS");
        const PATH: (&str, &[u8]) = (":path", b"/api/x");
        let cors = rule(None, None, true);
        type Head<'a> = &'a [(&'a str, &'a [u8])];
        let cases: &[(Head<'_>, bool)] = &[
            (&[OPTIONS, PATH, O, ACRM], true),
            (&[OPTIONS, PATH, ACRM, O], true),
            (&[OPTIONS, PATH], false),
            (&[OPTIONS, PATH, O], false),
            (&[OPTIONS, PATH, ACRM], false),
            (&[OPTIONS, PATH, ("origin", b""), ACRM], false),
            (
                &[OPTIONS, PATH, O, ("access-control-request-method", b"")],
                false,
            ),
            (&[(":method", b"POST"), PATH, O, ACRM], false),
            (&[(":method", b"options"), PATH, O, ACRM], false),
            (
                &[OPTIONS, PATH, ("x-http-method-override", b"DELETE")],
                false,
            ),
        ];
        for (i, (h, want)) in cases.iter().enumerate() {
            assert_eq!(matches(&cors, h), *want, "case {i}");
        }
        assert!(
            !matches_ending(&cors, &[OPTIONS, PATH, O, ACRM], false),
            "a body follows"
        );
        let under_api = rule(Some("/api"), None, true);
        assert!(matches(&under_api, &[OPTIONS, PATH, O, ACRM]));
        assert!(!matches(
            &under_api,
            &[OPTIONS, (":path", b"/admin"), O, ACRM]
        ));
    }

    #[test]
    fn a_preflight_that_carries_a_request_is_checked() {
        const PREFLIGHT: [(&str, &[u8]); 4] = [
            (":method", b"OPTIONS"),
            (":path", b"/api/x"),
            ("origin", b"https://app.example"),
            ("access-control-request-method", b"POST"),
        ];
        let cors = rule(None, None, true);
        let with = |extra: (&'static str, &'static [u8])| {
            let mut h = PREFLIGHT.to_vec();
            h.push(extra);
            h
        };
        let cases: &[((&str, &[u8]), bool)] = &[
            (("content-length", b"0"), true),
            (("content-length", b" 0 "), true),
            (("content-length", b"5"), false),
            (("content-length", b""), false),
            (("transfer-encoding", b"chunked"), false),
            (("x-http-method-override", b"DELETE"), false),
            (("x-method-override", b"DELETE"), false),
            (("x-http-method", b"DELETE"), false),
            (("x-original-method", b"DELETE"), false),
            (("x-http-method-override", b""), false),
            (("accept", b"*/*"), true),
        ];
        for (extra, want) in cases {
            assert_eq!(matches(&cors, &with(*extra)), *want, "{extra:?}");
        }
        // Two content-length values: each must say 0.
        let mut two = with(("content-length", b"0"));
        two.push(("content-length", b"7"));
        assert!(!matches(&cors, &two));
    }

    #[test]
    fn bad_rules_are_rejected() {
        let bad: &[(Option<&str>, Option<&str>, bool, &str)] = &[
            (None, None, false, "corsPreflight"),
            (Some("x"), None, false, "pathPrefix"),
            (Some("/a?b"), None, false, "pathPrefix"),
            (Some("/a/../b"), None, false, "pathPrefix"),
            (Some("/a;b"), None, false, "pathPrefix"),
            (None, Some("GE T"), false, "method"),
            (None, Some("OPTIONS"), true, "method"),
        ];
        for (p, m, cors, field) in bad {
            let e = BypassRule::new("b", *p, *m, *cors).unwrap_err();
            assert!(e.to_string().contains(field), "{e}");
        }
    }

    #[test]
    fn any_options_rules_are_told_apart() {
        assert!(rule(None, Some("options"), false).bypasses_any_options());
        assert!(rule(Some("/api"), Some("OPTIONS"), false).bypasses_any_options());
        assert!(!rule(None, None, true).bypasses_any_options());
        assert!(!rule(None, Some("GET"), false).bypasses_any_options());
    }
}
