//! Time of one `jwt::verify` (decode, claims, key choice, signature) per algorithm, with keys
//! generated at start. Natively: `cargo run --release -p mesh-authz-core --example jwt_verify_time`;
//! as the filter runs it, in wasm32 under V8: the same with `--target wasm32-wasip1` and
//! `CARGO_TARGET_WASM32_WASIP1_RUNNER="node integration/wasm/run-wasi.mjs"`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::pkcs8::EncodePrivateKey as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mesh_authz_core::jwt::{extract, verify, Extracted, Keys};
use mesh_authz_core::request::RequestHead;
use mesh_authz_core::Config;
use rsa::pkcs1::EncodeRsaPrivateKey as _;
use rsa::traits::PublicKeyParts as _;
use serde_json::json;
use std::time::Instant;

const NOW: u64 = 1_800_000_000;

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rng = rand::thread_rng();
    let rsa = rsa::RsaPrivateKey::new(&mut rng, 2048)?;
    let ec = p256::SecretKey::random(&mut rng);
    let point =
        p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&ec.public_key(), false);
    let ed = ed25519_dalek::SigningKey::generate(&mut rng);
    let (x, y) = (point.x().ok_or("x")?, point.y().ok_or("y")?);
    let jwks = json!({"keys": [
        {"kty": "RSA", "kid": "r", "n": b64(&rsa.n().to_bytes_be()), "e": b64(&rsa.e().to_bytes_be())},
        {"kty": "EC", "kid": "e", "crv": "P-256", "x": b64(x), "y": b64(y)},
        {"kty": "OKP", "kid": "d", "crv": "Ed25519", "x": b64(ed.verifying_key().as_bytes())},
    ]});
    let text = json!({
        "authService": {"cluster": "c", "authority": "a"},
        "identityHeaders": ["x-user-id"],
        "jwt": {"mode": "authenticate", "providers": [{"name": "p", "issuer": "https://id.example.com",
            "jwks": {"inline": jwks.to_string()}, "algorithms": ["RS256", "ES256", "EdDSA"],
            "claimHeaders": {"sub": "x-user-id"}}]},
    });
    let config = Config::parse(text.to_string().as_bytes())?
        .jwt
        .ok_or("no jwt")?;
    let keys = Keys::new(&config);
    let claims = json!({"iss": "https://id.example.com", "sub": "alice", "exp": NOW + 600});
    let cases = [
        (
            "RS256",
            Algorithm::RS256,
            "r",
            EncodingKey::from_rsa_der(rsa.to_pkcs1_der()?.as_bytes()),
        ),
        (
            "ES256",
            Algorithm::ES256,
            "e",
            EncodingKey::from_ec_der(p256::pkcs8::EncodePrivateKey::to_pkcs8_der(&ec)?.as_bytes()),
        ),
        (
            "EdDSA",
            Algorithm::EdDSA,
            "d",
            EncodingKey::from_ed_der(ed.to_pkcs8_der()?.as_bytes()),
        ),
    ];
    for (name, alg, kid, key) in cases {
        let mut header = Header::new(alg);
        header.kid = Some(kid.to_string());
        let token = jsonwebtoken::encode(&header, &claims, &key)?;
        let value = format!("Bearer {token}");
        let headers: [(&str, &[u8]); 1] = [("authorization", value.as_bytes())];
        let head = RequestHead::new(&headers);
        let Extracted::Token(t) = extract(&config, &head) else {
            return Err("no token".into());
        };
        verify(&config, &keys, &t, NOW)?;
        let rounds = 200;
        let start = Instant::now();
        for _ in 0..rounds {
            verify(&config, &keys, &t, NOW)?;
        }
        let per = start.elapsed().as_secs_f64() * 1e6 / f64::from(rounds);
        println!("{name}: {per:.1} us per verify ({rounds} rounds)");
    }
    Ok(())
}
