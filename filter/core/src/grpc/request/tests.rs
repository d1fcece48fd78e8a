use super::*;
use crate::callout::walk;
use crate::grpc::envoy_protos as pb;
use prost::Message;

fn config(tenant: &str) -> Config {
    Config::parse(
        format!(
            r#"{{"authService": {{"protocol": "grpc", "cluster": "auth", "authority": "auth.local",
                "contextExtensions": {{"tenant": "{tenant}"}} }} }}"#
        )
        .as_bytes(),
    )
    .unwrap()
}

const HEAD: &[(&str, &[u8])] = &[
    (":method", b"POST"),
    (":path", b"/api/items?page=2&q=a%20b"),
    (":authority", b"shop.example"),
    (":scheme", b"https"),
    ("authorization", b"Bearer t"),
    ("cookie", b"a=1"),
    ("cookie", b"b=2"),
    ("x-request-id", b"r-1"),
    ("traceparent", b"00-x"),
    ("x-other", b"not sent"),
];

fn attrs<'a>(req: &RequestHead<'a>) -> Attributes<'a> {
    Attributes {
        id: b"r-1",
        protocol: b"HTTP/1.1",
        source: Some(b"10.1.2.3:53422"),
        destination: Some(b"10.9.9.9:8080"),
        ..Attributes::of(req)
    }
}

fn decoded(config: &Config, head: &[(&str, &[u8])]) -> pb::AttributeContext {
    let req = RequestHead::new(head);
    let w = walk(config, &req).unwrap();
    let bytes = check_request(config, &w, &attrs(&req));
    pb::CheckRequest::decode(bytes.as_slice())
        .unwrap()
        .attributes
        .unwrap()
}

#[test]
fn an_independent_decoder_reads_what_envoy_would_send() {
    let a = decoded(&config("acme"), HEAD);
    let http = a.request.unwrap().http.unwrap();
    assert_eq!(http.id, "r-1");
    assert_eq!(http.method, "POST");
    assert_eq!(
        http.path, "/api/items?page=2&q=a%20b",
        "the query travels in path"
    );
    assert_eq!(http.query, "");
    assert_eq!(http.host, "shop.example");
    assert_eq!(http.scheme, "https");
    assert_eq!(http.protocol, "HTTP/1.1");
    assert_eq!(http.body, "");
    let mut headers: Vec<(&str, &str)> = http
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    headers.sort();
    assert_eq!(
        headers,
        [
            ("authorization", "Bearer t"),
            ("cookie", "a=1,b=2"),
            ("traceparent", "00-x"),
            ("x-request-id", "r-1"),
        ]
    );
    let source = a.source.unwrap().address.unwrap().socket_address.unwrap();
    assert_eq!(
        (source.address.as_str(), source.port_value),
        ("10.1.2.3", 0)
    );
    let dest = a
        .destination
        .unwrap()
        .address
        .unwrap()
        .socket_address
        .unwrap();
    assert_eq!((dest.address.as_str(), dest.port_value), ("10.9.9.9", 8080));
    assert_eq!(a.context_extensions.len(), 1);
    assert_eq!(a.context_extensions["tenant"], "acme");
}

#[test]
fn bytes_that_are_not_utf8_are_sent_replaced_and_keyed_as_they_came() {
    let cfg = config("acme");
    let head: &[(&str, &[u8])] = &[
        (":method", b"GET"),
        (":path", b"/x"),
        (":authority", b"h\xe9.example"),
        ("cookie", b"s=caf\xe9"),
    ];
    let a = decoded(&cfg, head);
    let http = a.request.unwrap().http.unwrap();
    assert_eq!(http.host, "h\u{fffd}.example");
    assert_eq!(http.headers["cookie"], "s=caf\u{fffd}");
    let other: &[(&str, &[u8])] = &[
        (":method", b"GET"),
        (":path", b"/x"),
        (":authority", b"h\xe9.example"),
        ("cookie", b"s=caf\xe8"),
    ];
    assert_ne!(
        key_of(&cfg, head, Attributes::default()),
        key_of(&cfg, other, Attributes::default())
    );
}

fn key_of(cfg: &Config, head: &[(&str, &[u8])], attrs: Attributes<'_>) -> CacheKey {
    let req = RequestHead::new(head);
    key(
        &walk(cfg, &req).unwrap(),
        &Attributes {
            scheme: Attributes::of(&req).scheme,
            ..attrs
        },
    )
}

#[test]
fn the_key_holds_every_field_that_can_differ_and_no_trace_context_id_or_source_port() {
    let cfg = config("acme");
    let base_attrs = Attributes {
        id: b"1",
        protocol: b"HTTP/1.1",
        source: Some(b"10.1.2.3:1000"),
        destination: Some(b"10.9.9.9:8080"),
        scheme: b"",
    };
    let base = key_of(&cfg, HEAD, base_attrs);
    let same = [
        (
            "another id",
            Attributes {
                id: b"2",
                ..base_attrs
            },
        ),
        (
            "another source port",
            Attributes {
                source: Some(b"10.1.2.3:2000"),
                ..base_attrs
            },
        ),
    ];
    for (what, a) in same {
        assert_eq!(base, key_of(&cfg, HEAD, a), "{what}");
    }
    let mut traced = HEAD.to_vec();
    traced.push(("tracestate", b"t=1"));
    assert_eq!(base, key_of(&cfg, &traced, base_attrs), "trace header");
    let differ = [
        (
            "protocol",
            Attributes {
                protocol: b"HTTP/2",
                ..base_attrs
            },
        ),
        (
            "source ip",
            Attributes {
                source: Some(b"10.1.2.4:1000"),
                ..base_attrs
            },
        ),
        (
            "no source",
            Attributes {
                source: None,
                ..base_attrs
            },
        ),
        (
            "destination port",
            Attributes {
                destination: Some(b"10.9.9.9:8081"),
                ..base_attrs
            },
        ),
        (
            "no destination",
            Attributes {
                destination: None,
                ..base_attrs
            },
        ),
    ];
    for (what, a) in differ {
        assert_ne!(base, key_of(&cfg, HEAD, a), "{what}");
    }
    let with = |name: &'static str, value: &'static [u8]| {
        let mut h: Vec<(&str, &[u8])> = HEAD.iter().filter(|(n, _)| *n != name).copied().collect();
        h.push((name, value));
        key_of(&cfg, &h, base_attrs)
    };
    for (name, value) in [
        (":method", b"GET".as_slice()),
        (":path", b"/api/items?page=3"),
        (":authority", b"other.example"),
        (":scheme", b"http"),
        ("authorization", b"Bearer u"),
        ("cookie", b"a=1"),
    ] {
        assert_ne!(base, with(name, value), "{name}");
    }
    let other_extensions = config("other");
    assert_ne!(
        base,
        key_of(&other_extensions, HEAD, base_attrs),
        "context extensions"
    );
}

#[test]
fn peer_addresses_are_read_or_left_out() {
    type Case<'a> = (&'a [u8], Option<(&'a [u8], u16)>);
    let cases: &[Case<'_>] = &[
        (b"10.0.0.1:80", Some((b"10.0.0.1", 80))),
        (b"[::1]:8443", Some((b"::1", 8443))),
        (b"[fe80::1%eth0]:1", None),
        (b"::1", None),
        (b"10.0.0.1", None),
        (b"10.0.0.1:99999", None),
        (b"/tmp/envoy.sock", None),
        (b"envoy://internal:1", None),
        (b":80", None),
        (b"", None),
    ];
    for (addr, want) in cases {
        assert_eq!(socket(addr), *want, "{}", String::from_utf8_lossy(addr));
    }
}
