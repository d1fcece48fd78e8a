//! The callout to the auth service, shaped like Envoy ext_authz's HTTP check request so that services
//! written for Istio's `envoyExtAuthzHttp` provider work unchanged: same method, `pathPrefix` + the
//! original path and query, `:authority` of the auth service, the forwarded and trace headers the request
//! has, plus `addHeaders`, no body. The original host travels as `x-forwarded-host`.
//!
//! The cache key holds every input of the callout that can change the answer: method, path (when
//! sent), original host, the forwarded headers' values, and (through the config generation) the
//! path prefix and `addHeaders`. Trace headers are for correlation only and stay out of it.

use crate::config::Config;
use crate::key::{CacheKey, KeyBuilder};
use crate::request::RequestHead;
use std::borrow::Cow;

pub const FORWARDED_HOST: &str = "x-forwarded-host";

/// Ready for `dispatch_http_call`: pseudo-headers first.
pub type CalloutHeaders<'a> = Vec<(&'a str, Cow<'a, str>)>;

/// A request the filter cannot forward faithfully; answered with 400, never a callout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadRequest {
    MissingPseudoHeader(&'static str),
    NotUtf8(String),
    /// A `.` or `..` segment in some reading of the path (see `path`); the path itself is not kept,
    /// so that logging this never logs what a client sent.
    DotSegment,
}

impl std::fmt::Display for BadRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadRequest::MissingPseudoHeader(h) => write!(f, "request has no {h}"),
            BadRequest::NotUtf8(h) => write!(
                f,
                "request header {h} is not valid UTF-8 and cannot be forwarded"
            ),
            BadRequest::DotSegment => f.write_str(
                "request path has a '.' or '..' segment once decoded (as %2e, before ';', around '\\' or %2f); the path is not logged",
            ),
        }
    }
}

/// The cache key of a request: computed without building the callout, so a cache hit allocates nothing.
/// `pathPrefix` and `addHeaders` are constant per configuration and enter through the generation.
pub fn key(config: &Config, req: &RequestHead<'_>) -> Result<CacheKey, BadRequest> {
    let auth = &config.auth;
    let method = req
        .method()
        .ok_or(BadRequest::MissingPseudoHeader(":method"))?;
    let mut key = KeyBuilder::new(&config.generation);
    key.field(method.as_bytes());
    if auth.include_request_path {
        key.field(
            req.path()
                .ok_or(BadRequest::MissingPseudoHeader(":path"))?
                .as_bytes(),
        );
    }
    key.field(req.authority().unwrap_or("").as_bytes());
    for name in &auth.forward_headers {
        let mut count = 0u64;
        for value in req.values(name) {
            std::str::from_utf8(value).map_err(|_| BadRequest::NotUtf8(name.clone()))?;
            key.field(name.as_bytes()).field(value);
            count += 1;
        }
        // "absent" and "present but empty" must not share a key.
        key.field(&count.to_le_bytes());
    }
    Ok(key.finish())
}

