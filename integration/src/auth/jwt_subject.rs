//! A JWT bearer token's `sub` as the caller's identity, once its signature has been checked
//! against the JWKS this service serves, and its `exp` (and `nbf`, when present) against the
//! clock. The filter in JWT gate mode checks tokens before the callout, but a service must never
//! trust a token it did not verify itself: a value the filter did not take for a token (another
//! spelling, another place) reaches it unchecked, and an `alg: none` token read without a check is
//! whoever the attacker says. Without keys no JWT is an identity.
//!
//! The algorithm comes from the key (its `kty`, and its `alg` when the JWK names one): the token's
//! header only chooses among what the key allows, never HMAC, never `none`. `iss` and `aud` are
//! the filter's to check (this service is told no issuer); a minute of leeway on `exp` matches
//! the skew a filter may allow, so a token the filter let through is not refused here a moment
//! later.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// Seconds a token is still taken after its `exp` (jsonwebtoken's default, and a filter's
/// common `clockSkewSeconds`).
const LEEWAY_SECS: u64 = 60;

/// The identity for a token verified by a key of `jwks` (a JWKS document) with a non-empty
/// string `sub` that is a valid header value: `x-user-id: <sub>`.
pub fn identity(token: &str, jwks: &str) -> Option<Cow<'static, BTreeMap<String, String>>> {
    let claims = verified(token, jwks)?;
    let sub = claims.get("sub")?.as_str()?;
    if sub.is_empty() || hyper::header::HeaderValue::from_str(sub).is_err() {
        return None;
    }
    Some(Cow::Owned(BTreeMap::from([(
        "x-user-id".to_string(),
        sub.to_string(),
    )])))
}

/// The claims of `token` when a key of `jwks` verifies it and it has not expired.
fn verified(token: &str, jwks: &str) -> Option<Map<String, Value>> {
    let set: JwkSet = serde_json::from_str(jwks).ok()?;
    // `none` is no algorithm here: such a header does not parse.
    let header = decode_header(token).ok()?;
    if matches!(
        header.alg,
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
    ) {
        return None;
    }
    let alg_name = format!("{:?}", header.alg);
    let mut validation = Validation::new(header.alg);
    validation.leeway = LEEWAY_SECS;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp"]);
    set.keys
        .iter()
        .filter(|k| header.kid.is_none() || k.common.key_id == header.kid)
        .filter(|k| {
            k.common
                .key_algorithm
                .is_none_or(|a| a.to_string() == alg_name)
        })
        .filter_map(|k| DecodingKey::from_jwk(k).ok())
        // jsonwebtoken also refuses a key of another family than the header's alg.
        .find_map(|key| decode::<Map<String, Value>>(token, &key, &validation).ok())
        .map(|data| data.claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::{forge, Claims, Issuer, KeyKind};
    use serde_json::json;
    use std::sync::OnceLock;

    /// An issuer with a key of each kind and one it does not publish.
    fn issuer() -> &'static Issuer {
        static I: OnceLock<Issuer> = OnceLock::new();
        I.get_or_init(|| {
            let mut i = Issuer::new("https://id.example.com");
            i.add_key(KeyKind::Rsa, "rsa-1").unwrap();
            i.add_key(KeyKind::P256, "ec-1").unwrap();
            i.add_key(KeyKind::Ed25519, "ed-1").unwrap();
            i.add_key(KeyKind::P256, "ec-hidden").unwrap();
            i.unpublish("ec-hidden").unwrap();
            i
        })
    }

    fn user(token: &str, jwks: &str) -> Option<String> {
        identity(token, jwks).and_then(|i| i.get("x-user-id").cloned())
    }

    #[test]
    fn a_token_signed_by_a_served_key_is_its_sub() {
        let i = issuer();
        for kid in ["rsa-1", "ec-1", "ed-1"] {
            let t = i
                .token(&Claims::new().sub("jwt-user").exp_in(600).signed_by(kid))
                .unwrap();
            assert_eq!(user(&t, &i.jwks()).as_deref(), Some("jwt-user"), "{kid}");
        }
        // No kid: any served key that verifies it.
        let t = i
            .token(&Claims::new().sub("no-kid").exp_in(600).no_kid())
            .unwrap();
        assert_eq!(user(&t, &i.jwks()).as_deref(), Some("no-kid"));
    }

    #[test]
    fn nothing_unverified_is_an_identity() {
        let i = issuer();
        let jwks = i.jwks();
        let c = || Claims::new().sub("mallory").exp_in(600);
        let rsa_jwk = i.jwk("rsa-1").unwrap().to_string();
        let cases: Vec<(&str, String)> = vec![
            ("alg none", i.alg_none(&c()).unwrap()),
            (
                "alg none, no kid",
                forge(
                    &json!({"alg": "none"}),
                    &json!({"sub": "mallory", "exp": 4_000_000_000u64}),
                    b"",
                ),
            ),
            (
                "HS256 keyed with the RSA public key",
                i.alg_confusion(&c().signed_by("rsa-1")).unwrap(),
            ),
            (
                "HS256 keyed with the JWK",
                i.alg_confusion_with(&c().signed_by("rsa-1"), rsa_jwk.as_bytes())
                    .unwrap(),
            ),
            (
                "a key not served",
                i.token(&c().signed_by("ec-hidden")).unwrap(),
            ),
            (
                "tampered sub",
                i.tampered(&c().sub("alice"), |m| {
                    m.insert("sub".into(), json!("mallory"));
                })
                .unwrap(),
            ),
            ("expired", i.token(&c().exp_in(-120)).unwrap()),
            ("no exp", i.token(&c().without("exp")).unwrap()),
            ("not yet valid", i.token(&c().nbf_in(600)).unwrap()),
            (
                "a kid of another key",
                i.token(&c().signed_by("ec-hidden").kid("ec-1")).unwrap(),
            ),
            ("no signature", {
                let t = i.token(&c()).unwrap();
                format!("{}.", t.rsplit_once('.').unwrap().0)
            }),
            ("alice-token", "alice-token".to_string()),
        ];
        for (what, t) in &cases {
            assert_eq!(user(t, &jwks), None, "{what}");
        }
        // The same forged tokens, and a good one, with no keys served.
        let good = i.token(&c()).unwrap();
        for jwks in [r#"{"keys":[]}"#, "", "not json"] {
            assert_eq!(user(&good, jwks), None, "{jwks:?}");
        }
        assert_eq!(user(&good, &i.jwks()).as_deref(), Some("mallory"));
    }

    #[test]
    fn a_sub_must_be_a_header_value() {
        let i = issuer();
        for (claims, want) in [
            (Claims::new().sub(""), None),
            (Claims::new().claim("sub", 7), None),
            (Claims::new().sub("a\nb"), None),
            (Claims::new().without("sub"), None),
            (Claims::new().sub("ok"), Some("ok")),
        ] {
            let t = i.token(&claims.exp_in(600)).unwrap();
            assert_eq!(user(&t, &i.jwks()).as_deref(), want);
        }
    }
}
