//! One answer of the revocation feed (format: `docs/revocation.md`), read within fixed bounds.
//! The body comes from the network: anything that is not a well-formed page of a known version
//! is an error (a failed read, counted), never a partial page and never a panic.

use serde::Deserialize;

pub const VERSION: u32 = 1;
/// Body bytes read from one answer; a longer one is a failed read.
pub const MAX_PAGE_BYTES: usize = 256 << 10;
pub const MAX_REVOCATIONS_PER_PAGE: usize = 1_000;
pub const MAX_SUBJECT_BYTES: usize = 256;
pub const MAX_CURSOR_BYTES: usize = 128;

/// A checked page.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Page {
    /// Where the next read starts (sent back as `?cursor=`).
    pub cursor: String,
    /// Every cached decision is dropped (also the service's answer to a cursor it no longer knows).
    pub flush: bool,
    /// Subjects whose cached allows are dropped.
    pub subjects: Vec<Vec<u8>>,
    /// More pages wait: read the next one now rather than after the interval.
    pub more: bool,
}

#[derive(Deserialize)]
struct RawPage {
    version: u32,
    cursor: String,
    #[serde(default)]
    flush: bool,
    #[serde(default)]
    revocations: Vec<RawRevocation>,
    #[serde(default)]
    more: bool,
}

#[derive(Deserialize)]
struct RawRevocation {
    subject: String,
    /// When the service revoked, by its clock: for the operator's eyes only, never compared with
    /// this Envoy's clock (see `docs/revocation.md`, clock skew).
    #[serde(default)]
    #[allow(dead_code)]
    at: Option<u64>,
}

/// A cursor goes into a query string as it is: unreserved characters only.
pub fn cursor_ok(cursor: &str) -> bool {
    cursor.len() <= MAX_CURSOR_BYTES
        && cursor
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// The page in `body`, or why it is none (for the log: it never quotes the body, which names
/// users).
pub fn parse(body: &[u8]) -> Result<Page, String> {
    if body.len() > MAX_PAGE_BYTES {
        return Err(format!(
            "answer of {} bytes is over the {MAX_PAGE_BYTES}-byte limit",
            body.len()
        ));
    }
    let raw: RawPage = serde_json::from_slice(body)
        .map_err(|e| format!("not a feed page: {}", crate::error::from_json(&e)))?;
    if raw.version != VERSION {
        return Err(format!(
            "feed version {} (this module reads version {VERSION})",
            raw.version
        ));
    }
    if !cursor_ok(&raw.cursor) {
        return Err(format!(
            "cursor must be at most {MAX_CURSOR_BYTES} characters among A-Z a-z 0-9 - . _ ~"
        ));
    }
    if raw.revocations.len() > MAX_REVOCATIONS_PER_PAGE {
        return Err(format!(
            "{} revocations in one page (at most {MAX_REVOCATIONS_PER_PAGE}; send the rest with more: true)",
            raw.revocations.len()
        ));
    }
    let mut subjects = Vec::with_capacity(raw.revocations.len());
    for (i, r) in raw.revocations.into_iter().enumerate() {
        if r.subject.is_empty() || r.subject.len() > MAX_SUBJECT_BYTES {
            return Err(format!(
                "revocations[{i}].subject must be 1 to {MAX_SUBJECT_BYTES} bytes"
            ));
        }
        subjects.push(r.subject.into_bytes());
    }
    Ok(Page {
        cursor: raw.cursor,
        flush: raw.flush,
        subjects,
        more: raw.more,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_reads_with_its_defaults() {
        let p = parse(br#"{"version":1,"cursor":"c-7","revocations":[{"subject":"alice","at":1},{"subject":"bob"}],"more":true,"note":"ignored"}"#).unwrap();
        assert_eq!(
            p,
            Page {
                cursor: "c-7".into(),
                flush: false,
                subjects: vec![b"alice".to_vec(), b"bob".to_vec()],
                more: true,
            }
        );
        let unchanged = parse(br#"{"version":1,"cursor":"c-7"}"#).unwrap();
        assert!(unchanged.subjects.is_empty() && !unchanged.flush && !unchanged.more);
        assert!(
            parse(br#"{"version":1,"cursor":"","flush":true}"#)
                .unwrap()
                .flush
        );
    }

    #[test]
    fn anything_else_is_a_failed_read() {
        let many = format!(
            r#"{{"version":1,"cursor":"c","revocations":[{}]}}"#,
            vec![r#"{"subject":"a"}"#; MAX_REVOCATIONS_PER_PAGE + 1].join(",")
        );
        let long_subject = format!(
            r#"{{"version":1,"cursor":"c","revocations":[{{"subject":"{}"}}]}}"#,
            "a".repeat(MAX_SUBJECT_BYTES + 1)
        );
        let long_cursor = format!(
            r#"{{"version":1,"cursor":"{}"}}"#,
            "c".repeat(MAX_CURSOR_BYTES + 1)
        );
        let huge = vec![b' '; MAX_PAGE_BYTES + 1];
        for (body, why) in [
            (&b"{"[..], "not a feed page"),
            (br#"{"cursor":"c"}"#, "not a feed page"),
            (br#"{"version":2,"cursor":"c"}"#, "feed version 2"),
            (br#"{"version":1,"cursor":"a b"}"#, "cursor"),
            (br#"{"version":1,"cursor":"c&x=1"}"#, "cursor"),
            (
                br#"{"version":1,"cursor":"c","revocations":[{"subject":""}]}"#,
                "revocations[0].subject",
            ),
            (
                br#"{"version":1,"cursor":"c","revocations":[{"at":1}]}"#,
                "not a feed page",
            ),
            (many.as_bytes(), "at most 1000"),
            (long_subject.as_bytes(), "revocations[0].subject"),
            (long_cursor.as_bytes(), "cursor"),
            (&huge, "over the"),
        ] {
            let e = parse(body).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
    }

    #[test]
    fn the_error_never_quotes_a_subject() {
        let e = parse(br#"{"version":1,"cursor":"c","revocations":[{"subject":42}],"x":"alice"}"#)
            .unwrap_err();
        assert!(!e.contains("42") && !e.contains("alice"), "{e}");
    }
}
