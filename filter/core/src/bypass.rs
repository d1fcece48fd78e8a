//! Bypass rules: requests that go on without a callout (health checks, CORS preflight).
//! A rule's fields must all match. Path prefixes match whole segments of the path without its query:
//! `/healthz` matches `/healthz` and `/healthz/live`, never `/healthzadmin`.

use crate::config::ConfigError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BypassRule {
    /// Without a trailing '/', so that "/" becomes "" and matches every path.
    path_prefix: Option<String>,
    method: Option<String>,
}

impl BypassRule {
    pub fn new(
        field: &str,
        path_prefix: Option<&str>,
        method: Option<&str>,
    ) -> Result<Self, ConfigError> {
        if path_prefix.is_none() && method.is_none() {
            return Err(ConfigError::new(
                field,
                "a bypass rule needs pathPrefix or method",
            ));
        }
        let path_prefix = match path_prefix {
            None => None,
            Some(p) if !p.starts_with('/') => {
                return Err(ConfigError::new(
                    format!("{field}.pathPrefix"),
                    "must start with '/'",
                ));
            }
            Some(p)
                if p.bytes()
                    .any(|b| !b.is_ascii_graphic() || b == b'?' || b == b'#') =>
            {
                return Err(ConfigError::new(
                    format!("{field}.pathPrefix"),
                    "must be a plain path: no spaces, '?' or '#'",
                ));
            }
            Some(p) => Some(p.trim_end_matches('/').to_string()),
        };
        let method = match method {
            None => None,
            Some(m) if m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphabetic()) => {
                return Err(ConfigError::new(
                    format!("{field}.method"),
                    format!("'{m}' is not an HTTP method"),
                ));
            }
            Some(m) => Some(m.to_ascii_uppercase()),
        };
        Ok(BypassRule {
            path_prefix,
            method,
        })
    }

    pub fn matches(&self, method: &str, path: &str) -> bool {
        let method_ok = self.method.as_deref().is_none_or(|m| m == method);
        method_ok
            && self
                .path_prefix
                .as_deref()
                .is_none_or(|p| segment_prefix(p, path))
    }
}

fn segment_prefix(prefix: &str, path: &str) -> bool {
    let path = path.split(['?', '#']).next().unwrap_or(path);
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(p: Option<&str>, m: Option<&str>) -> BypassRule {
        BypassRule::new("bypass[0]", p, m).unwrap()
    }

    #[test]
    fn path_prefixes_match_whole_segments() {
        let cases: &[(&str, &str, bool)] = &[
            ("/healthz", "/healthz", true),
            ("/healthz", "/healthz/live", true),
            ("/healthz", "/healthz?full=1", true),
            ("/healthz", "/healthz/", true),
            ("/healthz", "/healthzadmin", false),
            ("/healthz", "/api/healthz", false),
            ("/healthz", "/", false),
            ("/healthz/", "/healthz/live", true),
            ("/healthz/", "/healthz", true),
            ("/", "/anything", true),
            ("/public/assets", "/public/assets/app.js", true),
            ("/public/assets", "/public/assetsx", false),
            ("/healthz", "/healthz#frag", true),
        ];
        for (prefix, path, want) in cases {
            assert_eq!(
                rule(Some(prefix), None).matches("GET", path),
                *want,
                "{prefix} vs {path}"
            );
        }
    }

    #[test]
    fn all_fields_of_a_rule_must_match() {
        let r = rule(Some("/api"), Some("options"));
        assert!(r.matches("OPTIONS", "/api/x"));
        assert!(!r.matches("GET", "/api/x"));
        assert!(!r.matches("OPTIONS", "/other"));
        assert!(rule(None, Some("OPTIONS")).matches("OPTIONS", "/any"));
    }

    #[test]
    fn bad_rules_are_rejected() {
        assert!(BypassRule::new("b", None, None).is_err());
        assert!(BypassRule::new("b", Some("x"), None).is_err());
        assert!(BypassRule::new("b", Some("/a?b"), None).is_err());
        assert!(BypassRule::new("b", None, Some("GE T")).is_err());
    }
}
