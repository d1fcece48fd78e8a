//! The harness's one error type: what failed and where to look.

use std::fmt;

#[derive(Debug)]
pub enum HarnessError {
    Io(String, std::io::Error),
    Config(String),
    Envoy(String),
    Missing(String),
}

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HarnessError::Io(what, e) => write!(f, "{what}: {e}"),
            HarnessError::Config(m) => write!(f, "config: {m}"),
            HarnessError::Envoy(m) => write!(f, "envoy: {m}"),
            HarnessError::Missing(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for HarnessError {}

/// Attaches what was being done to an `io::Error`.
pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> HarnessError {
    let what = what.into();
    move |e| HarnessError::Io(what, e)
}
