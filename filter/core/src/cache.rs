//! The per-VM decision cache: bounded by `maxEntries` with least-recently-used eviction, entries
//! expire by TTL. Keys are already SHA-256 digests, so the map hashes them by taking 8 of their bytes.

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

struct Entry<D> {
    decision: Rc<D>,
    expires_ms: u64,
}

pub struct DecisionCache<D> {
    map: LruCache<CacheKey, Entry<D>, BuildHasherDefault<DigestHasher>>,
}

impl<D> DecisionCache<D> {
    pub fn new(max_entries: usize) -> Self {
        let cap = NonZeroUsize::new(max_entries).unwrap_or(NonZeroUsize::MIN);
        DecisionCache {
            map: LruCache::with_hasher(cap, BuildHasherDefault::default()),
        }
    }

    /// A live entry, marked recently used; an expired one is dropped.
    pub fn get(&mut self, key: &CacheKey, now_ms: u64) -> Option<Rc<D>> {
        let live = match self.map.get(key) {
            Some(e) if e.expires_ms > now_ms => return Some(Rc::clone(&e.decision)),
            Some(_) => false,
            None => return None,
        };
        if !live {
            self.map.pop(key);
        }
        None
    }

    pub fn put(&mut self, key: CacheKey, decision: Rc<D>, ttl_secs: u32, now_ms: u64) {
        if ttl_secs == 0 {
            return;
        }
        self.put_until(
            key,
            decision,
            now_ms.saturating_add(u64::from(ttl_secs) * 1000),
        );
    }

    /// Stores a decision that expires at `expires_ms` (one read from the shared level keeps its expiry).
    pub fn put_until(&mut self, key: CacheKey, decision: Rc<D>, expires_ms: u64) {
        self.map.put(
            key,
            Entry {
                decision,
                expires_ms,
            },
        );
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

    fn k(n: u32) -> CacheKey {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&n.to_le_bytes());
        CacheKey(b)
    }

    #[test]
    fn entries_live_for_their_ttl() {
        let mut c = DecisionCache::new(10);
        c.put(k(1), Rc::new("allow"), 2, 1_000);
        assert_eq!(c.get(&k(1), 2_999).as_deref(), Some(&"allow"));
        assert_eq!(c.get(&k(1), 3_000), None);
        assert!(c.is_empty(), "an expired entry is dropped when seen");
    }

    #[test]
    fn zero_ttl_is_not_stored() {
        let mut c = DecisionCache::new(10);
        c.put(k(1), Rc::new(1), 0, 0);
        assert!(c.is_empty());
    }

    #[test]
    fn least_recently_used_goes_first() {
        let mut c = DecisionCache::new(2);
        c.put(k(1), Rc::new(1), 60, 0);
        c.put(k(2), Rc::new(2), 60, 0);
        assert!(c.get(&k(1), 1).is_some());
        c.put(k(3), Rc::new(3), 60, 0);
        assert!(c.get(&k(2), 1).is_none(), "k2 was least recently used");
        assert!(c.get(&k(1), 1).is_some());
        assert!(c.get(&k(3), 1).is_some());
    }

    #[test]
    fn size_stays_bounded_under_many_distinct_keys() {
        let mut c = DecisionCache::new(1000);
        for n in 0..20_000 {
            c.put(k(n), Rc::new(n), 60, 0);
        }
        assert_eq!(c.len(), 1000);
    }
}
