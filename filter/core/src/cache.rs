//! The per-VM decision cache: bounded by `maxEntries` and by `maxBytes` with least-recently-used
//! eviction, entries expire by TTL. Keys are already BLAKE3 digests, so the map hashes them by
//! taking 8 of their bytes.
//!
//! Bytes are counted per entry as `ENTRY_OVERHEAD_BYTES` plus the decision's payload (header values
//! and body). A deny may carry up to `maxDenyBodyBytes` (1 MiB), so without a byte bound 10,000
//! large denies would exhaust wasm32's 4 GiB and abort the VM; a decision above
//! `MAX_ENTRY_PAYLOAD_BYTES` is not cached at all. Outside the budget: the map's index, which the
//! LRU allocates up front for `maxEntries` (about 10 bytes a slot on wasm32, 160 KiB for 10,000).

use crate::key::CacheKey;
use lru::LruCache;
use std::hash::{BuildHasherDefault, Hasher};
use std::num::NonZeroUsize;
use std::rc::Rc;

#[derive(Default)]
pub struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // CacheKey hashes as one 32-byte write; fold any other input in as well.
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            for (d, s) in b.iter_mut().zip(chunk) {
                *d = *s;
            }
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(b);
        }
    }
}

/// The most header value and body bytes one cached decision may hold. A larger one (a deny with a big
/// body) is passed on to its client but not kept, here or in the shared level.
pub const MAX_ENTRY_PAYLOAD_BYTES: usize = 8192;

/// What one entry costs besides its payload. On wasm32 (4-byte pointers): the LRU node (key 32,
/// value 16, links 8 = 56), the `Rc<Decision>` box (8 + 20), the map slot (8 bytes + 1 control
/// byte, at a load of 7/8 about 10) and the allocator's header on those and the payload's
/// allocations (about 8 each): about 125. `make bench-memory` measured 156 bytes per allow entry
/// with about 30 payload bytes, so 160 is on the safe side there; on a 64-bit host the same entry
/// is about 190. An estimate, not an exact count: the budget bounds memory within that margin.
pub const ENTRY_OVERHEAD_BYTES: usize = 160;

/// What a cached value holds on the heap beyond a fixed overhead.
pub trait Weigh {
    fn payload_bytes(&self) -> usize;
}

struct Entry<D> {
    decision: Rc<D>,
    expires_ms: u64,
    /// When the decision was made, no later than its callout's dispatch (0: unknown): what a
    /// revocation is compared with.
    decided_ms: u64,
}

pub struct DecisionCache<D> {
    map: LruCache<CacheKey, Entry<D>, BuildHasherDefault<DigestHasher>>,
    /// The entries' cost, as `cost` counts it; kept at most `max_bytes`.
    bytes: usize,
    max_bytes: usize,
    /// How long past its expiry an entry is kept for `get_stale` (`staleIfErrorSeconds`).
    stale_ms: u64,
}

fn cost<D: Weigh>(decision: &D) -> usize {
    ENTRY_OVERHEAD_BYTES.saturating_add(decision.payload_bytes())
}

