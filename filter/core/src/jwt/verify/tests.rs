use super::*;
use crate::jwt::config::JwtConfig;
use crate::jwt::jwks::KeySet;
use crate::jwt::strict::b64url_encode as b64;
use crate::jwt::testing::*;
use serde_json::json;
use std::borrow::Cow;

fn setup(mode: &str) -> (JwtConfig, Keys) {
    let config = jwt_config(&two_providers(mode));
    let keys = Keys::new(&config);
    (config, keys)
}

fn run_at(
    config: &JwtConfig,
    keys: &Keys,
    token: &str,
    source: usize,
    now: u64,
) -> Result<Verified, JwtError> {
    verify(
        config,
        keys,
        &Token {
            value: Cow::Borrowed(token),
            source,
        },
        now,
    )
}

fn identity(v: &Verified) -> Vec<(u8, String)> {
    v.identity
        .iter()
        .map(|(i, b)| (i, String::from_utf8_lossy(b).into_owned()))
        .collect()
}

/// Flips one character of part `part` (0 header, 1 payload, 2 signature) to another base64url one.
fn tamper(token: &str, part: usize) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let p = &mut parts[part];
    let mid = p.len() / 2;
    let c = p.as_bytes()[mid];
    let swapped = if c == b'A' { 'B' } else { 'A' };
    p.replace_range(mid..=mid, &swapped.to_string());
    parts.join(".")
}

/// `token` with its header replaced, its payload and signature kept.
fn with_header(token: &str, header: &str) -> String {
    let (_, rest) = token.split_once('.').unwrap();
    format!("{}.{rest}", b64(header.as_bytes()))
}

fn raw(header: &str, claims: &str) -> String {
    format!(
        "{}.{}.{}",
        b64(header.as_bytes()),
        b64(claims.as_bytes()),
        b64(b"sig")
    )
}

