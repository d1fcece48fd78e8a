use super::*;
use crate::jwt::strict::b64url_encode as b64;
use serde_json::json;

/// A modulus of exactly `bits` bits (the top bit set), as a JWK `n`; not a real key.
fn modulus(bits: usize) -> String {
    let mut n = vec![0xabu8; bits.div_ceil(8)];
    n[0] = 1 << ((bits - 1) % 8);
    b64(&n)
}

fn one(jwk: serde_json::Value) -> Result<KeySet, &'static str> {
    let doc = json!({"keys": [jwk]}).to_string();
    let (set, skipped) = KeySet::parse(doc.as_bytes()).map_err(|e| e.0)?;
    match skipped.first() {
        Some(s) => Err(s.reason),
        None => Ok(set),
    }
}

#[test]
fn each_key_is_kept_or_skipped_with_a_reason() {
    let e = b64(&[1, 0, 1]);
    let xy = b64(&[7; 32]);
    let ok = Ok(());
    let cases: Vec<(serde_json::Value, Result<(), &str>)> = vec![
        (json!({"kty": "RSA", "n": modulus(2048), "e": e}), ok),
        (json!({"kty": "RSA", "n": modulus(4096), "e": e}), ok),
        (
            json!({"kty": "RSA", "n": format!("AAAA{}", modulus(2048)), "e": e}),
            ok,
        ),
        (
            json!({"kty": "RSA", "n": modulus(1024), "e": e}),
            Err("2048 to 4096"),
        ),
        (
            json!({"kty": "RSA", "n": modulus(2047), "e": e}),
            Err("2048 to 4096"),
        ),
        (
            json!({"kty": "RSA", "n": modulus(4097), "e": e}),
            Err("2048 to 4096"),
        ),
        (
            json!({"kty": "RSA", "n": modulus(2048), "e": b64(&[1])}),
            Err("exponent"),
        ),
        (
            json!({"kty": "RSA", "n": modulus(2048), "e": b64(&[2])}),
            Err("exponent"),
        ),
        (
            json!({"kty": "RSA", "n": modulus(2048), "e": b64(&[1; 9])}),
            Err("exponent"),
        ),
        (json!({"kty": "RSA", "n": modulus(2048)}), Err("missing")),
        (json!({"kty": "RSA", "n": "!!", "e": e}), Err("base64url")),
        (
            json!({"kty": "RSA", "n": modulus(2048), "e": e, "alg": "ES256"}),
            Err("does not fit"),
        ),
        (
            json!({"kty": "RSA", "n": modulus(2048), "e": e, "alg": "HS256"}),
            Err("not a supported"),
        ),
        (
            json!({"kty": "RSA", "n": modulus(2048), "e": e, "use": "enc"}),
            Err("\"use\""),
        ),
        (
            json!({"kty": "RSA", "n": modulus(2048), "e": e, "key_ops": ["encrypt"]}),
            Err("key_ops"),
        ),
        (
            json!({"kty": "RSA", "n": modulus(2048), "e": e, "key_ops": ["verify"]}),
            ok,
        ),
        (
            json!({"kty": "RSA", "n": modulus(2048), "e": e, "kid": 5}),
            Err("must be a string"),
        ),
        (json!({"kty": "EC", "crv": "P-256", "x": xy, "y": xy}), ok),
        (
            json!({"kty": "EC", "crv": "P-384", "x": b64(&[7; 48]), "y": b64(&[7; 48])}),
            ok,
        ),
        (
            json!({"kty": "EC", "crv": "P-384", "x": xy, "y": xy}),
            Err("curve's size"),
        ),
        (
            json!({"kty": "EC", "crv": "P-521", "x": xy, "y": xy}),
            Err("P-256 or P-384"),
        ),
        (
            json!({"kty": "EC", "crv": "P-256", "x": xy}),
            Err("missing"),
        ),
        (json!({"kty": "OKP", "crv": "Ed25519", "x": xy}), ok),
        (
            json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&[7; 31])}),
            Err("32 bytes"),
        ),
        (
            json!({"kty": "OKP", "crv": "X25519", "x": xy}),
            Err("Ed25519"),
        ),
        (json!({"kty": "oct", "k": b64(b"secret")}), Err("symmetric")),
        (json!({"kty": "XYZ"}), Err("kty")),
        (json!({}), Err("kty")),
        (json!("key"), Err("not an object")),
    ];
    for (jwk, want) in cases {
        match (one(jwk.clone()), want) {
            (Ok(set), Ok(())) => assert_eq!(set.len(), 1, "{jwk}"),
            (Err(got), Err(w)) => assert!(got.contains(w), "{jwk}: {got}"),
            (got, want) => panic!("{jwk}: got {:?}, want {want:?}", got.map(|s| s.len())),
        }
    }
}

#[test]
fn documents_that_are_refused_whole() {
    let big = format!(r#"{{"keys": [], "pad": "{}"}}"#, "x".repeat(MAX_JWKS_BYTES));
    let cases: &[(&str, &str)] = &[
        (&big, "256 KiB"),
        ("not json", "not a JSON object"),
        (r#"{"keys": [], "keys": []}"#, "not a JSON object"),
        (r#"[]"#, "not a JSON object"),
        (r#"{"keys": {}}"#, "no \"keys\" array"),
        (r#"{}"#, "no \"keys\" array"),
    ];
    for (doc, want) in cases {
        let err = KeySet::parse(doc.as_bytes()).unwrap_err();
        assert!(err.0.contains(want), "{err}");
    }
    let overhead = r#"{"keys": [], "pad": ""}"#.len();
    let just_under = format!(
        r#"{{"keys": [], "pad": "{}"}}"#,
        "x".repeat(MAX_JWKS_BYTES - overhead)
    );
    assert_eq!(just_under.len(), MAX_JWKS_BYTES);
    assert!(KeySet::parse(just_under.as_bytes()).is_ok());
}

#[test]
fn keys_fit_an_alg_by_type_curve_and_their_own_alg() {
    let e = b64(&[1, 0, 1]);
    let doc = json!({"keys": [
        {"kty": "RSA", "kid": "r", "n": modulus(2048), "e": e},
        {"kty": "RSA", "kid": "p", "n": modulus(2048), "e": e, "alg": "PS256"},
        {"kty": "EC", "kid": "e", "crv": "P-256", "x": b64(&[7; 32]), "y": b64(&[7; 32])},
        {"kty": "OKP", "kid": "d", "crv": "Ed25519", "x": b64(&[7; 32])},
    ]})
    .to_string();
    let (set, skipped) = KeySet::parse(doc.as_bytes()).unwrap();
    assert!(skipped.is_empty());
    let kids = |alg| -> Vec<&str> { set.fitting(alg).filter_map(|k| k.kid.as_deref()).collect() };
    assert_eq!(kids(Alg::Rs256), ["r"]);
    assert_eq!(kids(Alg::Ps256), ["r", "p"]);
    assert_eq!(kids(Alg::Es256), ["e"]);
    assert!(kids(Alg::Es384).is_empty());
    assert_eq!(kids(Alg::EdDsa), ["d"]);
    assert!(set.has_kid("e") && !set.has_kid("x"));
    let shown = format!("{set:?}");
    assert!(
        shown.contains("kid=\"r\"") && !shown.contains("q6ur"),
        "{shown}"
    );
}
