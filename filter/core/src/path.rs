//! The request path as the most lenient upstream reads it, and the one place path prefixes are
//! checked and matched.
//!
//! Upstreams disagree on what a path means: most resolve `.` and `..`, many percent-decode first
//! (`%2e%2e`), some split on `\` or on a decoded `%2f`, Tomcat drops `;parameters` (`..;`). A bypass
//! rule or a callout that judges the raw bytes can be told `/healthz/..` while the upstream serves
//! what lies above it. So a path that any of those readings resolves to a dot segment is refused
//! (400, no callout, never upstream), and a path whose separators are escaped (`%2f`, `%5c`, `\`)
//! is allowed but never under a bypass prefix: its segments are not the ones the upstream sees.
//!
//! Decoding: percent-escapes are decoded, and decoded again while the result still holds a `%`
//! (at most `MAX_DECODINGS` rounds). One round is what a correct upstream does; the further rounds
//! catch stacks that decode twice (`%252e%252e`), at the cost of refusing a path whose segment is
//! literally `%2e%2e`, which no real API uses.

use crate::error::ConfigError;
use std::borrow::Cow;

/// Rounds of percent-decoding in the dot-segment check (see the module doc).
const MAX_DECODINGS: usize = 3;

/// A path that some upstream would resolve to its parent or itself: refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DotSegment;

/// The path of a request that passed `check`: what bypass prefixes are matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestPath<'a> {
    /// The path without query (and without a fragment a client should not have sent).
    path: &'a str,
    /// `%2f`, `%5c` or a raw `\`: the upstream may see other segments than `/` shows.
    escaped_separator: bool,
}

impl<'a> RequestPath<'a> {
    /// Whether `prefix` (checked by `check_prefix`, without its trailing '/') covers this path:
    /// whole segments only (`/healthz` covers `/healthz/live`, not `/healthzx` nor `/healthz;x`),
    /// and never a path with an escaped separator.
    pub fn is_under(&self, prefix: &str) -> bool {
        if self.escaped_separator {
            return false;
        }
        match self.path.strip_prefix(prefix) {
            Some(rest) => rest.is_empty() || rest.starts_with('/'),
            None => false,
        }
    }
}

/// Reads `target` (a `:path`, query included) as the most lenient upstream would; `Err` when any
/// reading of it has a `.` or `..` segment.
pub fn check(target: &str) -> Result<RequestPath<'_>, DotSegment> {
    let before_query = target.split('?').next().unwrap_or(target);
    // Most paths have no escape at all: read them as they are, without a copy.
    let mut bytes = Cow::Borrowed(before_query.as_bytes());
    for _ in 0..MAX_DECODINGS {
        if !bytes.contains(&b'%') {
            if has_dot_segment(&bytes) {
                return Err(DotSegment);
            }
            break;
        }
        let decoded = percent_decode(&bytes);
        if has_dot_segment(&decoded) {
            return Err(DotSegment);
        }
        if decoded == *bytes {
            break;
        }
        bytes = Cow::Owned(decoded);
    }
    let path = before_query.split('#').next().unwrap_or(before_query);
    Ok(RequestPath {
        path,
        escaped_separator: has_escaped_separator(before_query),
    })
}

/// Splits on `/` and `\`; a piece ends at its first `;` (parameters) or NUL (where C-based servers
/// stop reading).
fn has_dot_segment(path: &[u8]) -> bool {
    path.split(|b| *b == b'/' || *b == b'\\').any(|piece| {
        let end = piece
            .iter()
            .position(|b| *b == b';' || *b == 0)
            .unwrap_or(piece.len());
        matches!(piece.get(..end), Some(b".") | Some(b".."))
    })
}

fn has_escaped_separator(path: &str) -> bool {
    let b = path.as_bytes();
    b.contains(&b'\\')
        || b.windows(3).any(|w| match w {
            [b'%', b'2', x] => x.eq_ignore_ascii_case(&b'f'),
            [b'%', b'5', x] => x.eq_ignore_ascii_case(&b'c'),
            _ => false,
        })
}

