use super::*;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::{json, Value};
use std::sync::OnceLock;

const ISS: &str = "https://issuer.test";

/// One issuer with a key of each kind plus an unpublished RSA key, shared by the tests that only
/// read it (RSA generation is the slow part).
fn shared() -> &'static Issuer {
    static ISSUER: OnceLock<Issuer> = OnceLock::new();
    ISSUER.get_or_init(|| {
        let mut i = Issuer::new(ISS);
        i.add_key(KeyKind::Rsa, "rsa-1").unwrap();
        i.add_key(KeyKind::P256, "ec-1").unwrap();
        i.add_key(KeyKind::Ed25519, "ed-1").unwrap();
        i.add_key(KeyKind::Rsa, "rsa-hidden").unwrap();
        i.unpublish("rsa-hidden").unwrap();
        i
    })
}

/// Verifies `token` the way a relying party does: the header's kid looked up in `jwks`, the
/// algorithm fixed by the caller, `iss` checked, `aud` checked when given.
fn verify(
    jwks: &str,
    token: &str,
    alg: Algorithm,
    aud: Option<&str>,
) -> Result<Value, jsonwebtoken::errors::Error> {
    let set: JwkSet = serde_json::from_str(jwks).unwrap();
    let kid = jsonwebtoken::decode_header(token)?.kid.unwrap_or_default();
    let Some(jwk) = set.find(&kid) else {
        return Err(jsonwebtoken::errors::ErrorKind::InvalidKeyFormat.into());
    };
    let mut v = Validation::new(alg);
    v.leeway = 0;
    v.validate_nbf = true;
    v.set_issuer(&[ISS]);
    match aud {
        Some(aud) => v.set_audience(&[aud]),
        None => v.validate_aud = false,
    }
    v.set_required_spec_claims(&["exp", "iss"]);
    let data = jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk)?, &v)?;
    Ok(data.claims)
}

#[test]
fn every_kind_signs_tokens_its_jwks_verifies() {
    let i = shared();
    for (kid, alg) in [
        ("rsa-1", Algorithm::RS256),
        ("ec-1", Algorithm::ES256),
        ("ed-1", Algorithm::EdDSA),
    ] {
        let claims = Claims::new()
            .sub("alice")
            .auds(&["orders", "billing"])
            .claim("org", json!({"tenant": "acme", "tier": 3}))
            .claim("roles", json!(["admin", "viewer"]))
            .claim("email_verified", true)
            .signed_by(kid);
        let token = i.token(&claims).unwrap();
        let got = verify(&i.jwks(), &token, alg, Some("billing")).unwrap();
        assert_eq!(got["sub"], "alice", "{kid}");
        assert_eq!(got["iss"], ISS);
        assert_eq!(got["aud"], json!(["orders", "billing"]));
        assert_eq!(got["org"]["tenant"], "acme");
        assert_eq!(got["roles"][1], "viewer");
        assert_eq!(got["email_verified"], true);
        let p = parts(&token).unwrap();
        assert_eq!(
            p.header,
            json!({"alg": format!("{alg:?}"), "typ": "JWT", "kid": kid})
        );
        // Another algorithm than the key's is refused.
        let other = if alg == Algorithm::EdDSA {
            Algorithm::ES256
        } else {
            Algorithm::EdDSA
        };
        assert!(verify(&i.jwks(), &token, other, None).is_err(), "{kid}");
    }
}

