//! What one VM knows of the revocations: the subjects revoked, each stamped with when this Envoy
//! applied it (its own wall clock, which every worker shares), and the last flush. A cached
//! decision stamped at or before a revocation of its subject (or a flush) is not served.
//!
//! Bounded in count and bytes: a revocation past either bound flushes instead, which drops more
//! (each dropped decision costs one callout) and never less. A revocation older than `keep_ms`
//! is forgotten: no cached decision outlives it.

use std::collections::HashMap;

/// What one kept subject costs besides its bytes (map slot, box, stamp), as an estimate.
pub const SUBJECT_OVERHEAD_BYTES: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_entries: usize,
    pub max_bytes: usize,
    pub keep_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationSet {
    subjects: HashMap<Box<[u8]>, u64>,
    bytes: usize,
    /// Decisions stamped at or before it are dropped, whatever their subject (0: none yet, and a
    /// decision stamped 0 is one whose time is unknown: dropped too).
    flushed_ms: u64,
    limits: Limits,
}

fn cost(subject: &[u8]) -> usize {
    SUBJECT_OVERHEAD_BYTES.saturating_add(subject.len())
}

impl RevocationSet {
    pub fn new(limits: Limits) -> Self {
        RevocationSet {
            subjects: HashMap::new(),
            bytes: 0,
            flushed_ms: 0,
            limits,
        }
    }

    /// Whether a decision stamped `decided_ms`, for `subject` (`None`: a deny, or an allow
    /// without the subject header), must not be served.
    pub fn revoked(&self, subject: Option<&[u8]>, decided_ms: u64) -> bool {
        decided_ms <= self.flushed_ms
            || subject
                .and_then(|s| self.subjects.get(s))
                .is_some_and(|applied| decided_ms <= *applied)
    }

    /// Every decision stamped at or before `now` is dropped; the subjects are then redundant.
    pub fn flush(&mut self, now: u64) {
        self.flushed_ms = self.flushed_ms.max(now);
        self.subjects.clear();
        self.bytes = 0;
    }

    /// Revokes `subject` as of `now` (a flush when the bounds would not hold). Whether the bounds
    /// held.
    pub fn revoke(&mut self, subject: &[u8], now: u64) -> bool {
        self.insert(subject, now, now)
    }

    fn insert(&mut self, subject: &[u8], applied_ms: u64, now: u64) -> bool {
        if applied_ms <= self.flushed_ms {
            return true;
        }
        if let Some(at) = self.subjects.get_mut(subject) {
            *at = (*at).max(applied_ms);
            return true;
        }
        let size = cost(subject);
        if self.subjects.len() >= self.limits.max_entries
            || self.bytes.saturating_add(size) > self.limits.max_bytes
        {
            self.prune(now);
        }
        if self.subjects.len() >= self.limits.max_entries
            || self.bytes.saturating_add(size) > self.limits.max_bytes
        {
            // Everything this subject's revocation covers, and more.
            self.flush(applied_ms.max(self.max_applied()));
            return false;
        }
        self.subjects.insert(subject.into(), applied_ms);
        self.bytes = self.bytes.saturating_add(size);
        true
    }

    fn max_applied(&self) -> u64 {
        self.subjects.values().copied().max().unwrap_or(0)
    }

    /// Forgets revocations no cached decision can predate any more.
    pub fn prune(&mut self, now: u64) {
        let keep = self.limits.keep_ms;
        let before = self.subjects.len();
        self.subjects
            .retain(|_, applied| applied.saturating_add(keep) >= now);
        if self.subjects.len() != before {
            self.bytes = self.subjects.keys().map(|s| cost(s)).sum();
        }
    }

    /// Takes in what another VM knows (stamps are the same Envoy's clock): the later flush, and
    /// for each subject the later revocation. Whether the bounds held.
    pub fn merge(&mut self, other: &RevocationSet, now: u64) -> bool {
        self.flushed_ms = self.flushed_ms.max(other.flushed_ms);
        let stale: Vec<Box<[u8]>> = self
            .subjects
            .iter()
            .filter(|(_, at)| **at <= self.flushed_ms)
            .map(|(s, _)| s.clone())
            .collect();
        for s in stale {
            self.subjects.remove(&s);
            self.bytes = self.bytes.saturating_sub(cost(&s));
        }
        let mut held = true;
        for (s, at) in &other.subjects {
            held &= self.insert(s, *at, now);
        }
        held
    }

    pub fn len(&self) -> usize {
        self.subjects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.subjects.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn flushed_ms(&self) -> u64 {
        self.flushed_ms
    }

    /// The shared form (little endian): flushed at (u64), count (u32), then per subject: applied
    /// at (u64), length (u16), bytes. Sorted, so equal sets encode alike.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(12 + self.bytes);
        out.extend_from_slice(&self.flushed_ms.to_le_bytes());
        out.extend_from_slice(&(self.subjects.len() as u32).to_le_bytes());
        let mut sorted: Vec<_> = self.subjects.iter().collect();
        sorted.sort();
        for (s, at) in sorted {
            out.extend_from_slice(&at.to_le_bytes());
            out.extend_from_slice(&(s.len() as u16).to_le_bytes());
            out.extend_from_slice(s);
        }
        out
    }