/// One round of percent-decoding; a `%` not followed by two hex digits stays as it is (as lenient
/// servers leave it).
fn percent_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        let escaped = match (b, input.get(i + 1), input.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) => hex(h).zip(hex(l)).map(|(h, l)| h << 4 | l),
            _ => None,
        };
        match escaped {
            Some(v) => {
                out.push(v);
                i += 3;
            }
            None => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Checks a configured path prefix (`field` names it in the error): it starts with '/', is plain
/// printable ASCII without query, fragment, escapes, parameters or backslashes, and has no `.` or
/// `..` segment. A prefix with any of those could never match a request (see `is_under`) or, as
/// the auth service's prefix, would leave the place it names.
pub fn check_prefix(field: &str, prefix: &str) -> Result<(), ConfigError> {
    if !prefix.starts_with('/') {
        return Err(ConfigError::new(field, "must start with '/'"));
    }
    if prefix
        .bytes()
        .any(|b| !b.is_ascii_graphic() || matches!(b, b'?' | b'#' | b'%' | b';' | b'\\'))
    {
        return Err(ConfigError::new(
            field,
            "must be a plain path: no spaces, '?', '#', '%', ';' or '\\'",
        ));
    }
    if has_dot_segment(prefix.as_bytes()) {
        return Err(ConfigError::new(
            field,
            "must not have a '.' or '..' segment",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments_are_refused_in_every_reading() {
        let refused = [
            "/..",
            "/.",
            "/../metrics",
            "/healthz/../admin/users",
            "/healthz/./x",
            "/healthz/..",
            "/healthz/..?x=1",
            "/healthz/%2e%2e/admin",
            "/healthz/%2E%2E/admin",
            "/healthz/%2e%2E/admin",
            "/healthz/.%2e/admin",
            "/healthz/%2e./admin",
            "/healthz/%2e/admin",
            "/healthz/..;/admin",
            "/healthz/..;jsessionid=1/admin",
            "/healthz/.;x/admin",
            "/healthz/..%3b/admin",
            "/healthz/..%2fadmin",
            "/healthz/..%2Fadmin",
            "/healthz/..%5cadmin",
            "/healthz/..%5Cadmin",
            "/healthz\\..\\admin",
            "/healthz/..\\admin",
            "/healthz/..%00/admin",
            "/healthz/%252e%252e/admin",
            "/healthz/%25252e%25252e/admin",
            "/healthz%252f..%252fadmin",
            "/healthz#/../admin",
            "/healthz//../admin",
            "/a/b/c/d/..",
        ];
        for p in refused {
            assert_eq!(check(p), Err(DotSegment), "{p}");
        }
    }

    #[test]
    fn ordinary_paths_pass() {
        let allowed = [
            "/",
            "/healthz",
            "/api/items?page=2",
            "/api/items?next=/../x",
            "/files/a.txt",
            "/files/.hidden",
            "/files/..hidden",
            "/files/...",
            "/files/.../x",
            "/v1.2/x",
            "/api/v4/projects/group%2Fproject",
            "/a//b",
            "//",
            "/a;b/c",
            "/100%25",
            "/bad%zz/escape",
            "/trailing%2",
            "*",
            "",
        ];
        for p in allowed {
            assert!(check(p).is_ok(), "{p}");
        }
    }

    #[test]
    fn bypass_prefixes_match_whole_plain_segments() {
        let cases: &[(&str, &str, bool)] = &[
            ("/healthz", "/healthz", true),
            ("/healthz", "/healthz/live", true),
            ("/healthz", "/healthz?full=1", true),
            ("/healthz", "/healthz/", true),
            ("/healthz", "/healthz#frag", true),
            ("/healthz", "/healthz//x", true),
            ("/healthz", "/healthz/live;v=1", true),
            ("/healthz", "/healthzadmin", false),
            ("/healthz", "/api/healthz", false),
            ("/healthz", "/", false),
            ("/healthz", "/healthz;x", false),
            ("/healthz", "/healthz;/x", false),
            ("/healthz", "/healthz%2fx", false),
            ("/healthz", "/healthz/x%2Fy", false),
            ("/healthz", "/healthz%5cx", false),
            ("/healthz", "/healthz/a%5Cb", false),
            ("/healthz", "/healthz\\x", false),
            ("/healthz", "/health%7a", false),
            ("", "/anything", true),
            ("", "/a%2fb", false),
            ("/public/assets", "/public/assets/app.js", true),
            ("/public/assets", "/public/assetsx", false),
            ("/public/assets", "/public;x/assets/app.js", false),
        ];
        for (prefix, path, want) in cases {
            let p = check(path).unwrap();
            assert_eq!(p.is_under(prefix), *want, "{prefix} vs {path}");
        }
    }

    #[test]
    fn decoding_is_bounded_and_total() {
        assert_eq!(percent_decode(b"%2e%2E%zz%2"), b"..%zz%2");
        assert_eq!(percent_decode(b"%252e"), b"%2e");
        assert_eq!(percent_decode(b"%ff%00"), [0xff, 0]);
        // Four rounds deep is past MAX_DECODINGS: taken literally, as every real server does.
        assert!(check("/x/%2525252e%2525252e/y").is_ok());
    }

    #[test]
    fn prefixes_are_checked() {
        for ok in ["/", "/healthz", "/healthz/", "/a.b/c", "/check"] {
            assert!(check_prefix("f", ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "healthz", "/a b", "/a?b", "/a#b", "/a%2fb", "/a;b", "/a\\b", "/a/../b", "/.",
            "/a/..",
        ] {
            let e = check_prefix("bypass[0].pathPrefix", bad).unwrap_err();
            assert!(e.to_string().contains("bypass[0].pathPrefix"), "{bad}: {e}");
        }
    }
}
