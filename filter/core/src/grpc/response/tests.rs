use super::*;
use crate::decision::TaggedHeaders;
use crate::grpc::envoy_protos::{self as pb, header};
use prost::Message;

fn config(extra: &str) -> Config {
    Config::parse(
        format!(
            r#"{{"authService": {{"protocol": "grpc", "cluster": "c", "authority": "a"}},
                "identityHeaders": ["x-user-id", "x-tenant-id"], "maxDenyBodyBytes": 8 {extra} }}"#
        )
        .as_bytes(),
    )
    .unwrap()
}

fn ok(headers: Vec<pb::HeaderValueOption>) -> pb::CheckResponse {
    pb::CheckResponse {
        status: Some(pb::Status {
            code: 0,
            message: String::new(),
        }),
        ok_response: Some(pb::OkHttpResponse {
            headers,
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn denied(
    code: i32,
    status: Option<i32>,
    headers: Vec<pb::HeaderValueOption>,
    body: &str,
) -> pb::CheckResponse {
    pb::CheckResponse {
        status: Some(pb::Status {
            code,
            message: "no".into(),
        }),
        denied_response: Some(pb::DeniedHttpResponse {
            status: status.map(|code| pb::HttpStatus { code }),
            headers,
            body: body.into(),
        }),
        ..Default::default()
    }
}

fn judged(cfg: &Config, r: &pb::CheckResponse) -> Result<Checked, CalloutError> {
    judge(cfg, &r.encode_to_vec())
}

#[test]
fn ok_allows_with_only_the_identity_headers() {
    let cfg = config("");
    let r = ok(vec![
        header("X-User-Id", "alice"),
        header("x-other", "z"),
        header("x-tenant-id", "acme"),
    ]);
    let c = judged(&cfg, &r).unwrap();
    assert_eq!(
        c.judged.decision,
        Decision::Allow {
            status: 200,
            identity: TaggedHeaders::from_pairs([
                (0, b"alice".as_slice()),
                (1, b"acme".as_slice())
            ])
        }
    );
    assert_eq!((c.judged.ttl_secs, c.judged.shareable), (60, true));
    assert_eq!(c.ignored, Ignored::default());
    // An OK with no ok_response at all (OPA's plain `allow = true`).
    let bare = pb::CheckResponse {
        status: Some(pb::Status::default()),
        ..Default::default()
    };
    assert!(matches!(
        judged(&cfg, &bare).unwrap().judged.decision,
        Decision::Allow { .. }
    ));
}

#[test]
fn raw_value_is_read_as_envoy_reads_it() {
    let cfg = config("");
    let mut h = header("x-user-id", "");
    if let Some(v) = h.header.as_mut() {
        v.raw_value = b"b\xffob".to_vec();
    }
    let c = judged(&cfg, &ok(vec![h])).unwrap();
    let Decision::Allow { identity, .. } = c.judged.decision else {
        panic!("not an allow")
    };
    assert_eq!(
        identity.iter().collect::<Vec<_>>(),
        [(0, b"b\xffob".as_slice())]
    );
}

#[test]
fn what_an_allow_asks_beyond_identity_is_ignored_and_counted() {
    let cfg = config("");
    let mut r = ok(vec![header("x-user-id", "alice")]);
    if let Some(o) = r.ok_response.as_mut() {
        o.headers_to_remove = vec!["authorization".into(), "cookie".into()];
        o.response_headers_to_add = vec![header("x-frame", "deny")];
        o.query_parameters_to_set = vec![pb::QueryParameter {
            key: "a".into(),
            value: "b".into(),
        }];
        o.query_parameters_to_remove = vec!["c".into()];
        o.dynamic_metadata = Some(pb::Struct::default());
    }
    r.dynamic_metadata = Some(pb::Struct::default());
    let c = judged(&cfg, &r).unwrap();
    assert_eq!(
        c.ignored,
        Ignored {
            headers_to_remove: 2,
            response_headers_to_add: 1,
            query_parameters: 2,
            dynamic_metadata: 2
        }
    );
    assert_eq!(c.ignored.total(), 7);
    assert!(matches!(c.judged.decision, Decision::Allow { .. }));
}

#[test]
fn other_codes_deny_with_the_service_status_deny_headers_and_a_bounded_body() {
    let cfg = config("");
    let r = denied(
        16,
        Some(401),
        vec![
            header("www-authenticate", "Bearer"),
            header("x-internal", "secret"),
        ],
        "0123456789",
    );
    let c = judged(&cfg, &r).unwrap();
    let Decision::Deny {
        status,
        headers,
        body,
    } = c.judged.decision
    else {
        panic!("not a deny")
    };
    assert_eq!(status, 401);
    assert_eq!(
        headers.iter().collect::<Vec<_>>(),
        [(0, b"Bearer".as_slice())]
    );
    assert_eq!(&*body, b"01234567");
    assert_eq!((c.judged.ttl_secs, c.judged.shareable), (5, true));
    // (gRPC code, denied status, expected HTTP status)
    for (code, given, want) in [
        (7, None, 403),
        (7, Some(0), 403),
        (7, Some(200), 403),
        (7, Some(101), 403),
        (7, Some(302), 302),
        (7, Some(429), 429),
        (7, Some(503), 503),
        (7, Some(600), 403),
        (7, Some(-1), 403),
        (2, Some(418), 418),
    ] {
        let c = judged(&cfg, &denied(code, given, vec![], "")).unwrap();
        let Decision::Deny { status, .. } = c.judged.decision else {
            panic!("not a deny")
        };
        assert_eq!(status, want, "{code} {given:?}");
    }
    // A non-OK code without a denied_response still denies, with 403.
    let bare = pb::CheckResponse {
        status: Some(pb::Status {
            code: 7,
            message: String::new(),
        }),
        ..Default::default()
    };
    assert!(matches!(
        judged(&cfg, &bare).unwrap().judged.decision,
        Decision::Deny { status: 403, .. }
    ));
    // A code that says deny beside an ok_response is still a deny: the code decides.
    let mut mixed = ok(vec![header("x-user-id", "alice")]);
    mixed.status = Some(pb::Status {
        code: 7,
        message: String::new(),
    });
    assert!(matches!(
        judged(&cfg, &mixed).unwrap().judged.decision,
        Decision::Deny { status: 403, .. }
    ));
}

#[test]
fn answers_made_for_one_client_are_neither_cached_nor_shared_and_ttls_follow_cache_control() {
    let cfg = config("");
    let add = |mut r: pb::CheckResponse, h: pb::HeaderValueOption| {
        if let Some(o) = r.ok_response.as_mut() {
            o.response_headers_to_add.push(h);
        }
        r
    };
    // (answer, ttl, shareable)
    let cases: Vec<(pb::CheckResponse, u32, bool)> = vec![
        (ok(vec![]), 60, true),
        (ok(vec![header("cache-control", "max-age=10")]), 10, true),
        (
            ok(vec![header("Cache-Control", "max-age=100000")]),
            300,
            true,
        ),
        (ok(vec![header("cache-control", "no-store")]), 0, false),
        (
            ok(vec![header("cache-control", "private, max-age=30")]),
            0,
            false,
        ),
        (add(ok(vec![]), header("set-cookie", "s=1")), 0, false),
        (
            add(ok(vec![]), header("cache-control", "no-cache")),
            0,
            false,
        ),
        (denied(7, Some(403), vec![], ""), 5, true),
        (
            denied(7, Some(403), vec![header("set-cookie", "csrf=1")], ""),
            0,
            false,
        ),
        (
            denied(7, Some(401), vec![header("cache-control", "no-store")], ""),
            0,
            false,
        ),
        (
            denied(7, Some(302), vec![header("location", "/login")], ""),
            0,
            true,
        ),
        (denied(7, Some(429), vec![], ""), 0, true),
    ];
    for (r, ttl, shareable) in cases {
        let c = judged(&cfg, &r).unwrap();
        assert_eq!(
            (c.judged.ttl_secs, c.judged.shareable),
            (ttl, shareable),
            "{r:?}"
        );
    }
    let off = config(r#", "cache": {"enabled": false}"#);
    assert_eq!(judged(&off, &ok(vec![])).unwrap().judged.ttl_secs, 0);
}

#[test]
fn unreadable_answers_are_malformed_never_a_decision() {
    let cfg = config("");
    let mut truncated = ok(vec![header("x-user-id", "alice")]).encode_to_vec();
    truncated.pop();
    let cases: &[(&str, Vec<u8>)] = &[
        ("empty: no status", Vec::new()),
        (
            "no status, an ok_response",
            pb::CheckResponse {
                ok_response: Some(Default::default()),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        ("truncated", truncated),
        ("status as a varint", b"\x08\x00".to_vec()),
        ("status code as bytes", b"\x0a\x02\x0a\x00".to_vec()),
        ("a group", b"\x0b".to_vec()),
        ("garbage", b"\xff\xff\xff".to_vec()),
    ];
    for (what, bytes) in cases {
        assert_eq!(judge(&cfg, bytes), Err(CalloutError::Malformed), "{what}");
    }
}

#[test]
fn repeated_fields_merge_as_protobuf_says() {
    let cfg = config("");
    // An OK status is written empty (code 0 is the default), so a later OK merged into an earlier
    // PERMISSION_DENIED keeps the deny: the reference decoder agrees.
    let mut bytes = pb::CheckResponse {
        status: Some(pb::Status {
            code: 7,
            message: String::new(),
        }),
        ..Default::default()
    }
    .encode_to_vec();
    bytes.extend(ok(vec![]).encode_to_vec());
    let reference = pb::CheckResponse::decode(bytes.as_slice()).unwrap();
    assert_eq!(reference.status.as_ref().map(|s| s.code), Some(7));
    assert!(matches!(
        judge(&cfg, &bytes).unwrap().judged.decision,
        Decision::Deny { .. }
    ));
    // A later explicit code wins.
    let mut later = denied(7, None, vec![], "").encode_to_vec();
    later.extend(b"\x0a\x02\x08\x00");
    assert_eq!(
        pb::CheckResponse::decode(later.as_slice())
            .unwrap()
            .status
            .unwrap()
            .code,
        0
    );
    assert!(matches!(
        judge(&cfg, &later).unwrap().judged.decision,
        Decision::Allow { .. }
    ));
    let mut kept = denied(7, None, vec![], "").encode_to_vec();
    kept.extend(b"\x0a\x00");
    assert_eq!(
        pb::CheckResponse::decode(kept.as_slice())
            .unwrap()
            .status
            .unwrap()
            .code,
        7
    );
    assert!(matches!(
        judge(&cfg, &kept).unwrap().judged.decision,
        Decision::Deny { .. }
    ));
}
