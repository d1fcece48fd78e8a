//! The revocation feed the example service publishes (format: `docs/revocation.md`), and the
//! subjects it no longer allows. `POST /logout` with a bearer token revokes that token's subject;
//! `POST /revoke?subject=NAME` revokes a subject directly. Either way the service denies the
//! subject from then on (401) and the feed tells every sidecar to drop its cached allows.
//!
//! The cursor is the number of revocations published so far. The service keeps the last
//! `KEPT` of them; a cursor it cannot answer precisely (older than that, unknown, or from
//! before a restart) gets `flush: true`.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

pub const FEED_PATH: &str = "/revocations";
pub const LOGOUT_PATH: &str = "/logout";
pub const REVOKE_PATH: &str = "/revoke";
/// Revocations kept for the feed: far more than a test makes.
const KEPT: usize = 10_000;
/// Revocations per answer (the feed allows 1000).
const PAGE: usize = 500;

#[derive(Debug, Default)]
struct Inner {
    /// The revocations published, oldest first: (sequence number from 1, subject, at ms).
    log: Vec<(u64, String, u64)>,
    published: u64,
    denied: HashSet<String>,
    feed_reads: u64,
    /// The feed answers this status instead of a page (a feed that is down).
    down: Option<u16>,
}

#[derive(Debug, Default)]
pub struct Revocations(Mutex<Inner>);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Revocations {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Denies `subject` from now on and publishes it.
    pub fn revoke(&self, subject: &str) {
        let mut inner = self.lock();
        inner.published += 1;
        let seq = inner.published;
        inner.log.push((seq, subject.to_string(), now_ms()));
        if inner.log.len() > KEPT {
            let excess = inner.log.len() - KEPT;
            inner.log.drain(..excess);
        }
        inner.denied.insert(subject.to_string());
    }

    pub fn is_denied(&self, subject: &str) -> bool {
        self.lock().denied.contains(subject)
    }

    /// Forgets every revocation kept: every cursor now gets `flush: true` once, as after a
    /// restart of a service that keeps them in memory.
    pub fn forget(&self) {
        let mut inner = self.lock();
        inner.log.clear();
        inner.published += 1;
    }

    /// The feed answers `status` (no page) until `None`.
    pub fn set_down(&self, status: Option<u16>) {
        self.lock().down = status;
    }

    pub fn down(&self) -> Option<u16> {
        self.lock().down
    }

    /// Feed reads answered so far.
    pub fn feed_reads(&self) -> u64 {
        self.lock().feed_reads
    }

    /// The feed's answer to a read from `cursor` (the request's query).
    pub fn page(&self, query: Option<&str>) -> String {
        let mut inner = self.lock();
        inner.feed_reads += 1;
        let cursor = query
            .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("cursor=")))
            .map(str::parse::<u64>);
        let oldest_kept = inner
            .log
            .first()
            .map_or(inner.published + 1, |(s, _, _)| *s);
        let from = match cursor {
            // A first read: everything kept (nothing older can still be cached, as the service
            // keeps more than the cache's horizon).
            None => Some(oldest_kept.saturating_sub(1)),
            Some(Ok(c)) if c <= inner.published && c + 1 >= oldest_kept => Some(c),
            _ => None,
        };
        let Some(from) = from else {
            return serde_json::json!({"version": 1, "cursor": inner.published.to_string(), "flush": true})
                .to_string();
        };
        let items: Vec<_> = inner
            .log
            .iter()
            .filter(|(s, _, _)| *s > from)
            .take(PAGE)
            .collect();
        let last = items.last().map_or(from, |(s, _, _)| *s);
        let revocations: Vec<_> = items
            .iter()
            .map(|(_, subject, at)| serde_json::json!({"subject": subject, "at": at}))
            .collect();
        serde_json::json!({
            "version": 1,
            "cursor": last.to_string(),
            "revocations": revocations,
            "more": last < inner.published,
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(r: &Revocations, q: Option<&str>) -> serde_json::Value {
        serde_json::from_str(&r.page(q)).unwrap()
    }

    #[test]
    fn the_feed_pages_from_a_cursor_and_flushes_one_it_cannot_answer() {
        let r = Revocations::default();
        assert_eq!(read(&r, None)["cursor"], "0");
        r.revoke("alice");
        r.revoke("bob");
        assert!(r.is_denied("alice") && !r.is_denied("carol"));
        let first = read(&r, None);
        assert_eq!(first["revocations"].as_array().unwrap().len(), 2);
        assert_eq!(
            (first["cursor"].as_str(), first["more"].as_bool()),
            (Some("2"), Some(false))
        );
        let from_one = read(&r, Some("cursor=1"));
        assert_eq!(from_one["revocations"][0]["subject"], "bob");
        let unchanged = read(&r, Some("cursor=2"));
        assert!(unchanged["revocations"].as_array().unwrap().is_empty());
        for bad in ["cursor=3", "cursor=x", "cursor=-1"] {
            let page = read(&r, Some(bad));
            assert_eq!(
                (page["flush"].as_bool(), page["cursor"].as_str()),
                (Some(true), Some("2")),
                "{bad}"
            );
        }
        // Every answer is a page the filter reads.
        for q in [None, Some("cursor=1"), Some("cursor=9")] {
            mesh_authz_core::revocation::feed::parse(r.page(q).as_bytes()).unwrap();
        }
        assert_eq!(r.feed_reads(), 10);
    }

    #[test]
    fn many_revocations_come_in_pages() {
        let r = Revocations::default();
        for n in 0..(PAGE + 3) {
            r.revoke(&format!("u{n}"));
        }
        let first = read(&r, Some("cursor=0"));
        assert_eq!(
            (
                first["revocations"].as_array().unwrap().len(),
                first["more"].as_bool()
            ),
            (PAGE, Some(true))
        );
        let cursor = format!("cursor={}", first["cursor"].as_str().unwrap());
        let second = read(&r, Some(&cursor));
        assert_eq!(
            (
                second["revocations"].as_array().unwrap().len(),
                second["more"].as_bool()
            ),
            (3, Some(false))
        );
    }
}
