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

const BAD: Found = Err(JwtError::Malformed("not three base64url parts"));

/// Every spelling of a header, a cookie and a query value: a JWT in a lenient spelling is the
/// token; anything readable as a JWT that is not a compact JWS in its place is refused in both
/// modes; only what is nothing like a JWT goes on in gate mode.
#[test]
fn every_spelling_of_a_place() {
    let owned: Vec<(&str, String, Found, Found)> = {
        let t = |s: usize| Ok(Some((JWT.to_string(), s)));
        let gate_only = |gate: Found| (gate, BAD);
        let both = |f: Found| (f.clone(), f);
        let rows: Vec<(&str, String, (Found, Found))> = vec![
            ("authorization", format!("Bearer {JWT}"), both(t(0))),
            ("authorization", format!("Bearer  {JWT}"), both(t(0))),
            ("authorization", format!("Bearer\t{JWT}"), both(t(0))),
            ("authorization", format!("Bearer \t {JWT}"), both(t(0))),
            ("authorization", format!("BEARER {JWT}"), both(t(0))),
            ("authorization", format!("bearer {JWT}"), both(t(0))),
            ("authorization", format!("bEaReR {JWT}"), both(t(0))),
            ("authorization", format!("Bearer {JWT}  "), both(t(0))),
            ("authorization", format!("Bearer {JWT}\t"), both(t(0))),
            ("authorization", format!("  Bearer {JWT}"), both(t(0))),
            // Readable as a JWT, not where one belongs: refused, never passed on unchecked.
            ("authorization", JWT.to_string(), both(BAD)),
            ("authorization", format!("Token {JWT}"), both(BAD)),
            ("authorization", format!("Basic {JWT}"), both(BAD)),
            ("authorization", format!("Bearer{JWT}"), both(BAD)),
            ("authorization", format!("Bearer\x0b{JWT}"), both(BAD)),
            ("authorization", format!("Bearer \"{JWT}\""), both(BAD)),
            ("authorization", format!("Bearer {JWT} x"), both(BAD)),
            ("authorization", format!("Bearer x {JWT}"), both(BAD)),
            ("authorization", format!("Bearer token={JWT}"), both(BAD)),
            (
                "authorization",
                "Bearer eyJhbGciOiJub25lIn0".into(),
                both(BAD),
            ),
            ("authorization", "Bearer eyJ".into(), both(BAD)),
            ("authorization", "Bearer a+b.c=.d".into(), both(BAD)),
            ("authorization", "Bearer \u{e9}.b.c".into(), both(BAD)),
            ("authorization", "Bearer a.b.c.d.e".into(), both(BAD)),
            (
                "authorization",
                "Bearer eyJh%2EeyJi%2Ec2ln".into(),
                both(BAD),
            ),
            ("authorization", "Bearer a%2Eb%2Ec".into(), both(BAD)),
            // Nothing like a JWT: an API key goes on in gate mode; another scheme is no value.
            ("authorization", "Bearer abc123".into(), gate_only(Ok(None))),
            (
                "authorization",
                "bearer\t abc123 ".into(),
                gate_only(Ok(None)),
            ),
            ("authorization", "Bearer".into(), gate_only(Ok(None))),
            ("authorization", "Bearer a.b".into(), gate_only(Ok(None))),
            ("authorization", "Basic dXNlcjpwYXNz".into(), both(Ok(None))),
            ("authorization", "Bearerabc".into(), both(Ok(None))),
            // Cookies: trimmed, unquoted, trimmed inside the quotes.
            ("cookie", format!("id_token=\"{JWT}\""), both(t(1))),
            ("cookie", format!("id_token=\" {JWT}\t\""), both(t(1))),
            ("cookie", format!("a=1; id_token= {JWT} ; b=2"), both(t(1))),
            ("cookie", "id_token=eyJgarbage".into(), both(BAD)),
            ("cookie", "id_token=x.y.z!".into(), both(BAD)),
            ("cookie", "id_token=eyJh%2EeyJi%2Ec2ln".into(), both(BAD)),
            ("cookie", "id_token=x%2Ey%2Ez".into(), both(BAD)),
            ("cookie", format!("id_token=\"{JWT}"), both(BAD)),
            ("cookie", "id_token=opaque".into(), gate_only(Ok(None))),
            // A place's name in any case, or percent-encoded, is the place: a lenient framework
            // would read the token there.
            ("cookie", format!("ID_TOKEN={JWT}"), both(t(1))),
            ("cookie", format!("id%5Ftoken={JWT}"), both(t(1))),
            ("cookie", "Id_Token=eyJgarbage".into(), both(BAD)),
            (
                "cookie",
                format!("id_token={JWT}; ID_TOKEN={JWT}"),
                both(Err(JwtError::TwoTokens)),
            ),
            ("cookie", format!("id_tokens={JWT}"), both(Ok(None))),
            // Query values: percent-decoded once, then trimmed; what decodes again is readable.
            (":path", format!("/x?access_token=%20{JWT}%09"), both(t(2))),
            (
                ":path",
                "/x?access_token=eyJh%2EeyJi%2Ec2ln".into(),
                both(t(2)),
            ),
            (":path", format!("/x?access_token={JWT}+"), both(BAD)),
            (":path", format!("/x?access_token=+{JWT}"), both(BAD)),
            (
                ":path",
                "/x?access_token=eyJh%252EeyJi%252Ec2ln".into(),
                both(BAD),
            ),
            (":path", "/x?access_token=a%2Bb.c.d".into(), both(BAD)),
            (
                ":path",
                "/x?access_token=opaque".into(),
                gate_only(Ok(None)),
            ),
            (":path", format!("/x?Access_Token={JWT}"), both(t(2))),
            (":path", "/x?ACCESS%5FTOKEN=eyJgarbage".into(), both(BAD)),
        ];
        rows.into_iter()
            .map(|(n, v, (g, a))| (n, v, g, a))
            .collect()
    };
    for (name, value, gate, authenticate) in &owned {
        let h: &[(&str, &[u8])] = &[(name, value.as_bytes())];
        assert_eq!(run("gate", h), *gate, "gate {name}: {value:?}");
        assert_eq!(
            run("authenticate", h),
            *authenticate,
            "authenticate {name}: {value:?}"
        );
    }
}