#[test]
fn every_check_in_a_table() {
    let (config, keys) = setup("authenticate");
    let c = |extra| claims(extra);
    let valid = |t: String| (t, Ok::<(), JwtError>(()));
    let bad = |t: String, e: JwtError| (t, Err(e));
    let rsa_jwk_bytes = rsa().jwk.to_string();
    let hs256_with_rsa_key = {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        h.kid = Some(rsa().kid.clone());
        let secret = jsonwebtoken::EncodingKey::from_secret(rsa_jwk_bytes.as_bytes());
        jsonwebtoken::encode(&h, &c(json!({})), &secret).unwrap()
    };
    type Case = (&'static str, (String, Result<(), JwtError>));
    let cases: Vec<Case> = vec![
        ("RS256", valid(sign(rsa(), &c(json!({}))))),
        (
            "PS256 with the RSA key",
            valid(sign_as(rsa(), Alg::Ps256, None, &c(json!({})))),
        ),
        ("ES256", valid(sign(ec(0), &c(json!({}))))),
        ("EdDSA", valid(sign(ed(), &c(json!({}))))),
        (
            "no kid, several EC keys: the second fits",
            valid(sign_as(ec(1), Alg::Es256, Some(None), &c(json!({})))),
        ),
        (
            "no kid, a key not in the set",
            bad(
                sign_as(ec(2), Alg::Es256, Some(None), &c(json!({}))),
                JwtError::BadSignature,
            ),
        ),
        (
            "unknown kid",
            bad(
                sign(ec(2), &c(json!({}))),
                JwtError::UnknownKid { provider: 0 },
            ),
        ),
        (
            "another key's kid",
            bad(
                sign_as(ec(0), Alg::Es256, Some(Some("ec-1")), &c(json!({}))),
                JwtError::BadSignature,
            ),
        ),
        (
            "kid of the RSA key, alg ES256",
            bad(
                sign_as(ec(0), Alg::Es256, Some(Some("rsa-1")), &c(json!({}))),
                JwtError::NoFittingKey,
            ),
        ),
        (
            "RS384: not in algorithms",
            bad(
                sign_as(rsa(), Alg::Rs384, None, &c(json!({}))),
                JwtError::AlgRefused,
            ),
        ),
        (
            "HS256 with the RSA JWK as secret",
            bad(hs256_with_rsa_key, JwtError::AlgRefused),
        ),
        (
            "alg none",
            bad(
                forge(&json!({"alg": "none"}), &c(json!({})), b""),
                JwtError::AlgRefused,
            ),
        ),
        (
            "alg none, RS256 signature kept",
            bad(
                with_header(
                    &sign(rsa(), &c(json!({}))),
                    r#"{"alg":"none","kid":"rsa-1"}"#,
                ),
                JwtError::AlgRefused,
            ),
        ),
        (
            "alg ES256 over an RS256 signature",
            bad(
                with_header(
                    &sign(rsa(), &c(json!({}))),
                    r#"{"alg":"ES256","kid":"rsa-1"}"#,
                ),
                JwtError::NoFittingKey,
            ),
        ),
        (
            "payload changed",
            bad(
                tamper(&sign(rsa(), &c(json!({}))), 1),
                JwtError::BadSignature,
            ),
        ),
        (
            "signature changed",
            bad(
                tamper(&sign(ec(0), &c(json!({}))), 2),
                JwtError::BadSignature,
            ),
        ),
        (
            "expired",
            bad(sign(ed(), &c(json!({"exp": NOW - 60}))), JwtError::Expired),
        ),
        (
            "expired within the skew",
            valid(sign(ed(), &c(json!({"exp": NOW - 59})))),
        ),
        (
            "no exp",
            bad(sign(ed(), &c(json!({"exp": null}))), JwtError::MissingExp),
        ),
        (
            "nbf within the skew",
            valid(sign(ed(), &c(json!({"nbf": NOW + 60})))),
        ),
        (
            "nbf in the future",
            bad(
                sign(ed(), &c(json!({"nbf": NOW + 61}))),
                JwtError::NotYetValid,
            ),
        ),
        (
            "iat in the future",
            bad(
                sign(ed(), &c(json!({"iat": NOW + 61}))),
                JwtError::IssuedInFuture,
            ),
        ),
        (
            "aud array, one matches",
            valid(sign(ed(), &c(json!({"aud": ["x", "billing-api"]})))),
        ),
        (
            "wrong aud",
            bad(
                sign(ed(), &c(json!({"aud": "payments-api"}))),
                JwtError::WrongAudience,
            ),
        ),
        (
            "no aud",
            bad(
                sign(ed(), &c(json!({"aud": null}))),
                JwtError::WrongAudience,
            ),
        ),
        (
            "wrong iss",
            bad(
                sign(ed(), &c(json!({"iss": "https://evil.example.com"}))),
                JwtError::UnknownIssuer,
            ),
        ),
        (
            "iss differs in case",
            bad(
                sign(ed(), &c(json!({"iss": "https://ID.example.com"}))),
                JwtError::UnknownIssuer,
            ),
        ),
        (
            "no iss",
            bad(
                sign(ed(), &c(json!({"iss": null}))),
                JwtError::UnknownIssuer,
            ),
        ),
        (
            "the other issuer, keys not fetched",
            bad(
                sign(ec(0), &c(json!({"iss": "https://other.example.com"}))),
                JwtError::KeysMissing { provider: 1 },
            ),
        ),
        (
            "the other issuer, expired: 401 without keys",
            bad(
                sign(
                    ec(0),
                    &c(json!({"iss": "https://other.example.com", "exp": NOW - 100})),
                ),
                JwtError::Expired,
            ),
        ),
        (
            "claim for a header with a line break",
            bad(
                sign(ed(), &c(json!({"sub": "alice\r\nx-admin: 1"}))),
                JwtError::BadClaim("a claim for a header has control characters"),
            ),
        ),
        (
            "duplicate claim",
            bad(
                raw(
                    r#"{"alg":"EdDSA"}"#,
                    r#"{"iss":"https://id.example.com","iss":"x","exp":1900000000}"#,
                ),
                JwtError::Malformed("payload is not base64url JSON"),
            ),
        ),
        (
            "payload not JSON",
            bad(
                raw(r#"{"alg":"EdDSA"}"#, "iss"),
                JwtError::Malformed("payload is not base64url JSON"),
            ),
        ),
        (
            "header not JSON",
            bad(
                raw(r#"{"alg":"EdDSA""#, "{}"),
                JwtError::Malformed("header is not base64url JSON"),
            ),
        ),
        ("8192 bytes", valid(sized(8192))),
        ("8193 bytes", bad(sized(8193), JwtError::TooLarge)),
    ];
    for (name, (token, want)) in cases {
        let got = run_at(&config, &keys, &token, 0, NOW);
        assert_eq!(got.as_ref().map(|_| ()).map_err(|e| *e), want, "{name}");
    }
}

#[test]
fn claims_become_the_identity_in_authenticate_mode_only() {
    let extra = json!({"sub": "alice", "roles": ["admin", "dev"], "org": {"tenant": "acme"}});
    let (config, keys) = setup("authenticate");
    let v = run_at(&config, &keys, &sign(rsa(), &claims(extra.clone())), 0, NOW).unwrap();
    assert_eq!((v.provider, v.exp), (0, NOW + 600));
    assert_eq!(
        identity(&v),
        [
            (0, "alice".into()),
            (1, "admin,dev".into()),
            (2, "acme".into())
        ]
    );
    let (config, keys) = setup("gate");
    let v = run_at(&config, &keys, &sign(rsa(), &claims(extra)), 0, NOW).unwrap();
    assert!(identity(&v).is_empty());
}

#[test]
fn a_token_counts_only_where_its_provider_reads_tokens() {
    let (config, mut keys) = setup("gate");
    let (set, _) = KeySet::parse(jwks(&[ec(0)]).as_bytes()).unwrap();
    assert!(keys.replace(1, set));
    let other = sign(ec(0), &claims(json!({"iss": "https://other.example.com"})));
    assert!(run_at(&config, &keys, &other, 0, NOW).is_ok());
    for source in [1, 2] {
        assert_eq!(
            run_at(&config, &keys, &other, source, NOW),
            Err(JwtError::WrongPlace)
        );
    }
}

#[test]
fn rotation_a_new_kid_verifies_once_the_keys_are_replaced() {
    let (config, mut keys) = setup("gate");
    let (set, _) = KeySet::parse(jwks(&[ec(0)]).as_bytes()).unwrap();
    keys.replace(1, set.clone());
    let g = keys.generation();
    assert!(!keys.replace(1, set), "the same keys: no new generation");
    assert_eq!(keys.generation(), g);
    let t = sign(ec(2), &claims(json!({"iss": "https://other.example.com"})));
    let err = run_at(&config, &keys, &t, 0, NOW).unwrap_err();
    assert_eq!(err.refetch(), Some(1));
    let (rotated, _) = KeySet::parse(jwks(&[ec(0), ec(2)]).as_bytes()).unwrap();
    assert!(keys.replace(1, rotated));
    assert_ne!(keys.generation(), g);
    assert!(run_at(&config, &keys, &t, 0, NOW).is_ok());
}

/// A checker that records what it was asked and answers as told: the split the adapter uses to
/// plug in Envoy's BoringSSL.
struct Recording {
    answer: Result<bool, Unavailable>,
    seen: std::cell::RefCell<Vec<(Alg, Option<String>, usize)>>,
}

use crate::jwt::signature::Unavailable;

impl SignatureCheck for Recording {
    fn check(
        &self,
        alg: Alg,
        key: &PublicKey,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, Unavailable> {
        assert_eq!(message.iter().filter(|b| **b == b'.').count(), 1);
        self.seen
            .borrow_mut()
            .push((alg, key.kid.clone(), signature.len()));
        self.answer
    }
}

#[test]
fn an_external_checker_gets_the_fitting_keys_and_the_signed_part() {
    let (config, keys) = setup("gate");
    let no_kid = sign_as(ec(0), Alg::Es256, Some(None), &claims(json!({})));
    let token = Token {
        value: Cow::Borrowed(&no_kid),
        source: 0,
    };
    for (answer, want) in [
        (Ok(true), Ok(())),
        (Ok(false), Err(JwtError::BadSignature)),
        (Err(Unavailable), Err(JwtError::CheckUnavailable)),
    ] {
        let checker = Recording {
            answer,
            seen: Default::default(),
        };
        let got = verify_with(&config, &keys, &token, NOW, &checker).map(|_| ());
        assert_eq!(got, want);
        let seen = checker.seen.into_inner();
        let asked = if answer == Ok(false) { 2 } else { 1 };
        assert_eq!(seen.len(), asked, "{seen:?}");
        assert_eq!(seen[0], (Alg::Es256, Some("ec-0".to_string()), 64));
    }
    assert!(JwtError::CheckUnavailable.is_own_failure());
}

#[test]
fn errors_never_carry_the_token() {
    let (config, keys) = setup("authenticate");
    let t = sign(
        rsa(),
        &claims(json!({"exp": NOW - 1000, "sub": "s3cret-subject"})),
    );
    let err = run_at(&config, &keys, &t, 0, NOW).unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(
        !shown.contains(&t[..20]) && !shown.contains("s3cret"),
        "{shown}"
    );
}

/// RustCrypto, counting the checks: how many keys a token was tried against.
#[derive(Default)]
struct Counting(std::cell::Cell<usize>);

impl SignatureCheck for Counting {
    fn check(
        &self,
        alg: Alg,
        key: &PublicKey,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, Unavailable> {
        self.0.set(self.0.get() + 1);
        RustCrypto.check(alg, key, message, signature)
    }
}

/// A token is checked against at most `MAX_KEYS_TRIED` keys: past that, it is refused before any
/// check, with or without a `kid`, and keys of another type do not count.
#[test]
fn a_token_is_tried_against_at_most_two_keys() {
    let with_kid = |key: &TestKey, kid: &str| {
        let mut jwk = key.jwk.clone();
        jwk["kid"] = json!(kid);
        jwk
    };
    let set = |jwks: Vec<serde_json::Value>| json!({"keys": jwks}).to_string();
    let (e0, e1, e2, r) = (ec(0), ec(1), ec(2), rsa());
    let two = set(vec![e0.jwk.clone(), e1.jwk.clone()]);
    let three = set(vec![e0.jwk.clone(), e1.jwk.clone(), e2.jwk.clone()]);
    let three_and_rsa = set(vec![
        e0.jwk.clone(),
        e1.jwk.clone(),
        e2.jwk.clone(),
        r.jwk.clone(),
    ]);
    let two_dup = set(vec![with_kid(e0, "dup"), with_kid(e1, "dup")]);
    let three_dup = set(vec![
        with_kid(e0, "dup"),
        with_kid(e1, "dup"),
        with_kid(e2, "dup"),
    ]);
    let c = claims(json!({}));
    let no_kid = |k: &TestKey| sign_as(k, k.alg, Some(None), &c);
    let forged_no_kid = forge(&json!({"alg": "ES256"}), &c, &[7; 64]);
    let forged_kid = forge(&json!({"alg": "ES256", "kid": "ec-2"}), &c, &[7; 64]);
    let no_kid_refused =
        JwtError::Malformed("no kid, and more than 2 of the issuer's keys fit the alg");
    let kid_refused = JwtError::Malformed("kid names more than 2 of the issuer's keys for the alg");
    /// Name, key set, token, verdict, keys tried.
    type Case<'a> = (&'a str, &'a String, String, Result<(), JwtError>, usize);
    let cases: Vec<Case> = vec![
        (
            "no kid, 2 keys, the 1st signed",
            &two,
            no_kid(e0),
            Ok(()),
            1,
        ),
        (
            "no kid, 2 keys, the 2nd signed",
            &two,
            no_kid(e1),
            Ok(()),
            2,
        ),
        (
            "no kid, 2 keys, forged",
            &two,
            forged_no_kid.clone(),
            Err(JwtError::BadSignature),
            2,
        ),
        (
            "no kid, 3 keys, the 1st signed",
            &three,
            no_kid(e0),
            Err(no_kid_refused),
            0,
        ),
        (
            "no kid, 3 keys, the 3rd signed",
            &three,
            no_kid(e2),
            Err(no_kid_refused),
            0,
        ),
        (
            "no kid, 3 keys, forged",
            &three,
            forged_no_kid,
            Err(no_kid_refused),
            0,
        ),
        (
            "kid, 3 keys, the 3rd signed",
            &three,
            sign(e2, &c),
            Ok(()),
            1,
        ),
        (
            "kid, 3 keys, forged",
            &three,
            forged_kid,
            Err(JwtError::BadSignature),
            1,
        ),
        (
            "no kid, 3 EC keys, the one RSA key",
            &three_and_rsa,
            no_kid(r),
            Ok(()),
            1,
        ),
        (
            "kid on 2 keys, the 2nd signed",
            &two_dup,
            sign_as(e1, Alg::Es256, Some(Some("dup")), &c),
            Ok(()),
            2,
        ),
        (
            "kid on 3 keys",
            &three_dup,
            sign_as(e0, Alg::Es256, Some(Some("dup")), &c),
            Err(kid_refused),
            0,
        ),
    ];
    for (name, jwks, token, want, tried) in cases {
        let config = jwt_config(&json!({"mode": "gate", "providers": [{
            "name": "p", "issuer": ISS, "jwks": {"inline": jwks}}]}));
        let keys = Keys::new(&config);
        let counting = Counting::default();
        let token = Token {
            value: Cow::Borrowed(&token),
            source: 0,
        };
        let got = verify_with(&config, &keys, &token, NOW, &counting).map(|_| ());
        assert_eq!((got, counting.0.get()), (want, tried), "{name}");
    }
}

/// What the bound exists for: with the default algorithms, a PS256 or EdDSA token is refused
/// before any key is looked at, even where a key would verify it.
#[test]
fn in_vm_algorithms_are_refused_unless_listed() {
    let jwks = jwks(&[rsa(), ed()]);
    let c = claims(json!({}));
    for (algorithms, ps256, eddsa) in [
        (
            json!(null),
            Err(JwtError::AlgRefused),
            Err(JwtError::AlgRefused),
        ),
        (json!(["RS256", "PS256"]), Ok(()), Err(JwtError::AlgRefused)),
        (json!(["EdDSA"]), Err(JwtError::AlgRefused), Ok(())),
    ] {
        let mut p = json!({"name": "p", "issuer": ISS, "jwks": {"inline": jwks}});
        if !algorithms.is_null() {
            p["algorithms"] = algorithms.clone();
        }
        let config = jwt_config(&json!({"mode": "gate", "providers": [p]}));
        let keys = Keys::new(&config);
        let counting = Counting::default();
        let run = |t: &str| {
            let token = Token {
                value: Cow::Borrowed(t),
                source: 0,
            };
            verify_with(&config, &keys, &token, NOW, &counting).map(|_| ())
        };
        assert_eq!(
            run(&sign_as(rsa(), Alg::Ps256, None, &c)),
            ps256,
            "{algorithms}"
        );
        assert_eq!(run(&sign(ed(), &c)), eddsa, "{algorithms}");
        let listed = usize::from(ps256.is_ok()) + usize::from(eddsa.is_ok());
        assert_eq!(
            counting.0.get(),
            listed,
            "{algorithms}: only listed ones are checked"
        );
    }
}
