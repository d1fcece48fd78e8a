//! The example service's rules, pure: a callout's head in, an answer out.
//!
//! No credential: 302 to `/login?rd=<original path>` for browsers (`accept` has `text/html`), else
//! 401 with a Bearer challenge. A token not in the tokens file that is a JWT verified by the keys
//! this service serves (see `jwt_subject`), when JWTs are accepted: its `sub` as `x-user-id`.
//! Unknown token: 401 `invalid_token`. `/admin` without the `admin` role: 403. Otherwise 200 with
//! the token's identity headers.

use super::jwt_subject;
use super::tokens::Tokens;

/// Header on every answer that no filter config lists, so tests can check it is never passed on.
pub const REASON_HEADER: &str = "x-example-auth-reason";

/// The service's answer before it becomes an HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    fn new(status: u16, reason: &str, body: &str) -> Self {
        Answer {
            status,
            headers: vec![(REASON_HEADER.into(), reason.into())],
            body: body.into(),
        }
    }

    fn with(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// What the rules read from a callout.
#[derive(Debug, Clone, Copy, Default)]
pub struct CalloutHead<'a> {
    /// The callout's `:path`: the filter's `pathPrefix` + the original path and query.
    pub path: &'a str,
    pub authorization: Option<&'a str>,
    pub cookie: Option<&'a str>,
    pub accept: Option<&'a str>,
}

/// Applies the rules. `prefix` is the filter's `pathPrefix` (stripped to find the original path);
/// `jwks`: the keys a JWT must be signed by for its `sub` to be an identity (`None`: no JWT is).
pub fn decide(tokens: &Tokens, prefix: &str, head: &CalloutHead<'_>, jwks: Option<&str>) -> Answer {
    let original = original_path(prefix, head.path);
    let Some(token) = credential(head.authorization, head.cookie) else {
        let browser = head
            .accept
            .is_some_and(|a| a.to_ascii_lowercase().contains("text/html"));
        return if browser {
            let location = format!("/login?rd={}", percent_encode(&original));
            Answer::new(302, "no-credential", "").with("location", &location)
        } else {
            Answer::new(401, "no-credential", "unauthenticated\n")
                .with("www-authenticate", "Bearer realm=\"mesh-authz-example\"")
                .with("content-type", "text/plain")
        };
    };
    let identity = tokens
        .identity(token)
        .or_else(|| jwks.and_then(|keys| jwt_subject::identity(token, keys)));
    let Some(identity) = identity else {
        return Answer::new(401, "unknown-token", "invalid token\n")
            .with("www-authenticate", "Bearer error=\"invalid_token\"")
            .with("content-type", "text/plain");
    };
    let is_admin = identity
        .get("x-user-roles")
        .is_some_and(|roles| roles.split([',', ' ']).any(|r| r.trim() == "admin"));
    if under_admin(&original) && !is_admin {
        return Answer::new(403, "not-admin", "forbidden\n").with("content-type", "text/plain");
    }
    let mut answer = Answer::new(200, "ok", "");
    for (name, value) in identity.iter() {
        answer = answer.with(name, value);
    }
    answer
}

/// The request path the filter was asked about: the callout path without `prefix`.
pub fn original_path(prefix: &str, path: &str) -> String {
    let rest = path.strip_prefix(prefix).unwrap_or(path);
    if rest.starts_with('/') {
        rest.to_string()
    } else {
        format!("/{rest}")
    }
}

/// A bearer token (the scheme in any case, then any run of spaces or tabs, as RFC 9110 allows),
/// else the `session` cookie.
fn credential<'a>(authorization: Option<&'a str>, cookie: Option<&'a str>) -> Option<&'a str> {
    if let Some(auth) = authorization {
        if let Some((scheme, token)) = auth.trim().split_once([' ', '\t']) {
            let token = token.trim_matches([' ', '\t']);
            if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() {
                return Some(token);
            }
        }
    }
    cookie?
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == "session")
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty())
}

