//! The registered claims (RFC 7519 section 4.1) a token must satisfy: `iss` picks the provider,
//! `exp` is required, `nbf` and `iat` may not be in the future, `aud` must name a configured
//! audience when audiences are configured. Times within the provider's clock skew pass.

use super::error::JwtError;
use serde_json::{Map, Value};

pub fn issuer(claims: &Map<String, Value>) -> Result<&str, JwtError> {
    match claims.get("iss") {
        Some(Value::String(iss)) => Ok(iss),
        None => Err(JwtError::UnknownIssuer),
        Some(_) => Err(JwtError::BadClaim("iss is not a string")),
    }
}

/// A NumericDate (seconds, possibly with a fraction), rounded down; `Err` when not a number.
fn seconds(
    claims: &Map<String, Value>,
    name: &str,
    bad: &'static str,
) -> Result<Option<i64>, JwtError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Ok(Some(i)),
            // An f64 cast saturates: a huge `exp` is far future, a huge negative one long past.
            (None, Some(f)) => Ok(Some(f.floor() as i64)),
            (None, None) => Err(JwtError::BadClaim(bad)),
        },
        Some(_) => Err(JwtError::BadClaim(bad)),
    }
}

/// Checks `exp`, `nbf` and `iat` against `now`; the token's `exp` (0 if before 1970) on success.
pub fn check_times(claims: &Map<String, Value>, now: u64, skew: u32) -> Result<u64, JwtError> {
    let now = i128::from(now);
    let skew = i128::from(skew);
    let exp = seconds(claims, "exp", "exp is not a number")?.ok_or(JwtError::MissingExp)?;
    if now >= i128::from(exp) + skew {
        return Err(JwtError::Expired);
    }
    if let Some(nbf) = seconds(claims, "nbf", "nbf is not a number")? {
        if i128::from(nbf) > now + skew {
            return Err(JwtError::NotYetValid);
        }
    }
    if let Some(iat) = seconds(claims, "iat", "iat is not a number")? {
        if i128::from(iat) > now + skew {
            return Err(JwtError::IssuedInFuture);
        }
    }
    Ok(u64::try_from(exp).unwrap_or(0))
}

/// `aud` (a string or an array of strings) must contain one of `audiences`; `None`: not checked.
pub fn check_audience(
    claims: &Map<String, Value>,
    audiences: Option<&[String]>,
) -> Result<(), JwtError> {
    let Some(wanted) = audiences else {
        return Ok(());
    };
    let ok = match claims.get("aud") {
        Some(Value::String(a)) => wanted.contains(a),
        Some(Value::Array(list)) => {
            let mut any = false;
            for a in list {
                let a = a
                    .as_str()
                    .ok_or(JwtError::BadClaim("aud has a member that is not a string"))?;
                any |= wanted.iter().any(|w| w == a);
            }
            any
        }
        None => false,
        Some(_) => return Err(JwtError::BadClaim("aud is not a string or an array")),
    };
    if ok {
        Ok(())
    } else {
        Err(JwtError::WrongAudience)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn times_with_skew() {
        const NOW: u64 = 1_000_000;
        // (claims, skew, expected)
        let cases: Vec<(Value, u32, Result<u64, JwtError>)> = vec![
            (json!({"exp": NOW + 1}), 0, Ok(NOW + 1)),
            (json!({"exp": NOW}), 0, Err(JwtError::Expired)),
            (json!({"exp": NOW - 59}), 60, Ok(NOW - 59)),
            (json!({"exp": NOW - 60}), 60, Err(JwtError::Expired)),
            (json!({"exp": NOW as f64 + 0.5}), 0, Err(JwtError::Expired)),
            (json!({"exp": 1e300}), 0, Ok(i64::MAX as u64)),
            (json!({"exp": -5}), 600, Err(JwtError::Expired)),
            (json!({}), 60, Err(JwtError::MissingExp)),
            (
                json!({"exp": "soon"}),
                60,
                Err(JwtError::BadClaim("exp is not a number")),
            ),
            (
                json!({"exp": null}),
                60,
                Err(JwtError::BadClaim("exp is not a number")),
            ),
            (json!({"exp": NOW + 10, "nbf": NOW + 60}), 60, Ok(NOW + 10)),
            (
                json!({"exp": NOW + 10, "nbf": NOW + 61}),
                60,
                Err(JwtError::NotYetValid),
            ),
            (
                json!({"exp": NOW + 10, "nbf": NOW + 1}),
                0,
                Err(JwtError::NotYetValid),
            ),
            (json!({"exp": NOW + 10, "nbf": NOW}), 0, Ok(NOW + 10)),
            (json!({"exp": NOW + 10, "iat": NOW + 60}), 60, Ok(NOW + 10)),
            (
                json!({"exp": NOW + 10, "iat": NOW + 61}),
                60,
                Err(JwtError::IssuedInFuture),
            ),
            (
                json!({"exp": NOW + 10, "iat": "x"}),
                60,
                Err(JwtError::BadClaim("iat is not a number")),
            ),
            (
                json!({"exp": NOW + 10, "nbf": [1]}),
                60,
                Err(JwtError::BadClaim("nbf is not a number")),
            ),
        ];
        for (claims, skew, want) in cases {
            assert_eq!(
                check_times(&map(claims.clone()), NOW, skew),
                want,
                "{claims} skew {skew}"
            );
        }
    }

    #[test]
    fn audiences() {
        let wanted = ["orders".to_string(), "billing".to_string()];
        type Case<'a> = (Value, Option<&'a [String]>, Result<(), JwtError>);
        let cases: Vec<Case> = vec![
            (json!({"aud": "orders"}), Some(&wanted), Ok(())),
            (json!({"aud": ["x", "billing"]}), Some(&wanted), Ok(())),
            (
                json!({"aud": "Orders"}),
                Some(&wanted),
                Err(JwtError::WrongAudience),
            ),
            (
                json!({"aud": []}),
                Some(&wanted),
                Err(JwtError::WrongAudience),
            ),
            (json!({}), Some(&wanted), Err(JwtError::WrongAudience)),
            (
                json!({"aud": ["orders", 1]}),
                Some(&wanted),
                Err(JwtError::BadClaim("aud has a member that is not a string")),
            ),
            (
                json!({"aud": 1}),
                Some(&wanted),
                Err(JwtError::BadClaim("aud is not a string or an array")),
            ),
            (json!({}), None, Ok(())),
            (json!({"aud": "anything"}), None, Ok(())),
        ];
        for (claims, aud, want) in cases {
            assert_eq!(check_audience(&map(claims.clone()), aud), want, "{claims}");
        }
    }

    #[test]
    fn issuer_is_a_string() {
        assert_eq!(issuer(&map(json!({"iss": "i"}))), Ok("i"));
        assert_eq!(issuer(&map(json!({}))), Err(JwtError::UnknownIssuer));
        assert_eq!(
            issuer(&map(json!({"iss": 1}))),
            Err(JwtError::BadClaim("iss is not a string"))
        );
    }
}