/// A value readable as a JWT counts as a token when two are refused, wherever it is; a header
/// piece of another scheme counts beside a token in the same header only.
#[test]
fn misshapen_values_count_as_tokens() {
    let b = format!("Bearer {JWT}");
    let beside_basic = format!("Bearer {JWT}, Basic dXNlcjpwYXNz");
    let cookie = format!("id_token={JWT}");
    let cases: Vec<(Headers, Found)> = vec![
        (
            vec![
                ("authorization", b.as_bytes()),
                ("cookie", b"id_token=eyJx"),
            ],
            Err(JwtError::TwoTokens),
        ),
        (
            vec![
                ("authorization", b"Token x.y.z"),
                ("cookie", cookie.as_bytes()),
            ],
            Err(JwtError::TwoTokens),
        ),
        (
            vec![("authorization", b"Bearer eyJx, Bearer eyJy")],
            Err(JwtError::TwoTokens),
        ),
        (
            vec![("authorization", beside_basic.as_bytes())],
            Err(JwtError::TwoTokens),
        ),
        (
            vec![
                ("authorization", b"Basic dXNlcjpwYXNz"),
                ("cookie", cookie.as_bytes()),
            ],
            Ok(Some((JWT.to_string(), 1))),
        ),
    ];
    for (headers, want) in cases {
        for mode in ["gate", "authenticate"] {
            assert_eq!(run(mode, &headers), want, "{mode} {headers:?}");
        }
    }
}

/// A header read with no prefix, or with one that ends without whitespace.
#[test]
fn prefixes_without_a_scheme_or_without_a_space() {
    let config = |prefix: Option<&str>| {
        let mut from = serde_json::json!({"header": "x-token"});
        if let Some(p) = prefix {
            from["prefix"] = p.into();
        }
        let mut jwt = two_providers("gate");
        jwt["providers"][0]["from"] = serde_json::json!([from]);
        jwt_config(&jwt)
    };
    let t = || Ok(Some((JWT.to_string(), 0)));
    let cases: Vec<(Option<&str>, String, Found)> = vec![
        (None, format!(" {JWT}\t"), t()),
        (None, format!("Bearer {JWT}"), BAD),
        (None, "api-key".into(), Ok(None)),
        (Some("tok_"), format!("TOK_{JWT}"), t()),
        (Some("tok_"), format!("tok_ {JWT}"), t()),
        (Some("tok_"), format!("other_{JWT}"), BAD),
        (Some("  "), JWT.to_string(), t()),
    ];
    for (prefix, value, want) in cases {
        let config = config(prefix);
        let h: &[(&str, &[u8])] = &[("x-token", value.as_bytes())];
        let got = match extract(&config, &RequestHead::new(h)) {
            Extracted::Absent => Ok(None),
            Extracted::Token(t) => Ok(Some((t.value.into_owned(), t.source))),
            Extracted::Invalid(e) => Err(e),
        };
        assert_eq!(got, want, "{prefix:?} {value:?}");
    }
}
