//! The callout to the auth service, shaped like Envoy ext_authz's HTTP check request so that services
//! written for Istio's `envoyExtAuthzHttp` provider work unchanged: same method, `pathPrefix` + the
//! original path and query, `:authority` of the auth service, the forwarded and trace headers the request
//! has, plus `addHeaders`, no body. The original host travels as `x-forwarded-host`.
//!
//! The cache key holds every input of the callout that can change the answer: method, path (when
//! sent), original host, the forwarded headers' values, and (through the config generation) the
//! path prefix and `addHeaders`. Trace headers are for correlation only and stay out of it.
//!
//! Header values are bytes end to end: RFC 9110 allows obs-text (0x80-0xFF) in a value and old
//! cookies carry it, so a value goes to the auth service, and into the key, exactly as it came.
//! Only `:method` and `:path` must be text (Envoy has checked both before any filter runs).

use crate::config::Config;
use crate::key::{CacheKey, KeyBuilder};
use crate::request::RequestHead;
use std::borrow::Cow;

pub const FORWARDED_HOST: &str = "x-forwarded-host";

/// Ready for `dispatch_http_call`: pseudo-headers first, values as bytes.
pub type CalloutHeaders<'a> = Vec<(&'a str, Cow<'a, [u8]>)>;

/// A request the filter cannot forward faithfully; answered with 400, never a callout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadRequest {
    /// Absent, or (`:method`, `:path`) not text.
    MissingPseudoHeader(&'static str),
    /// A `.` or `..` segment in some reading of the path (see `path`); the path itself is not kept,
    /// so that logging this never logs what a client sent.
    DotSegment,
}

impl std::fmt::Display for BadRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadRequest::MissingPseudoHeader(h) => write!(f, "request has no valid {h}"),
            BadRequest::DotSegment => f.write_str(
                "request path has a '.' or '..' segment once decoded (as %2e, before ';', around '\\' or %2f); the path is not logged",
            ),
        }
    }
}

/// One walk of the request: everything the callout sends and the key it is cached under, so that
/// the two can never disagree. A cache hit uses only the key; the callout's headers are built from
/// the walk on a miss.
#[derive(Debug, Clone)]
pub struct Walk<'r> {
    pub key: CacheKey,
    method: &'r str,
    path: &'r str,
    authority: &'r [u8],
    /// The forwarded headers' values in `forwardHeaders` order, then the trace headers' values in
    /// `traceHeaders` order; within a name, in request order.
    fields: Vec<(&'r str, &'r [u8])>,
    /// gRPC mode: the attributes the CheckRequest carries beyond the headers (also in the key).
    grpc: Option<Box<crate::grpc::attrs::Read<'r>>>,
}

/// Walks `req` once: checks the pseudo-headers, picks the forwarded and trace headers, computes the
/// key. `pathPrefix` and `addHeaders` are constant per configuration and enter the key through the
/// generation; trace headers stay out of it.
pub fn walk<'r>(config: &Config, req: &RequestHead<'r>) -> Result<Walk<'r>, BadRequest> {
    // Only authenticate mode has no auth service, and it decides every request before a walk.
    let auth = config
        .auth
        .as_ref()
        .ok_or(BadRequest::MissingPseudoHeader(":authority"))?;
    let method = req
        .method()
        .ok_or(BadRequest::MissingPseudoHeader(":method"))?;
    // Only a path that is sent must be there (a CONNECT has none).
    let path = match (auth.include_request_path, req.path()) {
        (true, None) => return Err(BadRequest::MissingPseudoHeader(":path")),
        (_, path) => path.unwrap_or_default(),
    };
    let authority = req.authority().unwrap_or_default();
    let forwarded = auth.forward_headers.len();
    let mut ranked: Vec<(usize, &'r str, &'r [u8])> = Vec::new();
    for (name, value) in req.pairs() {
        let rank = auth
            .forward_headers
            .iter()
            .position(|n| n == name)
            .or_else(|| {
                auth.trace_headers
                    .iter()
                    .position(|n| n == name)
                    .map(|i| forwarded + i)
            });
        if let Some(rank) = rank {
            ranked.push((rank, name, value));
        }
    }
    // Stable: values of one name keep their request order.
    ranked.sort_by_key(|(rank, _, _)| *rank);
    let mut key = KeyBuilder::new(&config.generation);
    key.field(method.as_bytes());
    if auth.include_request_path {
        key.field(path.as_bytes());
    }
    key.field(authority);
    let mut values = ranked.iter().peekable();
    for (rank, name) in auth.forward_headers.iter().enumerate() {
        let mut count = 0u64;
        while let Some((_, _, value)) = values.next_if(|(r, _, _)| *r == rank) {
            key.field(name.as_bytes()).field(value);
            count += 1;
        }
        // "absent" and "present but empty" must not share a key.
        key.field(&count.to_le_bytes());
    }
    Ok(Walk {
        key: key.finish(),
        method,
        path,
        authority,
        fields: ranked.into_iter().map(|(_, n, v)| (n, v)).collect(),
        grpc: None,
    })
}

impl<'r> Walk<'r> {
    /// The walk of a gRPC check: its attributes kept for the CheckRequest, and the key extended
    /// with them (`grpc::request::key`).
    pub fn with_grpc(mut self, read: crate::grpc::attrs::Read<'r>) -> Self {
        self.key = crate::grpc::request::key(&self, &read.attributes());
        self.grpc = Some(Box::new(read));
        self
    }