impl<D: Weigh> DecisionCache<D> {
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        Self::with_stale(max_entries, max_bytes, 0)
    }

    /// A cache that keeps expired entries `stale_ms` longer for `get_stale`; they count against
    /// the bounds like live ones.
    pub fn with_stale(max_entries: usize, max_bytes: usize, stale_ms: u64) -> Self {
        let cap = NonZeroUsize::new(max_entries).unwrap_or(NonZeroUsize::MIN);
        DecisionCache {
            map: LruCache::with_hasher(cap, BuildHasherDefault::default()),
            bytes: 0,
            max_bytes,
            stale_ms,
        }
    }

    /// A live entry, marked recently used; one past its stale window too is dropped.
    pub fn get(&mut self, key: &CacheKey, now_ms: u64) -> Option<Rc<D>> {
        self.get_decided(key, now_ms).map(|(d, _)| d)
    }

    /// `get`, with when the decision was made.
    pub fn get_decided(&mut self, key: &CacheKey, now_ms: u64) -> Option<(Rc<D>, u64)> {
        let expires = match self.map.peek(key) {
            Some(e) if e.expires_ms > now_ms => {
                return self
                    .map
                    .get(key)
                    .map(|e| (Rc::clone(&e.decision), e.decided_ms))
            }
            Some(e) => e.expires_ms,
            None => return None,
        };
        if expires.saturating_add(self.stale_ms) <= now_ms {
            self.remove(key);
        }
        None
    }

    /// An entry that expired less than the stale window ago: what may serve when the callout fails.
    pub fn get_stale(&mut self, key: &CacheKey, now_ms: u64) -> Option<Rc<D>> {
        self.get_stale_decided(key, now_ms).map(|(d, _)| d)
    }

    /// `get_stale`, with when the decision was made.
    pub fn get_stale_decided(&mut self, key: &CacheKey, now_ms: u64) -> Option<(Rc<D>, u64)> {
        let e = self.map.peek(key)?;
        (e.expires_ms <= now_ms && now_ms < e.expires_ms.saturating_add(self.stale_ms))
            .then(|| (Rc::clone(&e.decision), e.decided_ms))
    }

    /// Drops the entry for `key` (a revoked decision).
    pub fn remove(&mut self, key: &CacheKey) {
        if let Some(old) = self.map.pop(key) {
            self.bytes = self.bytes.saturating_sub(cost(old.decision.as_ref()));
        }
    }

    pub fn put(&mut self, key: CacheKey, decision: Rc<D>, ttl_secs: u32, now_ms: u64) {
        if ttl_secs == 0 {
            return;
        }
        self.put_decided(
            key,
            decision,
            now_ms,
            now_ms.saturating_add(u64::from(ttl_secs) * 1000),
        );
    }

    /// Stores a decision that expires at `expires_ms` (one read from the shared level keeps its expiry).
    /// A decision above the entry cap or the whole budget is not stored (and an older entry for
    /// its key is dropped); otherwise least recently used entries go until the budget holds.
    /// Its decision time is unknown (0): any revocation drops it.
    pub fn put_until(&mut self, key: CacheKey, decision: Rc<D>, expires_ms: u64) {
        self.put_decided(key, decision, 0, expires_ms);
    }

    /// `put_until` for a decision made at `decided_ms`.
    pub fn put_decided(
        &mut self,
        key: CacheKey,
        decision: Rc<D>,
        decided_ms: u64,
        expires_ms: u64,
    ) {
        let size = cost(decision.as_ref());
        if decision.payload_bytes() > MAX_ENTRY_PAYLOAD_BYTES || size > self.max_bytes {
            self.remove(&key);
            return;
        }
        let entry = Entry {
            decision,
            expires_ms,
            decided_ms,
        };
        // `push` hands back the entry it replaced (same key) or evicted (entry count).
        if let Some((_, old)) = self.map.push(key, entry) {
            self.bytes = self.bytes.saturating_sub(cost(old.decision.as_ref()));
        }
        self.bytes = self.bytes.saturating_add(size);
        while self.bytes > self.max_bytes {
            match self.map.pop_lru() {
                Some((_, old)) => {
                    self.bytes = self.bytes.saturating_sub(cost(old.decision.as_ref()));
                }
                None => {
                    self.bytes = 0;
                    break;
                }
            }
        }
    }

    /// The entries' cost in bytes (see `ENTRY_OVERHEAD_BYTES`).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Weigh for &str {
        fn payload_bytes(&self) -> usize {
            self.len()
        }
    }
    impl Weigh for u32 {
        fn payload_bytes(&self) -> usize {
            0
        }
    }

    const BIG: usize = 1 << 30;

    fn k(n: u32) -> CacheKey {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&n.to_le_bytes());
        CacheKey(b)
    }

    #[test]
    fn entries_live_for_their_ttl() {
        let mut c = DecisionCache::new(10, BIG);
        c.put(k(1), Rc::new("allow"), 2, 1_000);
        assert_eq!(c.get(&k(1), 2_999).as_deref(), Some(&"allow"));
        assert_eq!(c.get(&k(1), 3_000), None);
        assert!(c.is_empty(), "an expired entry is dropped when seen");
    }

    #[test]
    fn expired_entries_stay_for_the_stale_window_only() {
        let mut c = DecisionCache::with_stale(10, BIG, 5_000);
        c.put(k(1), Rc::new(7u32), 2, 1_000);
        assert_eq!(c.get_stale(&k(1), 2_999), None, "still live: not stale");
        assert_eq!(c.get(&k(1), 3_000), None, "expired for get");
        assert_eq!(c.len(), 1, "kept for the stale window");
        assert!(c.get_stale(&k(1), 7_999).is_some());
        assert_eq!(c.get_stale(&k(1), 8_000), None);
        assert_eq!(c.get(&k(1), 8_000), None);
        assert!(c.is_empty(), "dropped once past the window");
        let mut plain = DecisionCache::new(10, BIG);
        plain.put(k(1), Rc::new(7u32), 2, 1_000);
        assert_eq!(plain.get_stale(&k(1), 3_000), None);
    }

    #[test]
    fn an_entry_keeps_when_it_was_decided() {
        let mut c = DecisionCache::with_stale(10, BIG, 5_000);
        c.put(k(1), Rc::new(1u32), 2, 1_000);
        c.put_decided(k(2), Rc::new(2u32), 700, 3_000);
        c.put_until(k(3), Rc::new(3u32), 3_000);
        assert_eq!(c.get_decided(&k(1), 1_500).map(|(_, d)| d), Some(1_000));
        assert_eq!(c.get_decided(&k(2), 1_500).map(|(_, d)| d), Some(700));
        assert_eq!(
            c.get_decided(&k(3), 1_500).map(|(_, d)| d),
            Some(0),
            "unknown"
        );
        assert_eq!(c.get_stale_decided(&k(2), 3_500).map(|(_, d)| d), Some(700));
        c.remove(&k(2));
        assert_eq!(c.get_stale_decided(&k(2), 3_500), None);
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn zero_ttl_is_not_stored() {
        let mut c = DecisionCache::new(10, BIG);
        c.put(k(1), Rc::new(1u32), 0, 0);
        assert!(c.is_empty());
    }

    #[test]
    fn least_recently_used_goes_first() {
        let mut c = DecisionCache::new(2, BIG);
        c.put(k(1), Rc::new(1u32), 60, 0);
        c.put(k(2), Rc::new(2u32), 60, 0);
        assert!(c.get(&k(1), 1).is_some());
        c.put(k(3), Rc::new(3u32), 60, 0);
        assert!(c.get(&k(2), 1).is_none(), "k2 was least recently used");
        assert!(c.get(&k(1), 1).is_some());
        assert!(c.get(&k(3), 1).is_some());
    }

    #[test]
    fn size_stays_bounded_under_many_distinct_keys() {
        let mut c = DecisionCache::new(1000, BIG);
        for n in 0..20_000 {
            c.put(k(n), Rc::new(n), 60, 0);
        }
        assert_eq!(c.len(), 1000);
    }

    fn text(n: usize) -> Rc<Blob> {
        Rc::new(Blob(n))
    }

    #[test]
    fn the_byte_budget_evicts_least_recently_used_entries() {
        let one = ENTRY_OVERHEAD_BYTES + 40;
        let mut c = DecisionCache::new(100, 3 * one);
        for n in 0..3 {
            c.put(k(n), text(40), 60, 0);
        }
        assert_eq!((c.len(), c.bytes()), (3, 3 * one));
        assert!(c.get(&k(0), 1).is_some());
        c.put(k(3), text(40), 60, 0);
        assert_eq!((c.len(), c.bytes()), (3, 3 * one));
        assert!(c.get(&k(1), 1).is_none(), "k1 was least recently used");
        assert!(c.get(&k(0), 1).is_some() && c.get(&k(3), 1).is_some());
        // A larger entry makes room for itself.
        c.put(k(4), text(64), 60, 0);
        assert!(c.bytes() <= 3 * one);
        assert!(c.get(&k(4), 1).is_some());
    }

    #[test]
    fn replacing_and_expiring_keep_the_count_exact() {
        let mut c = DecisionCache::new(100, BIG);
        c.put(k(1), text(10), 60, 0);
        c.put(k(1), text(30), 60, 0);
        assert_eq!(c.bytes(), ENTRY_OVERHEAD_BYTES + 30);
        c.put(k(2), text(5), 1, 0);
        assert!(c.get(&k(2), 5_000).is_none());
        assert_eq!(c.bytes(), ENTRY_OVERHEAD_BYTES + 30);
        let mut small = DecisionCache::new(1, BIG);
        small.put(k(1), text(10), 60, 0);
        small.put(k(2), text(20), 60, 0);
        assert_eq!(
            small.bytes(),
            ENTRY_OVERHEAD_BYTES + 20,
            "evicted by entry count"
        );
    }

    /// A value of a given payload size.
    struct Blob(usize);
    impl Weigh for Blob {
        fn payload_bytes(&self) -> usize {
            self.0
        }
    }

    #[test]
    fn an_entry_above_the_cap_or_the_budget_is_not_stored() {
        let mut c = DecisionCache::new(100, BIG);
        c.put(k(1), Rc::new(Blob(MAX_ENTRY_PAYLOAD_BYTES)), 60, 0);
        assert_eq!(c.len(), 1);
        c.put(k(1), Rc::new(Blob(MAX_ENTRY_PAYLOAD_BYTES + 1)), 60, 0);
        assert_eq!(
            (c.len(), c.bytes()),
            (0, 0),
            "and the older entry for the key goes"
        );
        let mut tiny = DecisionCache::new(100, ENTRY_OVERHEAD_BYTES + 10);
        tiny.put(k(1), Rc::new(Blob(11)), 60, 0);
        assert!(tiny.is_empty());
    }

    #[test]
    fn bytes_stay_bounded_under_many_large_entries() {
        let budget = 1 << 20;
        let mut c = DecisionCache::new(10_000, budget);
        for n in 0..20_000 {
            c.put(k(n), Rc::new(Blob(MAX_ENTRY_PAYLOAD_BYTES)), 60, 0);
            assert!(c.bytes() <= budget);
        }
        assert_eq!(
            c.len(),
            budget / (ENTRY_OVERHEAD_BYTES + MAX_ENTRY_PAYLOAD_BYTES)
        );
    }
}
