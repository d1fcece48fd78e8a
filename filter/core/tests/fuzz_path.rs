//! Fuzzing the path checks: any `:path` is read without panicking; every dot-segment attack, in
//! any mix of encodings, parameters and separators, is refused; and a path that passes and falls
//! under a bypass prefix is, for every lenient reading an upstream may make, inside that prefix.
//!
//! The oracle below is written independently of `path.rs`: it decodes up to three times, splits on
//! `/` and `\` and cuts each piece at `;` or NUL, as Tomcat, CGI stacks and double-decoding
//! proxies read a path.

#![cfg(test)]

use mesh_authz_core::path::check;
use proptest::collection::vec;
use proptest::prelude::*;

const PREFIX: &str = "/healthz";

/// Every reading of `path` (before `?`): the raw one and up to three rounds of decoding.
fn readings(path: &str) -> Vec<Vec<u8>> {
    let mut out = vec![path.split('?').next().unwrap_or("").as_bytes().to_vec()];
    for _ in 0..3 {
        let last = out.last().cloned().unwrap_or_default();
        let mut next = Vec::new();
        let mut i = 0;
        while i < last.len() {
            let hex = last
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match (last[i], hex) {
                (b'%', Some(b)) => {
                    next.push(b);
                    i += 3;
                }
                (b, _) => {
                    next.push(b);
                    i += 1;
                }
            }
        }
        out.push(next);
    }
    out
}

fn pieces(reading: &[u8]) -> Vec<Vec<u8>> {
    reading
        .split(|b| *b == b'/' || *b == b'\\')
        .map(|p| {
            p.split(|b| *b == b';' || *b == 0)
                .next()
                .unwrap_or_default()
                .to_vec()
        })
        .collect()
}

fn dot(piece: &[u8]) -> bool {
    piece == b"." || piece == b".."
}

/// A `.` or `..` spelt in one of the ways upstreams decode.
fn dots() -> impl Strategy<Value = String> {
    let one = prop::sample::select(vec![".", "%2e", "%2E", "%252e", "%252E"]);
    (
        vec(one, 1..=2),
        prop::sample::select(vec!["", ";", ";x=1", "%3b", "%00"]),
    )
        .prop_map(|(d, param)| d.concat() + param)
}

fn separator() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["/", "\\", "%2f", "%2F", "%5c", "%5C", "%252f", "//"])
}

fn segment() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.~-]{0,8}|%[0-9A-Fa-f]{2}|;[a-z=0-9]{0,4}"
}

proptest! {
    #[test]
    fn any_path_is_read_or_refused(path in "[ -~]{0,64}") {
        let _ = check(&path);
    }

    #[test]
    fn every_dot_segment_attack_is_refused(
        lead in prop::sample::select(vec!["/healthz", "/healthz/x", "", "/public"]),
        before in separator(),
        d in dots(),
        after in separator(),
        rest in "[a-z]{0,8}",
        query in prop::option::of("[a-z=&.]{0,8}"),
    ) {
        let path = format!("{lead}{before}{d}{after}{rest}")
            + &query.map(|q| format!("?{q}")).unwrap_or_default();
        let path = if path.starts_with('/') { path } else { format!("/{path}") };
        let reached = readings(&path).iter().any(|r| pieces(r).iter().any(|p| dot(p)));
        if reached {
            prop_assert!(check(&path).is_err(), "{path} passed");
        }
    }

    /// Whatever passes the check and falls under the prefix is inside the prefix for every reading.
    #[test]
    fn a_bypassed_path_stays_under_its_prefix(
        segs in vec(segment(), 0..6),
        seps in vec(separator(), 6),
        start in prop::sample::select(vec!["/healthz", "/healthz/", "/health", "/healthzx", "/"]),
    ) {
        let mut path = start.to_string();
        for (seg, sep) in segs.iter().zip(&seps) {
            path.push_str(sep);
            path.push_str(seg);
        }
        let Ok(checked) = check(&path) else { return Ok(()) };
        for reading in readings(&path) {
            prop_assert!(!pieces(&reading).iter().any(|p| dot(p)), "{path} passed with a dot segment");
        }
        if checked.is_under(PREFIX) {
            for reading in readings(&path) {
                let p = pieces(&reading);
                prop_assert!(
                    p.first().is_some_and(Vec::is_empty) && p.get(1).is_some_and(|s| s == b"healthz"),
                    "{path} bypassed, but a reading is outside {PREFIX}: {:?}",
                    String::from_utf8_lossy(&reading)
                );
            }
        }
    }
}
