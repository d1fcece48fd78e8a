//! The configuration error: the JSON path of the field at fault and why, never the value.

use serde_json::error::Category;
use std::fmt;

/// A configuration that cannot be used, with the JSON path of the field at fault and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub field: String,
    pub reason: String,
}

impl ConfigError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// A JSON or type error from serde, located by path and by line and column. The reason never
    /// quotes a configured value: serde's data errors do (`invalid type: string "s3cret", expected
    /// a map`), and a value in the wrong place may be a secret (`addHeaders` carries API keys).
    pub(crate) fn from_serde(err: serde_path_to_error::Error<serde_json::Error>) -> Self {
        let path = err.path().to_string();
        let inner = err.inner();
        let field = if path == "." || path == "?" || path.is_empty() {
            "(config)".to_string()
        } else {
            path
        };
        ConfigError {
            field,
            reason: from_json(inner),
        }
    }
}

/// serde_json's error, its data errors rewritten by `without_values`; the position kept.
pub(crate) fn from_json(err: &serde_json::Error) -> String {
    let (line, column) = (err.line(), err.column());
    let full = err.to_string();
    let position = format!(" at line {line} column {column}");
    let message = full.strip_suffix(&position).unwrap_or(&full);
    let message = match err.classify() {
        // serde_json's syntax and EOF messages are fixed texts ("expected value", "trailing
        // characters"); only data errors carry pieces of the input.
        Category::Data => without_values(message),
        Category::Syntax | Category::Eof | Category::Io => message.to_string(),
    };
    if line == 0 {
        message
    } else {
        format!("{message}{position}")
    }
}

/// What serde's `Unexpected` says before any quoted value; anything else is left out.
const KINDS: &[&str] = &[
    "boolean",
    "integer",
    "floating point",
    "character",
    "string",
    "byte array",
    "null",
    "unit value",
    "Option value",
    "sequence",
    "map",
    "enum",
];

