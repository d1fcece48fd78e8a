//! Fuzzing the JWT checks: whatever bytes a client puts where a token goes, extraction and
//! verification never panic and never accept; a valid token (RS256, ES256, EdDSA) with any one
//! byte changed never verifies; any JWKS document parses or is refused without a panic; in gate
//! mode, no value an auth service could read as a JWT is ever "no token" (passed on unchecked).

#![cfg(test)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{EncodingKey, Header};
use mesh_authz_core::jwt::{extract, verify, Extracted, JwtConfig, KeySet, Keys};
use mesh_authz_core::request::RequestHead;
use mesh_authz_core::Config;
use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::json;
use std::sync::OnceLock;

const NOW: u64 = 1_800_000_000;

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Three valid tokens, one per key type, and the config whose inline JWKS holds their keys.
struct Fixture {
    config: JwtConfig,
    tokens: Vec<String>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        use ed25519_dalek::pkcs8::EncodePrivateKey as _;
        use rsa::pkcs1::EncodeRsaPrivateKey as _;
        use rsa::traits::PublicKeyParts as _;
        let mut rng = rand::thread_rng();
        let rsa = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
        let ec = p256::SecretKey::random(&mut rng);
        let point = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&ec.public_key(), false);
        let ed = ed25519_dalek::SigningKey::generate(&mut rng);
        let jwks = json!({"keys": [
            {"kty": "RSA", "kid": "r", "n": b64(&rsa.n().to_bytes_be()), "e": b64(&rsa.e().to_bytes_be())},
            {"kty": "EC", "kid": "e", "crv": "P-256", "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap())},
            {"kty": "OKP", "kid": "d", "crv": "Ed25519", "x": b64(ed.verifying_key().as_bytes())},
        ]});
        let text = json!({
            "authService": {"cluster": "c", "authority": "a"},
            "identityHeaders": ["x-user-id"],
            "jwt": {"mode": "authenticate", "providers": [{
                "name": "p", "issuer": "https://id.example.com", "audiences": ["api"],
                "jwks": {"inline": jwks.to_string()},
                "algorithms": ["RS256", "ES256", "EdDSA"],
                "claimHeaders": {"sub": "x-user-id"},
            }]},
        });
        let config = Config::parse(text.to_string().as_bytes()).unwrap().jwt.unwrap();
        let claims = json!({"iss": "https://id.example.com", "aud": "api", "sub": "alice", "exp": NOW + 600});
        let signed = |alg, kid: &str, key: EncodingKey| {
            let mut h = Header::new(alg);
            h.kid = Some(kid.to_string());
            jsonwebtoken::encode(&h, &claims, &key).unwrap()
        };
        let tokens = vec![
            signed(jsonwebtoken::Algorithm::RS256, "r", EncodingKey::from_rsa_der(rsa.to_pkcs1_der().unwrap().as_bytes())),
            signed(jsonwebtoken::Algorithm::ES256, "e", EncodingKey::from_ec_der(ec.to_pkcs8_der().unwrap().as_bytes())),
            signed(jsonwebtoken::Algorithm::EdDSA, "d", EncodingKey::from_ed_der(ed.to_pkcs8_der().unwrap().as_bytes())),
        ];
        Fixture { config, tokens }
    })
}

/// Whether a request with `value` after `Bearer ` is let through.
fn accepted(value: &[u8]) -> bool {
    let f = fixture();
    let header = [b"Bearer ".as_slice(), value].concat();
    let headers: [(&str, &[u8]); 1] = [("authorization", &header)];
    match extract(&f.config, &RequestHead::new(&headers)) {
        Extracted::Token(t) => verify(&f.config, &Keys::new(&f.config), &t, NOW).is_ok(),
        Extracted::Absent | Extracted::Invalid(_) => false,
    }
}

/// Three base64url-ish parts of arbitrary bytes: gets past the shape check into decoding.
fn shaped() -> impl Strategy<Value = Vec<u8>> {
    (
        vec(any::<u8>(), 0..200),
        vec(any::<u8>(), 0..400),
        vec(any::<u8>(), 0..300),
        any::<bool>(),
    )
        .prop_map(|(h, c, s, raw)| {
            if raw {
                [h, b".".to_vec(), c, b".".to_vec(), s].concat()
            } else {
                format!("{}.{}.{}", b64(&h), b64(&c), b64(&s)).into_bytes()
            }
        })
}

/// Gate mode reading the authorization header (`Bearer `), the `id_token` cookie and the
/// `access_token` query parameter.
fn gate_config() -> &'static JwtConfig {
    static C: OnceLock<JwtConfig> = OnceLock::new();
    C.get_or_init(|| {
        let text = json!({
            "authService": {"cluster": "c", "authority": "a"},
            "jwt": {"mode": "gate", "providers": [{
                "name": "p", "issuer": "https://id.example.com",
                "jwks": {"cluster": "c", "authority": "a", "path": "/jwks.json"},
                "from": [{"header": "authorization", "prefix": "Bearer "}, {"cookie": "id_token"}, {"query": "access_token"}],
            }]},
        });
        Config::parse(text.to_string().as_bytes()).unwrap().jwt.unwrap()
    })
}

