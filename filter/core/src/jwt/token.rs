//! The compact form (RFC 7515 section 7.1) taken apart, before anything is trusted: the protected
//! header and the claims decoded strictly, the signed part and the signature kept for the check.

use super::alg::{self, Alg};
use super::error::JwtError;
use super::strict;
use serde_json::{Map, Value};

/// The most bytes a token may have (after its prefix, such as `Bearer `).
pub const MAX_TOKEN_BYTES: usize = 8192;

/// Three dot-separated base64url parts, the first two non-empty: what a JWS looks like. A value of
/// another shape in a token's place is no token in gate mode (an API key, say).
pub fn looks_like_jwt(value: &[u8]) -> bool {
    let mut parts = value.split(|b| *b == b'.');
    let b64 = |p: &[u8]| {
        p.iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
    };
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(c), Some(s), None) => {
            !h.is_empty() && !c.is_empty() && b64(h) && b64(c) && b64(s)
        }
        _ => false,
    }
}

/// What an auth service could read as a JWT, wherever it sits in a value: two dots or more (a
/// compact JWS has two, a JWE four, and words a reader splits where this one does not keep
/// theirs), or `eyJ` (base64url of `{"`) starting a word, after anything that is not base64
/// (`"eyJ`, `token=eyJ`, a tab or a byte another reader takes for a space). A looser reading
/// than `looks_like_jwt`, on purpose: what is `jwt_like` and not `looks_like_jwt` is refused, never
/// passed on unchecked.
pub fn jwt_like(value: &[u8]) -> bool {
    let b64 = |b: u8| b.is_ascii_alphanumeric() || b"-_+/".contains(&b);
    let dots = value.iter().filter(|b| **b == b'.').count();
    let before = std::iter::once(None).chain(value.iter().copied().map(Some));
    dots >= 2
        || before
            .zip(value.windows(3))
            .any(|(prev, w)| w == b"eyJ" && !prev.is_some_and(b64))
}

#[derive(Debug)]
pub struct Parsed<'t> {
    pub alg: Alg,
    pub kid: Option<String>,
    pub claims: Map<String, Value>,
    /// `header.payload`, the bytes the signature covers.
    pub signed: &'t [u8],
    pub signature: Vec<u8>,
}