/// The callout's headers, for a request whose `key` succeeded (so the same checks already passed).
pub fn headers<'a>(
    config: &'a Config,
    req: &RequestHead<'a>,
) -> Result<CalloutHeaders<'a>, BadRequest> {
    let auth = &config.auth;
    let method = req
        .method()
        .ok_or(BadRequest::MissingPseudoHeader(":method"))?;
    let path: Cow<'a, str> = if auth.include_request_path {
        let original = req.path().ok_or(BadRequest::MissingPseudoHeader(":path"))?;
        if auth.path_prefix.is_empty() {
            Cow::Borrowed(original)
        } else {
            Cow::Owned(format!("{}{}", auth.path_prefix, original))
        }
    } else if auth.path_prefix.is_empty() {
        Cow::Borrowed("/")
    } else {
        Cow::Borrowed(auth.path_prefix.as_str())
    };
    let host = req.authority().unwrap_or("");
    let extra = auth.forward_headers.len() + auth.trace_headers.len() + auth.add_headers.len();
    let mut headers: CalloutHeaders<'a> = Vec::with_capacity(4 + extra);
    headers.push((":method", Cow::Borrowed(method)));
    headers.push((":path", path));
    headers.push((":authority", Cow::Borrowed(auth.authority.as_str())));
    if !host.is_empty() {
        headers.push((FORWARDED_HOST, Cow::Borrowed(host)));
    }
    for name in &auth.forward_headers {
        for value in req.values(name) {
            let text = std::str::from_utf8(value).map_err(|_| BadRequest::NotUtf8(name.clone()))?;
            headers.push((name.as_str(), Cow::Borrowed(text)));
        }
    }
    for name in &auth.trace_headers {
        for value in req.values(name) {
            // Trace context that is not UTF-8 is dropped rather than failing the request.
            if let Ok(text) = std::str::from_utf8(value) {
                headers.push((name.as_str(), Cow::Borrowed(text)));
            }
        }
    }
    for (name, value) in &auth.add_headers {
        headers.push((name.as_str(), Cow::Borrowed(value.as_str())));
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Key and headers of one request, as the request path computes them (separately).
    #[derive(Debug)]
    struct Callout<'a> {
        headers: CalloutHeaders<'a>,
        key: CacheKey,
    }

    fn build<'a>(config: &'a Config, req: &RequestHead<'a>) -> Result<Callout<'a>, BadRequest> {
        Ok(Callout {
            key: key(config, req)?,
            headers: headers(config, req)?,
        })
    }

    fn config(extra: &str) -> Config {
        let text = format!(
            r#"{{"authService": {{"cluster": "auth", "authority": "auth.local", "pathPrefix": "/check",
                "addHeaders": {{"x-auth-source": "mesh-authz"}} {extra} }} }}"#
        );
        Config::parse(text.as_bytes()).unwrap()
    }

    fn head<'a>(extra: &'a [(&'a str, &'a [u8])]) -> Vec<(&'a str, &'a [u8])> {
        let mut h: Vec<(&str, &[u8])> = vec![
            (":method", b"GET"),
            (":path", b"/api/items?page=2"),
            (":authority", b"shop.example"),
        ];
        h.extend_from_slice(extra);
        h
    }

    fn get<'a>(c: &'a Callout<'_>, name: &str) -> Vec<&'a str> {
        c.headers
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.as_ref())
            .collect()
    }

    #[test]
    fn mirrors_ext_authz_http() {
        let cfg = config("");
        let h = head(&[
            ("authorization", b"Bearer t"),
            ("cookie", b"a=1"),
            ("cookie", b"b=2"),
            ("traceparent", b"00-x"),
            ("x-other", b"no"),
        ]);
        let c = build(&cfg, &RequestHead::new(&h)).unwrap();
        assert_eq!(get(&c, ":method"), ["GET"]);
        assert_eq!(get(&c, ":path"), ["/check/api/items?page=2"]);
        assert_eq!(get(&c, ":authority"), ["auth.local"]);
        assert_eq!(get(&c, "x-forwarded-host"), ["shop.example"]);
        assert_eq!(get(&c, "authorization"), ["Bearer t"]);
        assert_eq!(get(&c, "cookie"), ["a=1", "b=2"]);
        assert_eq!(get(&c, "traceparent"), ["00-x"]);
        assert_eq!(get(&c, "x-auth-source"), ["mesh-authz"]);
        assert!(get(&c, "x-other").is_empty());
    }

    #[test]
    fn without_request_path_the_path_is_the_prefix() {
        let cfg = config(r#", "includeRequestPath": false"#);
        let h = head(&[]);
        let c = build(&cfg, &RequestHead::new(&h)).unwrap();
        assert_eq!(get(&c, ":path"), ["/check"]);
    }

    fn key_of(cfg: &Config, extra: &[(&str, &[u8])], path: &[u8]) -> CacheKey {
        let mut h: Vec<(&str, &[u8])> = vec![
            (":method", b"GET"),
            (":path", path),
            (":authority", b"shop.example"),
        ];
        h.extend_from_slice(extra);
        build(cfg, &RequestHead::new(&h)).unwrap().key
    }

    #[test]
    fn the_key_holds_every_decision_input_and_no_trace_context() {
        let cfg = config("");
        let base = key_of(&cfg, &[("authorization", b"Bearer a")], b"/x");
        assert_eq!(
            base,
            key_of(
                &cfg,
                &[
                    ("authorization", b"Bearer a"),
                    ("x-request-id", b"r1"),
                    ("traceparent", b"t")
                ],
                b"/x"
            )
        );
        assert_ne!(
            base,
            key_of(&cfg, &[("authorization", b"Bearer b")], b"/x"),
            "credential"
        );
        assert_ne!(
            base,
            key_of(&cfg, &[("authorization", b"Bearer a")], b"/y"),
            "path"
        );
        assert_ne!(
            base,
            key_of(&cfg, &[("authorization", b"Bearer a")], b"/x?q=1"),
            "query"
        );
        assert_ne!(
            base,
            key_of(
                &cfg,
                &[("authorization", b"Bearer a"), ("cookie", b"s=1")],
                b"/x"
            ),
            "cookie"
        );
        assert_ne!(
            key_of(&cfg, &[], b"/x"),
            key_of(&cfg, &[("authorization", b"")], b"/x"),
            "absent vs empty"
        );
        assert_ne!(
            key_of(&cfg, &[("cookie", b"a"), ("cookie", b"b")], b"/x"),
            key_of(&cfg, &[("cookie", b"ab")], b"/x"),
            "value boundaries"
        );
    }

    #[test]
    fn without_request_path_the_key_is_per_credential() {
        let cfg = config(r#", "includeRequestPath": false"#);
        let a = key_of(&cfg, &[("authorization", b"Bearer a")], b"/x");
        assert_eq!(a, key_of(&cfg, &[("authorization", b"Bearer a")], b"/y"));
        assert_ne!(a, key_of(&cfg, &[("authorization", b"Bearer b")], b"/x"));
    }

    #[test]
    fn method_and_host_are_in_the_key() {
        let cfg = config("");
        let get_: Vec<(&str, &[u8])> =
            vec![(":method", b"GET"), (":path", b"/x"), (":authority", b"a")];
        let post: Vec<(&str, &[u8])> =
            vec![(":method", b"POST"), (":path", b"/x"), (":authority", b"a")];
        let other: Vec<(&str, &[u8])> =
            vec![(":method", b"GET"), (":path", b"/x"), (":authority", b"b")];
        let k = |h: &Vec<(&str, &[u8])>| build(&cfg, &RequestHead::new(h)).unwrap().key;
        assert_ne!(k(&get_), k(&post));
        assert_ne!(k(&get_), k(&other));
    }

    #[test]
    fn bad_requests_are_named() {
        let cfg = config("");
        let no_method: Vec<(&str, &[u8])> = vec![(":path", b"/x")];
        assert_eq!(
            build(&cfg, &RequestHead::new(&no_method)).unwrap_err(),
            BadRequest::MissingPseudoHeader(":method")
        );
        let latin1: Vec<(&str, &[u8])> =
            vec![(":method", b"GET"), (":path", b"/x"), ("cookie", b"\xff")];
        assert_eq!(
            build(&cfg, &RequestHead::new(&latin1)).unwrap_err(),
            BadRequest::NotUtf8("cookie".into())
        );
    }
}
