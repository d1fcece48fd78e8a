//! Header values are bytes end to end. RFC 9110 allows obs-text (0x80-0xFF) in a value and old
//! cookies carry it: such a request is checked like any other (not refused with 400), the auth
//! service receives the exact bytes, and the cache key holds the bytes (no lossy decoding that
//! would let two different cookies share one decision).

#![cfg(test)]

use mesh_authz_integration::client::Request;
use mesh_authz_integration::echo::Echoed;
use mesh_authz_integration::require_prerequisites;
use mesh_authz_integration::stack::Stack;

#[test]
fn obs_text_is_forwarded_to_the_auth_service_byte_for_byte() {
    let p = require_prerequisites!();
    let s = Stack::start(&p).unwrap();
    let cookie: &[u8] = b"theme=caf\xe9; pref=\xff\x80\xa0";
    let tracestate: &[u8] = b"vendor=\xe9t\xe9";
    let r = s
        .send(
            &Request::get("/bytes")
                .bearer("alice-token")
                .raw_header(b"cookie", cookie)
                .raw_header(b"tracestate", tracestate),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json::<Echoed>().unwrap().header_all("x-user-id"),
        ["alice"]
    );
    let callouts = s.auth.callouts();
    assert_eq!(callouts.len(), 1);
    assert_eq!(callouts[0].raw_header_all("cookie"), [cookie]);
    assert_eq!(callouts[0].raw_header_all("tracestate"), [tracestate]);
}

#[test]
fn values_differing_in_one_obs_text_byte_are_different_keys() {
    let p = require_prerequisites!();
    let s = Stack::start(&p).unwrap();
    let send = |cookie: &[u8]| {
        let r = s
            .send(
                &Request::get("/k")
                    .bearer("alice-token")
                    .raw_header(b"cookie", cookie),
            )
            .unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
    };
    // é vs è in Latin-1; then two bytes that lossy UTF-8 decoding turns into the same U+FFFD.
    let cookies: [&[u8]; 4] = [b"s=caf\xe9", b"s=caf\xe8", b"s=\xff", b"s=\xfe"];
    for cookie in cookies {
        send(cookie);
    }
    assert_eq!(s.auth.calls(), 4, "two cookies shared a cache key");
    let seen: Vec<Vec<u8>> = s
        .auth
        .callouts()
        .iter()
        .map(|c| c.raw_header_all("cookie").concat())
        .collect();
    assert_eq!(seen, cookies.map(<[u8]>::to_vec));
    // The same bytes again: a cache hit, no callout.
    send(b"s=caf\xe9");
    assert_eq!(s.auth.calls(), 4);
}
