//! Fuzzing the cache key: a decision is cached under a digest of what the auth service saw, so two
//! requests that differ in a credential, in any forwarded header value (bytes, not text: obs-text
//! included), in the number of values, method, path or host must never share a key; and requests
//! that differ only in trace context must.

#![cfg(test)]

use mesh_authz_core::callout::walk;
use mesh_authz_core::request::RequestHead;
use mesh_authz_core::Config;
use proptest::collection::vec;
use proptest::prelude::*;

fn config() -> Config {
    Config::parse(br#"{"authService": {"cluster": "c", "authority": "a"}}"#).unwrap()
}

/// A request: method, path, host and its `authorization` / `cookie` / trace values.
#[derive(Debug, Clone)]
struct Req {
    method: &'static str,
    path: String,
    host: Vec<u8>,
    forwarded: Vec<(&'static str, Vec<u8>)>,
}

impl Req {
    fn pairs<'a>(&'a self, trace: &'a [u8]) -> Vec<(&'a str, &'a [u8])> {
        let mut h: Vec<(&str, &[u8])> = vec![
            (":method", self.method.as_bytes()),
            (":path", self.path.as_bytes()),
            (":authority", &self.host),
            ("x-request-id", trace),
        ];
        h.extend(self.forwarded.iter().map(|(n, v)| (*n, v.as_slice())));
        h
    }
}

fn request() -> impl Strategy<Value = Req> {
    (
        prop::sample::select(vec!["GET", "POST"]),
        "/[a-z]{0,3}",
        vec(any::<u8>(), 0..4),
        vec(
            (
                prop::sample::select(vec!["authorization", "cookie"]),
                vec(any::<u8>(), 0..6),
            ),
            0..4,
        ),
    )
        .prop_map(|(method, path, host, forwarded)| Req {
            method,
            path,
            host,
            forwarded,
        })
}

proptest! {
    #[test]
    fn different_inputs_never_share_a_key(a in request(), b in request(), ta in vec(any::<u8>(), 0..4), tb in vec(any::<u8>(), 0..4)) {
        let cfg = config();
        let (ha, hb) = (a.pairs(&ta), b.pairs(&tb));
        let ka = walk(&cfg, &RequestHead::new(&ha)).unwrap().key;
        let kb = walk(&cfg, &RequestHead::new(&hb)).unwrap().key;
        // The service sees forwarded headers grouped by name, in order within a name.
        let grouped = |r: &Req| {
            let mut g: Vec<(&str, Vec<u8>)> = r.forwarded.iter().filter(|(n, _)| *n == "authorization").cloned().collect();
            g.extend(r.forwarded.iter().filter(|(n, _)| *n == "cookie").cloned());
            (r.method, r.path.clone(), r.host.clone(), g)
        };
        let same_input = grouped(&a) == grouped(&b);
        prop_assert_eq!(ka == kb, same_input, "{:?} vs {:?}", a, b);
    }
}