fn under_admin(original: &str) -> bool {
    let path = original.split(['?', '#']).next().unwrap_or(original);
    path == "/admin" || path.starts_with("/admin/")
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head<'a>(
        path: &'a str,
        auth: Option<&'a str>,
        cookie: Option<&'a str>,
        accept: Option<&'a str>,
    ) -> CalloutHead<'a> {
        CalloutHead {
            path,
            authorization: auth,
            cookie,
            accept,
        }
    }

    fn header<'a>(a: &'a Answer, name: &str) -> Option<&'a str> {
        a.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn rules() {
        let t = Tokens::example();
        let cases: &[(CalloutHead<'_>, u16)] = &[
            (
                head("/check/x", Some("Bearer alice-token"), None, None),
                200,
            ),
            (head("/check/x", Some("bearer bob-token"), None, None), 200),
            (
                head("/check/x", None, Some("a=1; session=bob-token"), None),
                200,
            ),
            (head("/check/x", Some("Basic Zm9v"), None, None), 401),
            (head("/check/x", Some("Bearer nope"), None, None), 401),
            (head("/check/x", None, None, Some("text/html,*/*")), 302),
            (
                head("/check/admin", Some("Bearer bob-token"), None, None),
                403,
            ),
            (
                head(
                    "/check/admin/users?x=1",
                    Some("Bearer bob-token"),
                    None,
                    None,
                ),
                403,
            ),
            (
                head("/check/administrator", Some("Bearer bob-token"), None, None),
                200,
            ),
            (
                head("/check/admin", Some("Bearer alice-token"), None, None),
                200,
            ),
        ];
        for (h, status) in cases {
            assert_eq!(decide(&t, "/check", h, None).status, *status, "{h:?}");
        }
    }

    #[test]
    fn allow_carries_identity() {
        let a = decide(
            &Tokens::example(),
            "/check",
            &head("/check/", Some("Bearer alice-token"), None, None),
            None,
        );
        assert_eq!(header(&a, "x-user-id"), Some("alice"));
        assert_eq!(header(&a, "x-tenant-id"), Some("acme"));
    }

    #[test]
    fn challenges_and_redirects() {
        let t = Tokens::example();
        let a = decide(&t, "/check", &head("/check/x", None, None, None), None);
        assert_eq!(
            header(&a, "www-authenticate"),
            Some("Bearer realm=\"mesh-authz-example\"")
        );
        let a = decide(
            &t,
            "/check",
            &head("/check/x", Some("Bearer nope"), None, None),
            None,
        );
        assert_eq!(
            header(&a, "www-authenticate"),
            Some("Bearer error=\"invalid_token\"")
        );
        let a = decide(
            &t,
            "/check",
            &head("/check/app/page?a=b c", None, None, Some("text/html")),
            None,
        );
        assert_eq!(
            header(&a, "location"),
            Some("/login?rd=/app/page%3Fa%3Db%20c")
        );
    }

    #[test]
    fn a_jwt_sub_is_the_identity_only_when_verified() {
        use crate::jwt::{Claims, Issuer, KeyKind};
        let mut i = Issuer::new("https://id.example.com");
        i.add_key(KeyKind::Ed25519, "ed-1").unwrap();
        let jwks = i.jwks();
        let t = Tokens::example();
        let jwt = i.token(&Claims::new().sub("jwt-user").exp_in(600)).unwrap();
        for spelling in ["Bearer {}", "bearer  {}", "BEARER\t{}", " Bearer {} "] {
            let bearer = spelling.replace("{}", &jwt);
            let h = head("/check/x", Some(&bearer), None, None);
            let a = decide(&t, "/check", &h, Some(&jwks));
            assert_eq!(a.status, 200, "{spelling}");
            assert_eq!(header(&a, "x-user-id"), Some("jwt-user"), "{spelling}");
            assert_eq!(header(&a, "x-user-roles"), None);
        }
        let bearer = format!("Bearer {jwt}");
        let h = head("/check/x", Some(&bearer), None, None);
        // No roles: the admin rule still applies.
        let admin = head("/check/admin", Some(&bearer), None, None);
        assert_eq!(decide(&t, "/check", &admin, Some(&jwks)).status, 403);
        // Forged, or no keys to check it with: an unknown token.
        let forged = format!(
            "Bearer {}",
            i.alg_none(&Claims::new().sub("mallory").exp_in(600))
                .unwrap()
        );
        let unsigned = head("/check/x", Some(&forged), None, None);
        for (what, h, keys) in [
            ("alg none", &unsigned, Some(jwks.as_str())),
            ("no keys", &h, None),
            ("an empty set", &h, Some(r#"{"keys":[]}"#)),
        ] {
            let a = decide(&t, "/check", h, keys);
            assert_eq!(
                (a.status, header(&a, REASON_HEADER)),
                (401, Some("unknown-token")),
                "{what}"
            );
        }
        // The tokens file wins over the JWT reading.
        let mut t = t;
        t.insert(&jwt, &[("x-user-id", "from-file")]);
        let a = decide(&t, "/check", &h, Some(&jwks));
        assert_eq!(header(&a, "x-user-id"), Some("from-file"));
    }

    #[test]
    fn original_path_strips_the_prefix() {
        assert_eq!(original_path("/check", "/check/a?b"), "/a?b");
        assert_eq!(original_path("/check", "/check"), "/");
        assert_eq!(original_path("/check", "/other"), "/other");
        assert_eq!(original_path("", "/a"), "/a");
    }
}
