use super::*;
use crate::jwt::testing::{jwt_config, two_providers};

/// What `extract` found: the token and its place, absent, or the error.
type Found = Result<Option<(String, usize)>, JwtError>;
type Headers<'a> = Vec<(&'a str, &'a [u8])>;

const JWT: &str = "eyJh.eyJi.c2ln";
const JWT2: &str = "eyJh.eyJi.c2lo";

fn run(mode: &str, headers: &[(&str, &[u8])]) -> Found {
    let config = jwt_config(&two_providers(mode));
    match extract(&config, &RequestHead::new(headers)) {
        Extracted::Absent => Ok(None),
        Extracted::Token(t) => Ok(Some((t.value.into_owned(), t.source))),
        Extracted::Invalid(e) => Err(e),
    }
}

#[test]
fn one_token_from_any_place() {
    let bearer = format!("Bearer {JWT}");
    let lower = format!("bearer {JWT}");
    let cookie = format!("a=1; id_token={JWT}; b=2");
    let quoted = format!("id_token=\"{JWT}\"");
    let query = format!("/x?a=1&access_token={JWT}&b");
    let encoded = "/x?access%5Ftoken=eyJh%2EeyJi.c2ln".to_string();
    let fragment = format!("/x?access_token={JWT}#frag");
    let t = |s: usize| Ok(Some((JWT.to_string(), s)));
    let cases: Vec<(Headers, Found)> = vec![
        (vec![("authorization", bearer.as_bytes())], t(0)),
        (vec![("authorization", lower.as_bytes())], t(0)),
        (vec![("cookie", cookie.as_bytes())], t(1)),
        (
            vec![("cookie", b"a=1"), ("cookie", quoted.as_bytes())],
            t(1),
        ),
        (vec![(":path", query.as_bytes())], t(2)),
        (vec![(":path", encoded.as_bytes())], t(2)),
        (vec![(":path", fragment.as_bytes())], t(2)),
        (vec![(":path", b"/x?access_token")], Ok(None)),
        (vec![("authorization", b"Basic dXNlcjpwYXNz")], Ok(None)),
        (vec![("cookie", b"session=abc; id_tokens=x.y.z")], Ok(None)),
        (vec![("x-authorization", bearer.as_bytes())], Ok(None)),
        (vec![], Ok(None)),
    ];
    for (headers, want) in cases {
        assert_eq!(run("gate", &headers), want, "{headers:?}");
    }
}

#[test]
fn two_tokens_are_refused_wherever_they_are() {
    let b1 = format!("Bearer {JWT}");
    let b2 = format!("Bearer {JWT2}");
    let same_cookie = format!("id_token={JWT}; id_token={JWT}");
    let cookie = format!("id_token={JWT}");
    let query = format!("/x?access_token={JWT}&access_token={JWT}");
    let q1 = format!("/x?access_token={JWT}");
    let joined = format!("Bearer {JWT}, Bearer {JWT}");
    let cases: Vec<Vec<(&str, &[u8])>> = vec![
        vec![
            ("authorization", b1.as_bytes()),
            ("authorization", b2.as_bytes()),
        ],
        vec![
            ("authorization", b1.as_bytes()),
            ("authorization", b1.as_bytes()),
        ],
        vec![("cookie", same_cookie.as_bytes())],
        vec![("cookie", cookie.as_bytes()), ("cookie", cookie.as_bytes())],
        vec![(":path", query.as_bytes())],
        vec![
            ("authorization", b1.as_bytes()),
            ("cookie", cookie.as_bytes()),
        ],
        vec![("authorization", b1.as_bytes()), (":path", q1.as_bytes())],
        vec![("authorization", joined.as_bytes())],
    ];
    for headers in cases {
        for mode in ["gate", "authenticate"] {
            assert_eq!(
                run(mode, &headers),
                Err(JwtError::TwoTokens),
                "{mode} {headers:?}"
            );
        }
    }
}