    /// The shared form read back under this VM's limits; `None` unless it parses to the end. A
    /// set over the limits comes back flushed (see `insert`).
    pub fn decode(bytes: &[u8], limits: Limits, now: u64) -> Option<RevocationSet> {
        let mut r = bytes;
        let mut take = |n: usize| -> Option<&[u8]> {
            if n > r.len() {
                return None;
            }
            let (head, rest) = r.split_at(n);
            r = rest;
            Some(head)
        };
        let flushed_ms = u64::from_le_bytes(take(8)?.try_into().ok()?);
        let count = u32::from_le_bytes(take(4)?.try_into().ok()?);
        let mut set = RevocationSet::new(limits);
        set.flushed_ms = flushed_ms;
        for _ in 0..count {
            let at = u64::from_le_bytes(take(8)?.try_into().ok()?);
            let len = u16::from_le_bytes(take(2)?.try_into().ok()?);
            let subject = take(usize::from(len))?;
            set.insert(subject, at, now);
        }
        r.is_empty().then_some(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_entries: 3,
        max_bytes: 1 << 20,
        keep_ms: 10_000,
    };

    #[test]
    fn a_revocation_drops_what_was_decided_before_it_only() {
        let mut s = RevocationSet::new(LIMITS);
        assert!(!s.revoked(Some(b"alice"), 1));
        s.revoke(b"alice", 1_000);
        for (subject, decided, revoked) in [
            (Some(&b"alice"[..]), 999, true),
            (Some(b"alice"), 1_000, true),
            (Some(b"alice"), 1_001, false),
            (Some(b"bob"), 999, false),
            (None, 999, false),
            (None, 0, true),
        ] {
            assert_eq!(
                s.revoked(subject, decided),
                revoked,
                "{subject:?} {decided}"
            );
        }
        s.flush(2_000);
        assert!(s.revoked(None, 2_000) && s.revoked(Some(b"bob"), 1_500));
        assert!(!s.revoked(None, 2_001));
        assert!(s.is_empty(), "a flush covers the subjects");
    }

    #[test]
    fn overflow_flushes_rather_than_forgets() {
        let mut s = RevocationSet::new(LIMITS);
        for (i, name) in [b"a", b"b", b"c"].iter().enumerate() {
            assert!(s.revoke(*name, 100 + i as u64));
        }
        assert!(!s.revoke(b"d", 200), "over maxEntries");
        assert!(s.is_empty() && s.flushed_ms() == 200);
        assert!(s.revoked(Some(b"d"), 200) && s.revoked(Some(b"a"), 150));
        let mut small = RevocationSet::new(Limits {
            max_bytes: SUBJECT_OVERHEAD_BYTES + 3,
            ..LIMITS
        });
        assert!(small.revoke(b"abc", 5));
        assert!(!small.revoke(b"x", 6), "over maxBytes");
        assert_eq!(small.flushed_ms(), 6);
    }

    #[test]
    fn old_revocations_are_pruned_to_make_room() {
        let mut s = RevocationSet::new(LIMITS);
        for name in [b"a", b"b", b"c"] {
            s.revoke(name, 100);
        }
        assert!(s.revoke(b"d", 10_101), "the three are past keep_ms: pruned");
        assert_eq!((s.len(), s.flushed_ms()), (1, 0));
        assert_eq!(s.bytes(), SUBJECT_OVERHEAD_BYTES + 1);
    }

    #[test]
    fn merging_takes_the_later_of_each() {
        let mut a = RevocationSet::new(LIMITS);
        let mut b = RevocationSet::new(LIMITS);
        a.revoke(b"alice", 100);
        b.revoke(b"alice", 300);
        b.revoke(b"bob", 50);
        a.flush(60);
        a.revoke(b"alice", 100);
        a.merge(&b, 400);
        assert!(a.revoked(Some(b"alice"), 300) && !a.revoked(Some(b"alice"), 301));
        assert!(
            a.revoked(Some(b"bob"), 60),
            "bob's 50 is under the flush at 60"
        );
        assert_eq!(a.len(), 1);
        let mut c = b.clone();
        c.merge(&a, 400);
        assert_eq!(c.encode(), a.encode(), "merge is symmetric");
    }

    #[test]
    fn the_shared_form_round_trips_and_garbage_is_refused() {
        let mut s = RevocationSet::new(LIMITS);
        s.flush(7);
        s.revoke(b"alice", 100);
        s.revoke(b"bob", 200);
        let bytes = s.encode();
        assert_eq!(RevocationSet::decode(&bytes, LIMITS, 300), Some(s));
        for cut in 0..bytes.len() {
            assert_eq!(RevocationSet::decode(&bytes[..cut], LIMITS, 300), None);
        }
        let mut long = bytes;
        long.push(0);
        assert_eq!(RevocationSet::decode(&long, LIMITS, 300), None);
    }
}
