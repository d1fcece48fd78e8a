//! Following the feed from one VM's root context: events in (tick, read dispatched, answer
//! landed), actions out (read this path on this cluster now, or nothing). Pure over the host's
//! clock and shared data; the adapter dispatches and hands the answer back.
//!
//! Each Envoy reads the feed once per interval, whichever VM claims the read in the shared
//! record (compare-and-swap, as the JWKS refresh does); the lander publishes what it applied and
//! the others merge it on their tick. The next read is due `intervalMs` plus up to a fifth of it
//! after the last one landed (jitter, so a fleet does not poll in step), or at once when the page
//! said `more`.
//!
//! Staleness: a VM serves cached decisions only while the last good read (by any VM of this
//! Envoy) is at most `maxStaleSeconds` old. A VM that finds no fresh shared state when it starts
//! counts its start as a flush and a good read: nothing decided before it is served, and what it
//! decides itself is as fresh as a read at that moment.

use super::config::Feed;
use super::feed::{self, Page};
use super::record::{self, Record};
use super::set::{Limits, RevocationSet};
use crate::host::{Host, Metric};
use crate::throttle::{held_back, Throttle, Topic};

/// A feed read the adapter should dispatch (GET, from the root context).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedFetch {
    pub cluster: String,
    pub authority: String,
    /// The feed path with `?cursor=` when there is one.
    pub path: String,
    pub timeout_ms: u32,
}

/// Why a cached decision may not be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Serve,
    /// Made before a revocation of its subject, or a flush.
    Revoked,
    /// The feed was not read for `maxStaleSeconds`.
    FeedStale,
}

#[derive(Debug)]
pub struct Follower {
    feed: Feed,
    limits: Limits,
    name: String,
    set: RevocationSet,
    cursor: String,
    adopted_seq: u64,
    good_ms: u64,
    started: bool,
    in_flight_since: Option<u64>,
    /// When this VM's own last read made the next one due: the interval holds even where shared
    /// data does not.
    next_ms: u64,
    rng: u64,
    throttle: Throttle,
}

impl Follower {
    /// `seed`: anything that differs between Envoys (the start time is mixed in as well).
    pub fn new(feed: &Feed, seed: u64) -> Follower {
        let limits = Limits {
            max_entries: feed.max_entries,
            max_bytes: feed.max_bytes,
            keep_ms: feed.keep_ms,
        };
        Follower {
            name: record::record_name(&feed.cluster, &feed.authority, &feed.path),
            feed: feed.clone(),
            limits,
            set: RevocationSet::new(limits),
            cursor: String::new(),
            adopted_seq: 0,
            good_ms: 0,
            started: false,
            in_flight_since: None,
            next_ms: 0,
            rng: seed | 1,
            throttle: Throttle::default(),
        }
    }

    /// Takes the Envoy's shared state if it is fresh, else counts now as a flush and a good read.
    fn start(&mut self, host: &dyn Host, now: u64) {
        if self.started {
            return;
        }
        self.started = true;
        self.rng ^= now.rotate_left(17);
        let fresh = record::read(host, &self.name)
            .map(|(r, _)| r)
            .filter(|r| r.good_ms != 0 && now <= r.good_ms.saturating_add(self.feed.max_stale_ms));
        let shared = fresh.and_then(|r| {
            let s = record::read_set(host, &self.name, self.limits, now)?;
            (s.seq >= r.seq).then_some((r, s))
        });
        match shared {
            Some((r, s)) => {
                self.set = s.set;
                self.cursor = s.cursor;
                self.adopted_seq = s.seq;
                self.good_ms = r.good_ms;
            }
            None => {
                self.set.flush(now);
                self.good_ms = now;
            }
        }
    }

    /// Whether a cached decision stamped `decided_ms` for `subject` may serve at `now`.
    pub fn verdict(
        &mut self,
        host: &dyn Host,
        subject: Option<&[u8]>,
        decided_ms: u64,
        now: u64,
    ) -> Verdict {
        self.start(host, now);
        if now > self.good_ms.saturating_add(self.feed.max_stale_ms) {
            Verdict::FeedStale
        } else if self.set.revoked(subject, decided_ms) {
            Verdict::Revoked
        } else {
            Verdict::Serve
        }
    }

    /// The root tick: merge what other VMs applied, and the read to dispatch if it is due and
    /// this VM claimed it.
    pub fn tick(&mut self, host: &dyn Host, now: u64) -> Option<FeedFetch> {
        self.start(host, now);
        let (rec, cas) = record::read(host, &self.name).unwrap_or_default();
        self.adopt(host, &rec, now);
        self.set.prune(now);
        let timeout = u64::from(self.feed.timeout_ms);
        if let Some(since) = self.in_flight_since {
            // An answer that never came (the adapter lost it) frees the follower after the timeout.
            if now < since.saturating_add(timeout * 2) {
                return None;
            }
            self.in_flight_since = None;
        }
        let elsewhere = rec.attempt_ms != 0 && now < rec.attempt_ms.saturating_add(timeout);
        if elsewhere || now < rec.next_ms.max(self.next_ms) {
            return None;
        }
        let claim = Record {
            attempt_ms: now,
            ..rec
        };
        match host.shared_set(&self.name, &claim.encode(), cas) {
            Err(crate::host::SharedError::CasMismatch) => return None,
            // Without shared data this VM reads on its own.
            Ok(()) | Err(crate::host::SharedError::Host(_)) => {}
        }
        self.in_flight_since = Some(now);
        let path = if self.cursor.is_empty() {
            self.feed.path.clone()
        } else {
            format!("{}?cursor={}", self.feed.path, self.cursor)
        };
        Some(FeedFetch {
            cluster: self.feed.cluster.clone(),
            authority: self.feed.authority.clone(),
            path,
            timeout_ms: self.feed.timeout_ms,
        })
    }

