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

    /// A JSON or type error from serde, located by path and by line and column.
    pub(crate) fn from_serde(err: serde_path_to_error::Error<serde_json::Error>) -> Self {
        let path = err.path().to_string();
        let inner = err.inner();
        let field = if path == "." || path == "?" || path.is_empty() {
            "(config)".to_string()
        } else {
            path
        };
        // serde_json's message already ends with "at line L column C"; keep it, it is the location.
        ConfigError {
            field,
            reason: inner.to_string(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

impl std::error::Error for ConfigError {}