    /// The attributes of a gRPC check (`None` in HTTP mode).
    pub fn grpc(&self) -> Option<&crate::grpc::attrs::Read<'r>> {
        self.grpc.as_deref()
    }

    pub fn method(&self) -> &'r str {
        self.method
    }

    /// The request path with its query (empty when not sent: a CONNECT).
    pub fn path(&self) -> &'r str {
        self.path
    }

    /// The original `:authority`, as bytes (empty when the request had none).
    pub fn authority(&self) -> &'r [u8] {
        self.authority
    }

    /// The forwarded headers in `forwardHeaders` order, then the trace headers in `traceHeaders`
    /// order; within a name, in request order.
    pub fn fields(&self) -> &[(&'r str, &'r [u8])] {
        &self.fields
    }

    /// The callout's headers, ready for `dispatch_http_call`: pseudo-headers first.
    pub fn headers<'a>(&self, config: &'a Config) -> CalloutHeaders<'a>
    where
        'r: 'a,
    {
        // A walk exists only where `walk` found the auth service; none means nothing to send.
        let Some(auth) = config.auth.as_ref() else {
            return Vec::new();
        };
        let path: Cow<'a, [u8]> = match (auth.include_request_path, auth.path_prefix.is_empty()) {
            (true, true) => Cow::Borrowed(self.path.as_bytes()),
            (true, false) => {
                let mut p = Vec::with_capacity(auth.path_prefix.len() + self.path.len());
                p.extend_from_slice(auth.path_prefix.as_bytes());
                p.extend_from_slice(self.path.as_bytes());
                Cow::Owned(p)
            }
            (false, true) => Cow::Borrowed(b"/"),
            (false, false) => Cow::Borrowed(auth.path_prefix.as_bytes()),
        };
        let mut headers: CalloutHeaders<'a> =
            Vec::with_capacity(4 + self.fields.len() + auth.add_headers.len());
        headers.push((":method", Cow::Borrowed(self.method.as_bytes())));
        headers.push((":path", path));
        headers.push((":authority", Cow::Borrowed(auth.authority.as_bytes())));
        if !self.authority.is_empty() {
            headers.push((FORWARDED_HOST, Cow::Borrowed(self.authority)));
        }
        for (name, value) in &self.fields {
            headers.push((name, Cow::Borrowed(value)));
        }
        for (name, value) in &auth.add_headers {
            headers.push((name.as_str(), Cow::Borrowed(value.as_bytes())));
        }
        headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Key and headers of one request, from one walk.
    #[derive(Debug)]
    struct Callout<'a> {
        headers: CalloutHeaders<'a>,
        key: CacheKey,
    }

    fn build<'a>(config: &'a Config, req: &RequestHead<'a>) -> Result<Callout<'a>, BadRequest> {
        let w = walk(config, req)?;
        Ok(Callout {
            key: w.key,
            headers: w.headers(config),
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

    fn bytes<'a>(c: &'a Callout<'_>, name: &str) -> Vec<&'a [u8]> {
        c.headers
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.as_ref())
            .collect()
    }

    fn get<'a>(c: &'a Callout<'_>, name: &str) -> Vec<&'a str> {
        bytes(c, name)
            .into_iter()
            .map(|v| std::str::from_utf8(v).unwrap())
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
        let no_path: Vec<(&str, &[u8])> = vec![(":method", b"GET")];
        assert_eq!(
            build(&cfg, &RequestHead::new(&no_path)).unwrap_err(),
            BadRequest::MissingPseudoHeader(":path")
        );
        let binary_path: Vec<(&str, &[u8])> = vec![(":method", b"GET"), (":path", b"/\xff")];
        assert_eq!(
            build(&cfg, &RequestHead::new(&binary_path)).unwrap_err(),
            BadRequest::MissingPseudoHeader(":path")
        );
    }

    #[test]
    fn obs_text_values_are_forwarded_and_keyed_as_bytes() {
        let cfg = config("");
        let h = head(&[
            ("cookie", b"s=caf\xe9"),
            ("authorization", b"Bearer \xc3\x28"),
            ("traceparent", b"\xff\x80"),
        ]);
        let c = build(&cfg, &RequestHead::new(&h)).unwrap();
        assert_eq!(bytes(&c, "cookie"), [b"s=caf\xe9".as_slice()]);
        assert_eq!(bytes(&c, "authorization"), [b"Bearer \xc3\x28".as_slice()]);
        assert_eq!(bytes(&c, "traceparent"), [b"\xff\x80".as_slice()]);
        // Two cookies that differ only in an obs-text byte, or that lossy decoding would merge, are
        // two keys.
        let k = |cookie: &[u8]| key_of(&cfg, &[("cookie", cookie)], b"/x");
        assert_ne!(k(b"s=caf\xe9"), k(b"s=caf\xe8"));
        assert_ne!(k(b"s=\xff"), k(b"s=\xfe"));
        assert_ne!(k(b"s=\xff"), k("s=\u{fffd}".as_bytes()));
    }

    #[test]
    fn a_host_that_is_not_utf8_is_forwarded_and_keyed_as_bytes() {
        let cfg = config("");
        let with_host = |host: &'static [u8]| -> Vec<(&'static str, &'static [u8])> {
            vec![(":method", b"GET"), (":path", b"/x"), (":authority", host)]
        };
        let (a, b) = (with_host(b"h\xe9.example"), with_host(b"h\xe8.example"));
        let ca = build(&cfg, &RequestHead::new(&a)).unwrap();
        let cb = build(&cfg, &RequestHead::new(&b)).unwrap();
        assert_eq!(bytes(&ca, FORWARDED_HOST), [b"h\xe9.example".as_slice()]);
        assert_ne!(ca.key, cb.key);
        let none: Vec<(&str, &[u8])> = vec![(":method", b"GET"), (":path", b"/x")];
        assert_ne!(ca.key, build(&cfg, &RequestHead::new(&none)).unwrap().key);
    }
}
