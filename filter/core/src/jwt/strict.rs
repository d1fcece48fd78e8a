//! Strict decoding of what a token or a JWKS carries: base64url without padding and with no
//! stray bits (so one text has one meaning, and a changed character never decodes to the same
//! bytes), and JSON with no duplicate member names at any depth (a second `iss` or `alg` that one
//! parser reads and another ignores is a classic way to slip a claim past a check).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Number, Value};
use std::fmt;

/// base64url (RFC 4648 section 5) without `=`; `None` on anything else.
pub fn b64url(text: &[u8]) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

#[cfg(test)]
pub fn b64url_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A JSON object, its members unique at every depth; `None` for any other text. serde_json's own
/// nesting limit (128) bounds the recursion.
pub fn object(bytes: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice::<Strict>(bytes) {
        Ok(Strict(Value::Object(map))) => Some(map),
        _ => None,
    }
}

struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("not a finite number"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let Strict(v) = map.next_value()?;
            if out.insert(key, v).is_some() {
                return Err(de::Error::custom("duplicate member"));
            }
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_with_unique_members_only() {
        let cases: &[(&str, bool)] = &[
            (
                r#"{"a": 1, "b": [1, {"c": null}], "d": -1.5e3, "e": true}"#,
                true,
            ),
            (r#"{}"#, true),
            (r#"{"a": 1, "a": 1}"#, false),
            (r#"{"a": {"b": 1, "b": 2}}"#, false),
            (r#"{"a": [{"b": 1, "b": 2}]}"#, false),
            (r#"[1]"#, false),
            (r#""s""#, false),
            (r#"{"a": 1} x"#, false),
            (r#"{"a": 1"#, false),
            ("", false),
        ];
        for (text, ok) in cases {
            assert_eq!(object(text.as_bytes()).is_some(), *ok, "{text}");
        }
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert!(object(format!(r#"{{"a": {deep}}}"#).as_bytes()).is_none());
    }

    #[test]
    fn base64url_is_canonical() {
        let cases: &[(&str, Option<&[u8]>)] = &[
            ("", Some(b"")),
            ("YQ", Some(b"a")),
            ("_-8", Some(&[0xff, 0xef])),
            ("YQ==", None),
            ("YR", None), // stray bits: another spelling of "a"
            ("Y", None),
            ("Y+Q", None),
            ("Y Q", None),
        ];
        for (text, want) in cases {
            assert_eq!(b64url(text.as_bytes()).as_deref(), *want, "{text}");
        }
    }
}