/// A serde data error without the value that caused it. serde words these messages as
/// `<what>: <unexpected>, expected <expected>`, where only `<expected>` comes from our own types; a
/// value can itself contain ", expected ", so the last one is the separator. Names (unknown,
/// missing or duplicate fields) and lengths are kept: they are not values. An unrecognised message
/// becomes a generic one rather than risk an echo.
fn without_values(message: &str) -> String {
    let expected = message.rsplit_once(", expected ");
    let kept = [
        "unknown field `",
        "missing field `",
        "duplicate field `",
        "invalid length ",
    ];
    if kept.iter().any(|p| message.starts_with(p)) {
        return message.to_string();
    }
    for (prefix, what) in [
        ("invalid type: ", "invalid type"),
        ("invalid value: ", "invalid value"),
        ("unknown variant ", "unknown variant"),
    ] {
        let Some((head, expected)) = expected.filter(|_| message.starts_with(prefix)) else {
            continue;
        };
        // The kind of value found ("string", "integer"), never the value: cut at its quote.
        let found = head
            .get(prefix.len()..)
            .map(|f| f.split(['"', '`']).next().unwrap_or("").trim())
            .filter(|kind| KINDS.contains(kind) && what != "unknown variant");
        return match found {
            Some(kind) => format!("{what}: expected {expected}, found {kind}"),
            None => format!("{what}: expected {expected}"),
        };
    }
    "invalid value for this field".to_string()
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use crate::Config;

    /// A config with `auth` spliced into `authService` and `top` at the top level.
    fn text(auth: &str, top: &str) -> String {
        format!(r#"{{"authService": {{"cluster": "c", "authority": "a"{auth}}}{top}}}"#)
    }

    #[test]
    fn serde_errors_name_field_type_and_position_but_never_the_value() {
        // (config text, field, reason must contain); the secret is always "s3cret" or 987654321.
        let cases: &[(String, &str, &str)] = &[
            (
                text(r#", "addHeaders": "s3cret""#, ""),
                "authService.addHeaders",
                "invalid type: expected a map, found string at line 1 column",
            ),
            (
                text(r#", "addHeaders": {"x-api-key": 987654321}"#, ""),
                "authService.addHeaders.x-api-key",
                "invalid type: expected a string, found integer at line 1",
            ),
            (
                text(r#", "addHeaders": {"x-api-key": -987654321.5}"#, ""),
                "authService.addHeaders.x-api-key",
                "found floating point",
            ),
            (
                text(r#", "addHeaders": {"x-api-key": ["s3cret"]}"#, ""),
                "authService.addHeaders.x-api-key",
                "found sequence",
            ),
            (
                text(r#", "addHeaders": {"x-api-key": {"s3cret": 1}}"#, ""),
                "authService.addHeaders.x-api-key",
                "found map",
            ),
            (
                text(r#", "cluster": "s3cret""#, ""),
                "authService",
                "duplicate field `cluster`",
            ),
            (
                text(r#", "timeoutMs": 987654321987654321"#, ""),
                "authService.timeoutMs",
                "invalid value: expected u32, found integer at line 1",
            ),
            (
                text(r#", "timeoutMs": "s3cret""#, ""),
                "authService.timeoutMs",
                "invalid type: expected u32, found string",
            ),
            (
                text("", r#", "onError": {"mode": "s3cret"}"#),
                "onError.mode",
                "unknown variant: expected `deny` or `allow` at line 1",
            ),
            (
                // A value that imitates serde's own separator.
                text("", r#", "onError": {"mode": "s3cret, expected x"}"#),
                "onError.mode",
                "unknown variant: expected `deny` or `allow`",
            ),
            (
                text("", r#", "identityHeaders": "s3cret""#),
                "identityHeaders",
                "invalid type: expected a sequence, found string",
            ),
            (
                text("", r#", "bypass": [{"method": true}]"#),
                "bypass[0].method",
                "invalid type: expected a string, found boolean",
            ),
            (
                text(r#", "addHeaders": {"x-api-key": "s3cret"#, ""),
                "authService.addHeaders.x-api-key",
                "EOF while parsing a string at line 1",
            ),
            (
                text(r#", "addHeaders": {"x-api-key": s3cret}"#, ""),
                "authService.addHeaders.x-api-key",
                "expected value at line 1",
            ),
            (
                text(r#", "addHeaders": {"x-api-key": "s3\qcret"}"#, ""),
                "authService.addHeaders.x-api-key",
                "invalid escape at line 1",
            ),
            (
                text(", \"addHeaders\": {\"x-api-key\": \"s3cret\n\"}", ""),
                "authService.addHeaders.x-api-key",
                "control character",
            ),
            (
                text("", "") + " s3cret",
                "(config)",
                "trailing characters at line 1",
            ),
        ];
        for (config, field, reason) in cases {
            let err = Config::parse(config.as_bytes()).unwrap_err();
            let shown = err.to_string();
            assert_eq!(&err.field, field, "{config}: {shown}");
            assert!(err.reason.contains(reason), "{config}: {shown}");
            for secret in ["s3cret", "987654321"] {
                assert!(!shown.contains(secret), "{config}: {shown}");
            }
        }
    }

    #[test]
    fn debug_of_a_config_hides_add_headers_values() {
        let c = Config::parse(text(r#", "addHeaders": {"x-api-key": "s3cret"}"#, "").as_bytes())
            .unwrap();
        let shown = format!("{c:?}");
        assert!(shown.contains("x-api-key"), "{shown}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn unrecognised_data_errors_say_nothing_of_the_value() {
        assert_eq!(
            super::without_values("something new: \"s3cret\""),
            "invalid value for this field"
        );
        assert_eq!(
            super::without_values("invalid type: Other s3cret, expected a string"),
            "invalid type: expected a string"
        );
    }
}
