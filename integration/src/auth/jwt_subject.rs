//! A JWT bearer token's `sub` as the caller's identity, read WITHOUT checking the signature, the
//! issuer or the times. This stands in for an auth service behind a filter in JWT gate mode: the
//! filter has verified the token before the callout (a bad one never gets here), so the service
//! only maps it to an identity. It must never be the only check: an end-to-end test that sends a
//! forged token expects the filter to refuse it, and this service answering 200 for it is what
//! makes such a test fail when the filter does not.

use std::borrow::Cow;
use std::collections::BTreeMap;

/// The identity for a JWT-shaped token (three dot-separated parts, a JSON payload with a
/// non-empty string `sub` that is a valid header value): `x-user-id: <sub>`.
pub fn identity(token: &str) -> Option<Cow<'static, BTreeMap<String, String>>> {
    let payload = crate::jwt::parts(token).ok()?.payload;
    let sub = payload.get("sub")?.as_str()?;
    if sub.is_empty() || hyper::header::HeaderValue::from_str(sub).is_err() {
        return None;
    }
    Some(Cow::Owned(BTreeMap::from([(
        "x-user-id".to_string(),
        sub.to_string(),
    )])))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::forge;
    use serde_json::json;

    #[test]
    fn sub_of_any_jwt_shaped_token() {
        let h = json!({"alg": "EdDSA"});
        let cases: &[(String, Option<&str>)] = &[
            (
                forge(&h, &json!({"sub": "jwt-user"}), b"sig"),
                Some("jwt-user"),
            ),
            // Unsigned: accepted all the same, the filter is the one that checks.
            (
                forge(&json!({"alg": "none"}), &json!({"sub": "x"}), b""),
                Some("x"),
            ),
            (forge(&h, &json!({"sub": ""}), b"s"), None),
            (forge(&h, &json!({"sub": 7}), b"s"), None),
            (forge(&h, &json!({"sub": "a\nb"}), b"s"), None),
            (forge(&h, &json!({"name": "x"}), b"s"), None),
            (forge(&h, &json!(["sub"]), b"s"), None),
            ("alice-token".to_string(), None),
            ("a.b.c".to_string(), None),
            (
                format!("{}.extra", forge(&h, &json!({"sub": "x"}), b"s")),
                None,
            ),
        ];
        for (token, user) in cases {
            let got = identity(token);
            assert_eq!(
                got.as_ref()
                    .and_then(|i| i.get("x-user-id"))
                    .map(String::as_str),
                *user,
                "{token}"
            );
        }
    }
}
