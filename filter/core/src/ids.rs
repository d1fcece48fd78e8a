//! Maps keyed by the host's ids (context ids, callout ids). The host numbers them itself (Envoy
//! counts up), so no client can choose them and a keyed hash (std's SipHash, made against
//! crafted keys) buys nothing here; several lookups a request make its cost show in the
//! instruction counts. One multiply spreads sequential ids over both the bucket bits and the
//! control bits hashbrown reads from the top.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b) ^ self.0.rotate_left(8));
        }
    }

    fn write_u32(&mut self, id: u32) {
        self.write_u64(u64::from(id));
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0 ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A map keyed by a host id.
pub type IdMap<V> = HashMap<u32, V, BuildHasherDefault<IdHasher>>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, BuildHasherDefault};

    #[test]
    fn sequential_ids_spread_over_the_low_and_the_high_bits() {
        let b = BuildHasherDefault::<IdHasher>::default();
        let hashes: Vec<u64> = (1..=64u32).map(|id| b.hash_one(id)).collect();
        let low: std::collections::BTreeSet<u64> = hashes.iter().map(|h| h & 63).collect();
        let top: std::collections::BTreeSet<u64> = hashes.iter().map(|h| h >> 57).collect();
        assert_eq!(low.len(), 64, "64 ids fill 64 buckets");
        assert!(top.len() > 32, "control bytes vary: {}", top.len());
    }

    #[test]
    fn a_map_keyed_by_ids_works_as_a_map() {
        let mut m: IdMap<&str> = IdMap::default();
        m.insert(7, "a");
        m.insert(8, "b");
        assert_eq!(
            (m.get(&7), m.get(&8), m.get(&9)),
            (Some(&"a"), Some(&"b"), None)
        );
    }
}