#[test]
fn times_are_relative_to_now() {
    let i = shared();
    let before = now();
    let token = i
        .token(&Claims::new().sub("a").iat_in(-30).nbf_in(-20).exp_in(90))
        .unwrap();
    let p = parts(&token).unwrap().payload;
    let after = now();
    for (name, offset) in [("iat", -30), ("nbf", -20), ("exp", 90)] {
        let t = p[name].as_i64().unwrap();
        assert!(
            (before + offset..=after + offset).contains(&t),
            "{name} {t}"
        );
    }
    let expired = i.token(&Claims::new().sub("a").exp_in(-60)).unwrap();
    let err = verify(&i.jwks(), &expired, Algorithm::RS256, None).unwrap_err();
    assert_eq!(
        err.kind(),
        &jsonwebtoken::errors::ErrorKind::ExpiredSignature
    );
    let early = i.token(&Claims::new().sub("a").nbf_in(600)).unwrap();
    let err = verify(&i.jwks(), &early, Algorithm::RS256, None).unwrap_err();
    assert_eq!(
        err.kind(),
        &jsonwebtoken::errors::ErrorKind::ImmatureSignature
    );
    let bare = i
        .token(&Claims::new().without("exp").without("iat").without("iss"))
        .unwrap();
    assert_eq!(parts(&bare).unwrap().payload, json!({}));
    let aud = i
        .token(&Claims::new().aud("orders").iss("https://other"))
        .unwrap();
    let p = parts(&aud).unwrap().payload;
    assert_eq!(
        (p["aud"].clone(), p["iss"].clone()),
        (json!("orders"), json!("https://other"))
    );
}

#[test]
fn unpublished_keys_sign_tokens_the_jwks_cannot_verify() {
    let i = shared();
    assert!(!i.is_published("rsa-hidden"));
    assert_eq!(i.kids(), ["rsa-1", "ec-1", "ed-1", "rsa-hidden"]);
    let set: JwkSet = serde_json::from_str(&i.jwks()).unwrap();
    assert_eq!(set.keys.len(), 3);
    assert!(set.find("rsa-hidden").is_none());
    let token = i
        .token(&Claims::new().sub("a").signed_by("rsa-hidden"))
        .unwrap();
    assert!(verify(&i.jwks(), &token, Algorithm::RS256, None).is_err());
    // Even under the published key's kid: the signature is not that key's.
    let lying = i
        .token(&Claims::new().sub("a").signed_by("rsa-hidden").kid("rsa-1"))
        .unwrap();
    assert_eq!(parts(&lying).unwrap().header["kid"], "rsa-1");
    let err = verify(&i.jwks(), &lying, Algorithm::RS256, None).unwrap_err();
    assert_eq!(
        err.kind(),
        &jsonwebtoken::errors::ErrorKind::InvalidSignature
    );
}

