//! Test keys, generated when first used (once per test binary: RSA key generation is slow in
//! wasm32), and tokens signed with jsonwebtoken. Nothing secret is checked in.

use super::alg::Alg;
use super::config::JwtConfig;
use super::strict::b64url_encode as b64;
use crate::Config;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{json, Value};
use std::sync::OnceLock;

pub const NOW: u64 = 1_800_000_000;
pub const ISS: &str = "https://id.example.com";

pub struct TestKey {
    pub kid: String,
    pub alg: Alg,
    pub jwk: Value,
    encoding: EncodingKey,
}

pub fn rsa() -> &'static TestKey {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::traits::PublicKeyParts;
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let private = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
        let der = private.to_pkcs1_der().unwrap();
        TestKey {
            kid: "rsa-1".into(),
            alg: Alg::Rs256,
            jwk: json!({"kty": "RSA", "kid": "rsa-1", "use": "sig",
                "n": b64(&private.n().to_bytes_be()), "e": b64(&private.e().to_bytes_be())}),
            encoding: EncodingKey::from_rsa_der(der.as_bytes()),
        }
    })
}

fn p256(kid: &str) -> TestKey {
    use p256::pkcs8::EncodePrivateKey;
    let secret = p256::SecretKey::random(&mut rand::thread_rng());
    let point =
        p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&secret.public_key(), false);
    let (x, y) = (point.x().unwrap(), point.y().unwrap());
    TestKey {
        kid: kid.into(),
        alg: Alg::Es256,
        jwk: json!({"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "x": b64(x), "y": b64(y)}),
        encoding: EncodingKey::from_ec_der(secret.to_pkcs8_der().unwrap().as_bytes()),
    }
}

/// Three P-256 keys: `ec-0` and `ec-1` are in the test JWKS, `ec-2` never is.
pub fn ec(i: usize) -> &'static TestKey {
    static KEYS: OnceLock<Vec<TestKey>> = OnceLock::new();
    &KEYS.get_or_init(|| (0..3).map(|i| p256(&format!("ec-{i}"))).collect())[i]
}

pub fn ed() -> &'static TestKey {
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let signing = ed25519_dalek::SigningKey::generate(&mut rand::thread_rng());
        TestKey {
            kid: "ed-1".into(),
            alg: Alg::EdDsa,
            jwk: json!({"kty": "OKP", "crv": "Ed25519", "kid": "ed-1",
                "x": b64(signing.verifying_key().as_bytes())}),
            encoding: EncodingKey::from_ed_der(signing.to_pkcs8_der().unwrap().as_bytes()),
        }
    })
}

pub fn jwks(keys: &[&TestKey]) -> String {
    json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()}).to_string()
}

/// Valid claims for `ISS` at `NOW`, with `extra` members added or replaced (`null` removes one).
pub fn claims(extra: Value) -> Value {
    let mut c =
        json!({"iss": ISS, "aud": "orders-api", "sub": "alice", "iat": NOW - 10, "exp": NOW + 600});
    if let (Some(c), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            if v.is_null() {
                c.remove(k);
            } else {
                c.insert(k.clone(), v.clone());
            }
        }
    }
    c
}

/// `claims` signed by `key` as `alg` (the key's own by default), with the key's `kid` unless
/// `kid` says otherwise (`Some(None)`: no kid).
pub fn sign_as(key: &TestKey, alg: Alg, kid: Option<Option<&str>>, claims: &Value) -> String {
    let mut header = Header::new(alg.jsonwebtoken());
    header.kid = kid.unwrap_or(Some(&key.kid)).map(str::to_string);
    jsonwebtoken::encode(&header, claims, &key.encoding).unwrap()
}

pub fn sign(key: &TestKey, claims: &Value) -> String {
    sign_as(key, key.alg, None, claims)
}

/// A token with any header and claims and the given signature bytes.
pub fn forge(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes()),
        b64(signature)
    )
}

/// A valid Ed25519 token of exactly `len` bytes, padded through a claim and the header's `cty`.
pub fn sized(len: usize) -> String {
    for cty in ["", "a", "ab", "abc"] {
        let mut header = Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some(ed().kid.clone());
        header.cty = (!cty.is_empty()).then(|| cty.to_string());
        let short =
            jsonwebtoken::encode(&header, &claims(json!({"pad": ""})), &ed().encoding).unwrap();
        let Some(room) = len.checked_sub(short.len()) else {
            continue;
        };
        // Each 3 bytes of claims are 4 characters of base64url: try the pads around the estimate.
        for pad in (room * 3 / 4).saturating_sub(3)..=room * 3 / 4 + 3 {
            let c = claims(json!({"pad": "x".repeat(pad)}));
            let t = jsonwebtoken::encode(&header, &c, &ed().encoding).unwrap();
            if t.len() == len {
                return t;
            }
        }
    }
    panic!("no token of {len} bytes")
}

/// The `jwt` object parsed as the filter parses it, with the identity headers the tests use.
pub fn jwt_config(jwt: &Value) -> JwtConfig {
    let mut text = json!({
        "identityHeaders": ["x-user-id", "x-user-roles", "x-tenant-id"],
        "jwt": jwt,
    });
    // Authenticate mode makes no callout, so it has no auth service.
    if jwt["mode"] != "authenticate" {
        text["authService"] = json!({"cluster": "outbound|8080||auth.svc", "authority": "auth"});
    }
    Config::parse(text.to_string().as_bytes())
        .unwrap()
        .jwt
        .unwrap()
}

/// Two providers: `corp` (`ISS`, inline keys rsa + ec-0 + ec-1 + ed, three places, claims to
/// headers) and `other` (a remote JWKS never fetched, the authorization header only).
pub fn two_providers(mode: &str) -> Value {
    let claim_headers = if mode == "authenticate" {
        json!({"sub": "x-user-id", "roles": "x-user-roles", "org.tenant": "x-tenant-id"})
    } else {
        json!({})
    };
    json!({
        "mode": mode,
        "providers": [{
            "name": "corp",
            "issuer": ISS,
            "audiences": ["orders-api", "billing-api"],
            "jwks": {"inline": jwks(&[rsa(), ec(0), ec(1), ed()])},
            "algorithms": ["RS256", "PS256", "ES256", "EdDSA"],
            "from": [{"header": "authorization", "prefix": "Bearer "}, {"cookie": "id_token"}, {"query": "access_token"}],
            "claimHeaders": claim_headers,
            "clockSkewSeconds": 60,
        }, {
            "name": "other",
            "issuer": "https://other.example.com",
            "jwks": {"cluster": "outbound|443||other.example.com", "path": "/jwks.json"},
        }],
    })
}