/// The invariant's own reading, kept apart from the filter's: a word (split at spaces, tabs and
/// commas) of three dot-separated parts, or one that begins with `eyJ`.
fn has_a_jwt_word(value: &[u8]) -> bool {
    value
        .split(|b| b" \t,".contains(b))
        .any(|w| w.starts_with(b"eyJ") || w.iter().filter(|b| **b == b'.').count() == 2)
}

/// Values built from the pieces of the spellings that matter, and arbitrary bytes.
fn spelled() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"Bearer".to_vec()),
        Just(b"bEARER".to_vec()),
        Just(b"Token".to_vec()),
        Just(b" ".to_vec()),
        Just(b"\t".to_vec()),
        Just(b",".to_vec()),
        Just(b".".to_vec()),
        Just(b"%2E".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"=".to_vec()),
        Just(b"eyJ".to_vec()),
        Just(b"\x0b".to_vec()),
        Just("\u{a0}".as_bytes().to_vec()),
        "[a-zA-Z0-9_+/-]{1,8}".prop_map(String::into_bytes),
        vec(any::<u8>(), 1..4),
    ];
    vec(piece, 0..12).prop_map(|p| p.concat())
}

#[test]
fn the_valid_tokens_are_accepted() {
    for t in &fixture().tokens {
        assert!(accepted(t.as_bytes()), "the property below could not fail");
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_verify(value in prop_oneof![vec(any::<u8>(), 0..600), shaped()]) {
        prop_assert!(!accepted(&value));
    }

    #[test]
    fn any_single_byte_changed_never_verifies(which in 0usize..3, at in any::<prop::sample::Index>(), to in any::<u8>()) {
        let mut t = fixture().tokens[which].clone().into_bytes();
        let i = at.index(t.len());
        prop_assume!(t[i] != to);
        t[i] = to;
        prop_assert!(!accepted(&t));
    }

    #[test]
    fn any_jwks_parses_or_is_refused(doc in prop_oneof![
        vec(any::<u8>(), 0..400),
        vec((0usize..3, vec(any::<u8>(), 0..600), vec(any::<u8>(), 0..40)), 0..4)
            .prop_map(|keys| json!({"keys": keys.iter().map(|(i, a, b)| {
                let (kty, kid, crv) = [("RSA", "r", ""), ("EC", "e", "P-256"), ("OKP", "d", "Ed25519")][*i];
                // Sized as the curve wants, so that odd points reach the signature check.
                let (x, y) = if kty == "RSA" { (a.clone(), b.clone()) } else { (a.iter().cycle().take(32).copied().collect(), b.iter().cycle().take(32).copied().collect::<Vec<u8>>()) };
                json!({"kty": kty, "kid": kid, "crv": crv, "n": b64(a), "e": b64(b), "x": b64(&x), "y": b64(&y)})
            }).collect::<Vec<_>>()}).to_string().into_bytes()),
    ]) {
        // Keys that parse, however odd, never accept a token signed by another key.
        if let Ok((set, _)) = KeySet::parse(&doc) {
            let f = fixture();
            let mut keys = Keys::new(&f.config);
            keys.replace(0, set);
            for t in &f.tokens {
                let headers: [(&str, &[u8]); 1] = [("authorization", &[b"Bearer ".as_slice(), t.as_bytes()].concat())];
                if let Extracted::Token(t) = extract(&f.config, &RequestHead::new(&headers)) {
                    prop_assert!(verify(&f.config, &keys, &t, NOW).is_err());
                }
            }
        }
    }

    #[test]
    fn no_value_readable_as_a_jwt_is_passed_on_unchecked(value in spelled(), place in 0usize..3) {
        let c = gate_config();
        let (name, line) = match place {
            0 => ("authorization", value.clone()),
            1 => ("cookie", [b"id_token=".as_slice(), &value].concat()),
            _ => (":path", [b"/x?access_token=".as_slice(), &value].concat()),
        };
        // The cookie and the query value end at their separators; the invariant reads them so.
        let own: &[u8] = match place {
            0 => &value,
            1 => value.split(|b| *b == b';').next().unwrap_or_default(),
            _ => value.split(|b| b"&#".contains(b)).next().unwrap_or_default(),
        };
        let headers: [(&str, &[u8]); 1] = [(name, &line)];
        if has_a_jwt_word(own) {
            prop_assert!(!matches!(extract(c, &RequestHead::new(&headers)), Extracted::Absent), "{:?}", String::from_utf8_lossy(&line));
        }
    }
}