    /// The read could not be dispatched (`why`: for the log): a failed read.
    pub fn refused(&mut self, host: &dyn Host, why: &str, now: u64) {
        let _ = self.landed(host, Err(format!("not dispatched: {why}")), now);
    }

    /// The read landed: `Ok(body)` for a 200 (see `feed::body_to_read`), `Err(why)` otherwise.
    /// How many revocations were applied (a flush counts as one), or why the read failed.
    pub fn landed(
        &mut self,
        host: &dyn Host,
        body: Result<&[u8], String>,
        now: u64,
    ) -> Result<usize, String> {
        self.in_flight_since = None;
        let page = match body.and_then(feed::parse) {
            Ok(p) => p,
            Err(why) => {
                host.count(Metric::RevocationFetchFailures);
                let next = self.next_after(now, false);
                record::update(host, &self.name, |r| Record {
                    attempt_ms: 0,
                    next_ms: next,
                    ..r
                });
                if let Some(held) = self.throttle.admit(Topic::RevocationFeed, now) {
                    let age = now.saturating_sub(self.good_ms) / 1000;
                    log::warn!("revocation feed {} on cluster {}: {why}; last good read {age} s ago (cached decisions stop serving {} s after it){}", self.feed.path, self.feed.cluster, self.feed.max_stale_ms / 1000, held_back(held));
                }
                return Err(why);
            }
        };
        host.count(Metric::RevocationFetches);
        let applied = self.apply(&page, now);
        for _ in 0..applied {
            host.count(Metric::RevocationsApplied);
        }
        let changed = applied > 0 || page.cursor != self.cursor;
        let previous = std::mem::replace(&mut self.cursor, page.cursor.clone());
        let published = if changed {
            record::publish_set(
                host,
                &self.name,
                &mut self.set,
                &self.cursor,
                self.limits,
                now,
            )
        } else {
            Some(self.adopted_seq)
        };
        let next = self.next_after(now, page.more);
        match published {
            Some(seq) => {
                self.adopted_seq = seq;
                self.good_ms = now;
                record::update(host, &self.name, |r| Record {
                    attempt_ms: 0,
                    next_ms: next,
                    good_ms: r.good_ms.max(now),
                    seq: r.seq.max(seq),
                });
            }
            None => {
                // The other VMs cannot see this page: nobody counts it as read, and the next
                // read (any VM's) starts where the shared cursor is. This VM keeps what it
                // applied: it only drops more.
                self.cursor = previous;
                record::update(host, &self.name, |r| Record {
                    attempt_ms: 0,
                    next_ms: next,
                    ..r
                });
            }
        }
        Ok(applied)
    }

    fn apply(&mut self, page: &Page, now: u64) -> usize {
        let mut applied = 0;
        if page.flush {
            self.set.flush(now);
            applied += 1;
        }
        for s in &page.subjects {
            if !self.set.revoke(s, now) {
                log::warn!("revocation: more than revocation.maxEntries subjects or maxBytes revoked at once; every cached decision is dropped instead");
            }
            applied += 1;
        }
        applied
    }

    fn adopt(&mut self, host: &dyn Host, rec: &Record, now: u64) {
        self.good_ms = self.good_ms.max(rec.good_ms);
        if rec.seq <= self.adopted_seq {
            return;
        }
        if let Some(shared) = record::read_set(host, &self.name, self.limits, now) {
            if shared.seq > self.adopted_seq {
                self.set.merge(&shared.set, now);
                self.cursor = shared.cursor;
                self.adopted_seq = shared.seq;
            }
        }
    }

    fn next_after(&mut self, now: u64, more: bool) -> u64 {
        self.next_ms = now;
        if more {
            return now;
        }
        // xorshift64: jitter only, nothing secret.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let jitter = self.rng % (self.feed.interval_ms / 5).max(1);
        self.next_ms = now.saturating_add(self.feed.interval_ms + jitter);
        self.next_ms
    }

    /// Milliseconds since the last good read this VM knows of (the lag gauge, in seconds / 1000).
    pub fn lag_ms(&self, now: u64) -> u64 {
        now.saturating_sub(self.good_ms)
    }

    pub fn set(&self) -> &RevocationSet {
        &self.set
    }

    pub fn feed(&self) -> &Feed {
        &self.feed
    }
}

#[cfg(test)]
mod tests;
