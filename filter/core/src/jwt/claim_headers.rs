//! `claimHeaders`: claims of a verified token as identity header values. A path is first read as
//! one member name (issuers use names like `https://example.com/roles`), then by its dots as
//! nested objects. Strings as they are, numbers and booleans as JSON writes them, arrays of those
//! joined with `,`; an absent or null claim sets no header. A claim that cannot be a header value
//! (an object, nested arrays, control characters) refuses the token: an identity is never guessed.

use super::config::ClaimHeader;
use super::error::JwtError;
use crate::tagged::TaggedHeaders;
use serde_json::{Map, Value};

pub fn identity(
    claims: &Map<String, Value>,
    wanted: &[ClaimHeader],
) -> Result<TaggedHeaders, JwtError> {
    let mut values: Vec<(u8, Vec<u8>)> = Vec::with_capacity(wanted.len());
    for c in wanted {
        if let Some(text) = lookup(claims, &c.claim).map(text).transpose()?.flatten() {
            values.push((c.header, text.into_bytes()));
        }
    }
    Ok(TaggedHeaders::from_pairs(
        values.iter().map(|(i, v)| (*i, v.as_slice())),
    ))
}

fn lookup<'a>(claims: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(path) {
        return Some(v);
    }
    let mut parts = path.split('.');
    let mut at = claims.get(parts.next()?)?;
    for part in parts {
        at = at.as_object()?.get(part)?;
    }
    Some(at)
}

/// `Ok(None)`: no header.
fn text(value: &Value) -> Result<Option<String>, JwtError> {
    let out = match value {
        Value::Null => return Ok(None),
        Value::Array(items) => {
            let mut parts = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::Array(_) | Value::Object(_) | Value::Null => {
                        return Err(JwtError::BadClaim(
                            "a claim for a header is an array of non-scalars",
                        ));
                    }
                    v => parts.push(scalar(v)),
                }
            }
            parts.join(",")
        }
        Value::Object(_) => return Err(JwtError::BadClaim("a claim for a header is an object")),
        v => scalar(v),
    };
    // Envoy refuses CR, LF and NUL in a header value; other controls confuse upstreams.
    if out.bytes().any(|b| (b < b' ' && b != b'\t') || b == 0x7f) {
        return Err(JwtError::BadClaim(
            "a claim for a header has control characters",
        ));
    }
    Ok(Some(out))
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claims_become_tagged_header_values() {
        let claims = json!({
            "sub": "alice",
            "roles": ["admin", "dev"],
            "org": {"tenant": "acme", "deep": {"n": 7}},
            "https://example.com/groups": ["a"],
            "n": 12.5,
            "big": 12345678901234u64,
            "flag": false,
            "none": null,
            "empty": [],
            "mixed": ["a", 1, true],
        });
        let claims = claims.as_object().cloned().unwrap_or_default();
        let cases: &[(&str, Option<&str>)] = &[
            ("sub", Some("alice")),
            ("roles", Some("admin,dev")),
            ("org.tenant", Some("acme")),
            ("org.deep.n", Some("7")),
            ("https://example.com/groups", Some("a")),
            ("n", Some("12.5")),
            ("big", Some("12345678901234")),
            ("flag", Some("false")),
            ("none", None),
            ("missing", None),
            ("org.missing", None),
            ("sub.x", None),
            ("empty", Some("")),
            ("mixed", Some("a,1,true")),
        ];
        for (path, want) in cases {
            let wanted = [ClaimHeader {
                claim: path.to_string(),
                header: 3,
            }];
            let got = identity(&claims, &wanted).unwrap();
            let got: Vec<(u8, &[u8])> = got.iter().collect();
            let want: Vec<(u8, &[u8])> = want.iter().map(|w| (3u8, w.as_bytes())).collect();
            assert_eq!(got, want, "{path}");
        }
    }

    #[test]
    fn claims_that_cannot_be_a_header_refuse_the_token() {
        for bad in [
            json!({"c": {"a": 1}}),
            json!({"c": [[1]]}),
            json!({"c": [null]}),
            json!({"c": "a\r\nx-admin: 1"}),
            json!({"c": "a\u{0}"}),
        ] {
            let claims = bad.as_object().cloned().unwrap_or_default();
            let wanted = [ClaimHeader {
                claim: "c".into(),
                header: 0,
            }];
            assert!(
                matches!(identity(&claims, &wanted), Err(JwtError::BadClaim(_))),
                "{bad}"
            );
        }
    }
}