#[test]
fn a_value_that_is_not_a_jwt_is_no_token_in_gate_mode_only() {
    let cases: &[(&[u8], Found)] = &[
        (
            b"Bearer opaque-api-key",
            Err(JwtError::Malformed("not three base64url parts")),
        ),
        (
            b"Bearer a.b",
            Err(JwtError::Malformed("not three base64url parts")),
        ),
        (
            b"Bearer ",
            Err(JwtError::Malformed("not three base64url parts")),
        ),
        (
            b"Bearer \xff.a.b",
            Err(JwtError::Malformed("not three base64url parts")),
        ),
    ];
    for (value, authenticate) in cases {
        let h: &[(&str, &[u8])] = &[("authorization", value)];
        assert_eq!(run("gate", h), Ok(None), "{value:?}");
        assert_eq!(run("authenticate", h), *authenticate, "{value:?}");
    }
    // An API key beside a JWT in one place: two credentials in either mode (the auth service
    // would see both), also as Envoy joins them into one value.
    let b = format!("Bearer {JWT}");
    let joined = format!("Bearer api-key, Bearer {JWT}");
    let cases: [&[(&str, &[u8])]; 2] = [
        &[
            ("authorization", b"Bearer api-key"),
            ("authorization", b.as_bytes()),
        ],
        &[("authorization", joined.as_bytes())],
    ];
    for h in cases {
        assert_eq!(run("gate", h), Err(JwtError::TwoTokens), "{h:?}");
        assert_eq!(run("authenticate", h), Err(JwtError::TwoTokens), "{h:?}");
    }
    let two_keys: &[(&str, &[u8])] = &[("authorization", b"Bearer k1, Bearer k2")];
    assert_eq!(
        run("gate", two_keys),
        Ok(None),
        "API keys alone go on as before"
    );
}

#[test]
fn the_limit_is_8192_bytes_after_the_prefix() {
    let part = |n: usize| "a".repeat(n);
    // "x." + part + ".y" is n + 4 bytes.
    let exact = format!("Bearer x.{}.y", part(MAX_TOKEN_BYTES - 4));
    let over = format!("Bearer x.{}.y", part(MAX_TOKEN_BYTES - 3));
    for mode in ["gate", "authenticate"] {
        let got = run(mode, &[("authorization", exact.as_bytes())])
            .unwrap()
            .unwrap();
        assert_eq!(got.0.len(), MAX_TOKEN_BYTES);
        assert_eq!(
            run(mode, &[("authorization", over.as_bytes())]),
            Err(JwtError::TooLarge)
        );
        let cookie = format!("id_token={}", "a".repeat(MAX_TOKEN_BYTES + 1));
        assert_eq!(
            run(mode, &[("cookie", cookie.as_bytes())]),
            Err(JwtError::TooLarge)
        );
    }
}

#[test]
fn removal_takes_out_the_header_or_the_cookie_but_not_a_query_token() {
    let config = jwt_config(&two_providers("gate"));
    let bearer = format!("Bearer {JWT}");
    let c1 = format!("a=1; id_token={JWT}");
    let c_only = format!("id_token={JWT}");
    let query = format!("/x?access_token={JWT}");
    let cases: Vec<(Headers, Removal)> = vec![
        (
            vec![("authorization", bearer.as_bytes())],
            Removal::Header("authorization".into()),
        ),
        (
            vec![("cookie", c1.as_bytes()), ("cookie", b"b=2")],
            Removal::Cookies(Some(b"a=1; b=2".to_vec())),
        ),
        (vec![("cookie", c_only.as_bytes())], Removal::Cookies(None)),
        (vec![(":path", query.as_bytes())], Removal::Nothing),
    ];
    for (headers, want) in cases {
        let head = RequestHead::new(&headers);
        let Extracted::Token(t) = extract(&config, &head) else {
            panic!("{headers:?}")
        };
        assert_eq!(removal(&config, &head, &t), want, "{headers:?}");
        assert!(!format!("{t:?}").contains(JWT));
    }
}