#[test]
fn publish_and_unpublish_rotate_the_jwks() {
    let mut i = Issuer::new(ISS);
    i.add_key(KeyKind::P256, "old").unwrap();
    let old_token = i.token(&Claims::new().sub("a")).unwrap();
    i.add_key(KeyKind::Ed25519, "new").unwrap();
    i.unpublish("new").unwrap();
    let before = i.jwks();
    i.publish("new").unwrap().unpublish("old").unwrap();
    let after = i.jwks();
    let new_token = i.token(&Claims::new().sub("a")).unwrap();
    assert_eq!(parts(&new_token).unwrap().header["kid"], "new");
    assert!(verify(&before, &old_token, Algorithm::ES256, None).is_ok());
    assert!(verify(&before, &new_token, Algorithm::EdDSA, None).is_err());
    assert!(verify(&after, &old_token, Algorithm::ES256, None).is_err());
    assert!(verify(&after, &new_token, Algorithm::EdDSA, None).is_ok());
    assert!(i.add_key(KeyKind::P256, "old").is_err());
    assert!(i.publish("missing").is_err());
    i.unpublish("new").unwrap();
    assert_eq!(i.jwks(), r#"{"keys":[]}"#);
    assert!(i.token(&Claims::new()).is_err());
}

#[test]
fn header_overrides() {
    let i = shared();
    let no_kid = i.token(&Claims::new().no_kid()).unwrap();
    assert_eq!(parts(&no_kid).unwrap().header.get("kid"), None);
    let pss = i
        .token(&Claims::new().sub("a").alg(Algorithm::PS256))
        .unwrap();
    assert_eq!(parts(&pss).unwrap().header["alg"], "PS256");
    assert!(verify(&strip_alg(&i.jwks()), &pss, Algorithm::PS256, None).is_ok());
    assert!(i.token(&Claims::new().alg(Algorithm::ES256)).is_err());
    // The header lies about the algorithm; the signature is still RS256's.
    let lie = i
        .token(
            &Claims::new()
                .header_alg("RS512")
                .header("crit", json!(["exp"])),
        )
        .unwrap();
    let h = parts(&lie).unwrap().header;
    assert_eq!(
        (h["alg"].clone(), h["crit"].clone()),
        (json!("RS512"), json!(["exp"]))
    );
    let typ = i.token(&Claims::new().header("typ", "at+jwt")).unwrap();
    assert_eq!(parts(&typ).unwrap().header["typ"], "at+jwt");
}

/// The JWKS with each key's `alg` removed, so jsonwebtoken lets an RSA key verify PS256.
fn strip_alg(jwks: &str) -> String {
    let mut doc: Value = serde_json::from_str(jwks).unwrap();
    for k in doc["keys"].as_array_mut().unwrap() {
        k.as_object_mut().unwrap().remove("alg");
    }
    doc.to_string()
}

#[test]
fn alg_none_has_no_signature() {
    let i = shared();
    let token = i.alg_none(&Claims::new().sub("admin")).unwrap();
    assert!(token.ends_with('.'), "{token}");
    let p = parts(&token).unwrap();
    assert_eq!(
        p.header,
        json!({"alg": "none", "typ": "JWT", "kid": "rsa-1"})
    );
    assert_eq!(p.payload["sub"], "admin");
    assert!(p.signature.is_empty());
    assert!(verify(&i.jwks(), &token, Algorithm::RS256, None).is_err());
}

#[test]
fn alg_confusion_is_an_hmac_keyed_with_the_public_key() {
    let i = shared();
    let pem = i.public_pem("rsa-1").unwrap();
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");
    let token = i.alg_confusion(&Claims::new().sub("admin")).unwrap();
    let p = parts(&token).unwrap();
    assert_eq!(
        p.header,
        json!({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"})
    );
    // What a verifier that lets the header pick the algorithm would compute: it matches.
    let mut v = Validation::new(Algorithm::HS256);
    v.validate_aud = false;
    let claims =
        jsonwebtoken::decode::<Value>(&token, &DecodingKey::from_secret(pem.as_bytes()), &v)
            .unwrap()
            .claims;
    assert_eq!(claims["sub"], "admin");
    assert!(verify(&i.jwks(), &token, Algorithm::RS256, None).is_err());
    assert!(i.alg_confusion(&Claims::new().signed_by("ec-1")).is_err());
    let with_jwk = i
        .alg_confusion_with(
            &Claims::new(),
            i.jwk("rsa-1").unwrap().to_string().as_bytes(),
        )
        .unwrap();
    assert_eq!(parts(&with_jwk).unwrap().header["alg"], "HS256");
}

#[test]
fn tampered_keeps_header_and_signature() {
    let i = shared();
    let claims = Claims::new().sub("bob").signed_by("ec-1");
    let token = i
        .tampered(&claims, |p| {
            p.insert("sub".into(), "admin".into());
        })
        .unwrap();
    let p = parts(&token).unwrap();
    assert_eq!(p.payload["sub"], "admin");
    assert_eq!(p.header["kid"], "ec-1");
    assert_eq!(p.signature.len(), 64);
    let err = verify(&i.jwks(), &token, Algorithm::ES256, None).unwrap_err();
    assert_eq!(
        err.kind(),
        &jsonwebtoken::errors::ErrorKind::InvalidSignature
    );
    let honest = i.token(&claims).unwrap();
    let (h, s) = (honest.split('.').next(), honest.split('.').nth(2));
    assert_eq!((token.split('.').next(), token.split('.').nth(2)), (h, s));
}

#[test]
fn forge_and_parts_round_trip() {
    let t = forge(&json!({"alg": "x"}), &json!({"a": [1, 2]}), b"sig");
    let p = parts(&t).unwrap();
    assert_eq!(
        p,
        Parts {
            header: json!({"alg": "x"}),
            payload: json!({"a": [1, 2]}),
            signature: b"sig".to_vec()
        }
    );
    for bad in ["a.b", "a.b.c.d", "e30.!!.e30", "bm90IGpzb24.e30."] {
        assert!(parts(bad).is_err(), "{bad}");
    }
}

#[test]
fn debug_never_prints_a_private_key() {
    let text = format!("{:?}", shared());
    assert!(
        text.contains("rsa-1") && !text.contains("PRIVATE"),
        "{text}"
    );
    assert!(text.len() < 400, "{text}");
}