pub fn parse(token: &str) -> Result<Parsed<'_>, JwtError> {
    let bytes = token.as_bytes();
    if bytes.len() > MAX_TOKEN_BYTES {
        return Err(JwtError::TooLarge);
    }
    if !looks_like_jwt(bytes) {
        return Err(JwtError::Malformed("not three base64url parts"));
    }
    let mut parts = token.splitn(3, '.');
    let (Some(h), Some(c), Some(s)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(JwtError::Malformed("not three base64url parts"));
    };
    let header = strict::b64url(h.as_bytes())
        .and_then(|json| strict::object(&json))
        .ok_or(JwtError::Malformed("header is not base64url JSON"))?;
    let alg = match header.get("alg") {
        Some(Value::String(name)) if alg::refusal(name).is_none() => {
            Alg::from_name(name).ok_or(JwtError::AlgRefused)?
        }
        Some(Value::String(_)) => return Err(JwtError::AlgRefused),
        _ => return Err(JwtError::Malformed("header has no alg string")),
    };
    if header.contains_key("crit") {
        return Err(JwtError::CritHeader);
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => return Err(JwtError::Malformed("kid is not a string")),
    };
    let claims = strict::b64url(c.as_bytes())
        .and_then(|json| strict::object(&json))
        .ok_or(JwtError::Malformed("payload is not base64url JSON"))?;
    let signature =
        strict::b64url(s.as_bytes()).ok_or(JwtError::Malformed("signature is not base64url"))?;
    let signed = bytes
        .get(..h.len() + 1 + c.len())
        .ok_or(JwtError::Malformed("not three base64url parts"))?;
    Ok(Parsed {
        alg,
        kid,
        claims,
        signed,
        signature,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::strict::b64url_encode as enc;

    fn token(header: &str, claims: &str, sig: &str) -> String {
        format!(
            "{}.{}.{sig}",
            enc(header.as_bytes()),
            enc(claims.as_bytes())
        )
    }

    #[test]
    fn shape() {
        let cases: &[(&[u8], bool)] = &[
            (b"a.b.c", true),
            (b"a.b.", true),
            (b"a-_.B9.c", true),
            (b".b.c", false),
            (b"a..c", false),
            (b"a.b", false),
            (b"a.b.c.d", false),
            (b"a.b.c=", false),
            (b"a.b+.c", false),
            (b"opaque-api-key", false),
            (b"", false),
        ];
        for (v, want) in cases {
            assert_eq!(looks_like_jwt(v), *want, "{}", String::from_utf8_lossy(v));
        }
    }

    #[test]
    fn readable_as_a_jwt() {
        let cases: &[(&[u8], bool)] = &[
            (b"a.b.c", true),
            (b"a.b.", true),
            (b"..", true),
            (b"a+b.c=.d/", true),
            (b"Token \xff.a.b", true),
            (b"a.b.c.d.e", true),
            (b"eyJhbGciOiJub25lIn0", true),
            (b"eyJ", true),
            (b"\"eyJx", true),
            (b"token=eyJx", true),
            (b"Bearer\x0beyJx", true),
            (b"x\xc2\xa0eyJx", true),
            (b"Basic dXNlcjpwYXNz", false),
            (b"abc123", false),
            (b"a.b", false),
            (b"key-eyJ", false),
            (b"xeyJ", false),
            (b"eyj.x", false),
            (b"", false),
        ];
        for (v, want) in cases {
            assert_eq!(jwt_like(v), *want, "{}", String::from_utf8_lossy(v));
        }
        // Every compact JWS is readable as one.
        for v in [&b"a.b.c"[..], b"a-_.B9.c", b"a.b."] {
            assert!(looks_like_jwt(v) && jwt_like(v));
        }
    }

    #[test]
    fn refusals_before_any_key() {
        let claims = r#"{"iss":"i"}"#;
        let cases: &[(String, JwtError)] = &[
            (token(r#"{"alg":"none"}"#, claims, ""), JwtError::AlgRefused),
            (
                token(r#"{"alg":"HS256"}"#, claims, "c2ln"),
                JwtError::AlgRefused,
            ),
            (
                token(r#"{"alg":"rs256"}"#, claims, "c2ln"),
                JwtError::AlgRefused,
            ),
            (
                token(r#"{"alg":1}"#, claims, "c2ln"),
                JwtError::Malformed("header has no alg string"),
            ),
            (
                token(r#"{}"#, claims, "c2ln"),
                JwtError::Malformed("header has no alg string"),
            ),
            (
                token(r#"{"alg":"RS256","alg":"none"}"#, claims, "c2ln"),
                JwtError::Malformed("header is not base64url JSON"),
            ),
            (
                token(r#"{"alg":"RS256","crit":["b64"]}"#, claims, "c2ln"),
                JwtError::CritHeader,
            ),
            (
                token(r#"{"alg":"RS256","kid":7}"#, claims, "c2ln"),
                JwtError::Malformed("kid is not a string"),
            ),
            (
                token(r#"{"alg":"RS256"}"#, "[1]", "c2ln"),
                JwtError::Malformed("payload is not base64url JSON"),
            ),
            (
                token(r#"{"alg":"RS256"}"#, "{", "c2ln"),
                JwtError::Malformed("payload is not base64url JSON"),
            ),
            (
                token(r#"{"alg":"RS256"}"#, claims, "c2l"),
                JwtError::Malformed("signature is not base64url"),
            ),
            (
                "a.b.c".to_string(),
                JwtError::Malformed("header is not base64url JSON"),
            ),
            (
                "ab".to_string(),
                JwtError::Malformed("not three base64url parts"),
            ),
            ("a".repeat(MAX_TOKEN_BYTES + 1), JwtError::TooLarge),
        ];
        for (t, want) in cases {
            assert_eq!(parse(t).err(), Some(*want), "{t}");
        }
    }

    #[test]
    fn parts() {
        let t = token(
            r#"{"alg":"ES256","kid":"k1","typ":"JWT"}"#,
            r#"{"iss":"i"}"#,
            "c2ln",
        );
        let p = parse(&t).unwrap();
        assert_eq!((p.alg, p.kid.as_deref()), (Alg::Es256, Some("k1")));
        assert_eq!(p.signature, b"sig");
        assert_eq!(p.signed, t.rsplit_once('.').unwrap().0.as_bytes());
        assert_eq!(p.claims.get("iss"), Some(&Value::String("i".into())));
    }
}
