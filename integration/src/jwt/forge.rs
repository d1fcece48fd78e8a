//! Tokens at the byte level: any header, any payload, any signature, and a token taken apart, for
//! the attacks no honest signer produces.

use super::IssuerError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};

/// base64url without padding, as JWS uses.
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn b64url_decode(text: &str) -> Result<Vec<u8>, IssuerError> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|e| IssuerError(format!("not base64url: {e}")))
}

/// `b64(header).b64(payload).b64(signature)` with the members exactly as given.
pub fn forge(header: &Value, payload: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(payload.to_string().as_bytes()),
        b64url(signature)
    )
}

/// A compact token taken apart: header and payload as JSON, the signature as bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Parts {
    pub header: Value,
    pub payload: Value,
    pub signature: Vec<u8>,
}

/// Splits and decodes a compact token (exactly three parts, header and payload JSON).
pub fn parts(token: &str) -> Result<Parts, IssuerError> {
    let mut it = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return Err(IssuerError("a compact JWS has exactly three parts".into()));
    };
    let json = |part: &str, what: &str| -> Result<Value, IssuerError> {
        serde_json::from_slice(&b64url_decode(part)?)
            .map_err(|e| IssuerError(format!("{what} is not JSON: {e}")))
    };
    Ok(Parts {
        header: json(h, "header")?,
        payload: json(p, "payload")?,
        signature: b64url_decode(s)?,
    })
}

/// `token` with its payload changed by `edit` and its header and signature kept byte for byte:
/// a signature that no longer matches what it signs.
pub fn tamper(
    token: &str,
    edit: impl FnOnce(&mut Map<String, Value>),
) -> Result<String, IssuerError> {
    let mut it = token.splitn(3, '.');
    let (Some(header), Some(_), Some(signature)) = (it.next(), it.next(), it.next()) else {
        return Err(IssuerError("a compact JWS has three parts".into()));
    };
    let Value::Object(mut payload) = parts(token)?.payload else {
        return Err(IssuerError("the payload is not a JSON object".into()));
    };
    edit(&mut payload);
    let payload = b64url(Value::Object(payload).to_string().as_bytes());
    Ok(format!("{header}.{payload}.{signature}"))
}
