//! Which header names a client could use to pass itself off under a configured identity header.
//!
//! Comparing exact names is not enough. Envoy lowercases names but passes `x_user_id` through by
//! default (`headers_with_underscores_action: ALLOW`), and CGI-style upstreams (WSGI, Rack, PHP) fold
//! `x_user_id`, `X-User-Id` and `x-user-id` into the same `HTTP_X_USER_ID`. So two names are the same
//! identity when they are equal once ASCII case is ignored and `_` is read as `-`.

/// `name` and `identity` name the same header for an upstream that folds case and `_`.
pub fn same_name(name: &str, identity: &str) -> bool {
    fn fold(b: u8) -> u8 {
        if b == b'_' {
            b'-'
        } else {
            b.to_ascii_lowercase()
        }
    }
    name.len() == identity.len()
        && name
            .bytes()
            .zip(identity.bytes())
            .all(|(a, b)| fold(a) == fold(b))
}

/// The distinct names among `names` that spell one of `identity`, in first-seen order: what the
/// adapter removes (removing a name removes all its values).
pub fn forged<'a>(names: impl IntoIterator<Item = &'a str>, identity: &[String]) -> Vec<&'a str> {
    let mut out: Vec<&'a str> = Vec::new();
    for name in names {
        if identity.iter().any(|id| same_name(name, id)) && !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_that_fold_to_the_same_name_match() {
        let cases: &[(&str, &str, bool)] = &[
            ("x-user-id", "x-user-id", true),
            ("x_user_id", "x-user-id", true),
            ("X_User_Id", "x-user-id", true),
            ("x-user_id", "x-user-id", true),
            ("X-USER-ID", "x-user-id", true),
            ("x-user-id", "x_user_id", true),
            ("x-user-ids", "x-user-id", false),
            ("x-user-i", "x-user-id", false),
            ("xuser-id", "x-user-id", false),
            ("x.user.id", "x-user-id", false),
            ("x--user-id", "x-user-id", false),
            ("", "x-user-id", false),
            ("x-tenant-id", "x-user-id", false),
        ];
        for (name, identity, want) in cases {
            assert_eq!(same_name(name, identity), *want, "{name} vs {identity}");
        }
    }

    #[test]
    fn forged_lists_each_actual_name_once() {
        let identity = vec!["x-user-id".to_string(), "x-tenant-id".to_string()];
        let names = [
            ":path",
            "x_user_id",
            "authorization",
            "x-user-id",
            "x_user_id",
            "x-tenant_id",
            "x-user-roles",
        ];
        assert_eq!(
            forged(names, &identity),
            ["x_user_id", "x-user-id", "x-tenant_id"]
        );
        assert!(forged([":path", "cookie"], &identity).is_empty());
        assert!(forged(["x-user-id"], &[]).is_empty());
    }

    #[test]
    fn two_spellings_of_one_identity_or_a_forwarded_one_load_with_a_warning() {
        // Refused for a while after the first release, which loaded them: an upgrade must not
        // refuse a configuration that loaded before, and neither weakens the stripping.
        let cases: &[(&str, &str, &[&str])] = &[
            (
                r#""identityHeaders": ["x-user-id", "X_User_Id"]"#,
                "identityHeaders[1]: 'x_user_id' is another spelling",
                &["x-user-id"],
            ),
            (
                r#""identityHeaders": ["Authorization"]"#,
                "identityHeaders[0]: 'authorization' is also forwarded",
                &["authorization"],
            ),
            (
                r#""identityHeaders": ["x_user_id"], "authService": {"cluster": "c", "authority": "a", "forwardHeaders": ["x-user-id"]}"#,
                "identityHeaders[0]: 'x_user_id' is also forwarded",
                &["x_user_id"],
            ),
        ];
        for (fields, warning, kept) in cases {
            let text = if fields.contains("authService") {
                format!("{{{fields}}}")
            } else {
                format!(r#"{{"authService": {{"cluster": "c", "authority": "a"}}, {fields}}}"#)
            };
            let config = crate::Config::parse(text.as_bytes()).unwrap();
            assert_eq!(config.identity_headers, *kept, "{text}");
            let warnings = config.warnings();
            assert!(
                warnings.iter().any(|w| w.starts_with(warning)),
                "{text}: {warnings:?}"
            );
        }
    }
}
