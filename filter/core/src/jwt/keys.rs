//! The key sets a VM verifies with, one per provider: inline ones from the configuration, remote
//! ones as the root context fetches them (`None` until the first successful fetch). The generation
//! changes whenever a set changes, so that a cached verdict made with other keys is not reused.

use super::config::{Jwks, JwtConfig};
use super::jwks::KeySet;
use crate::key::KeyBuilder;
use std::rc::Rc;

#[derive(Debug, Clone)]
pub struct Keys {
    sets: Vec<Option<Rc<KeySet>>>,
    generation: u64,
    /// A digest of every set: the same in every VM that holds the same keys, so that a verdict
    /// shared between VMs is only read by one that checks with the same keys.
    fingerprint: [u8; 32],
}

impl Keys {
    pub fn new(config: &JwtConfig) -> Keys {
        let sets = config
            .providers
            .iter()
            .map(|p| match &p.jwks {
                Jwks::Inline(set) => Some(Rc::new(set.clone())),
                Jwks::Remote(_) => None,
            })
            .collect();
        let mut keys = Keys {
            sets,
            generation: 0,
            fingerprint: [0; 32],
        };
        keys.fingerprint = keys.digest();
        keys
    }

    fn digest(&self) -> [u8; 32] {
        let mut k = KeyBuilder::new(&[0; 32]);
        for set in &self.sets {
            match set {
                Some(s) => s.digest_into(k.field(b"set")),
                None => {
                    k.field(b"none");
                }
            }
        }
        k.finish().0
    }

    pub fn fingerprint(&self) -> &[u8; 32] {
        &self.fingerprint
    }

    /// The provider's keys; `None` before its first successful fetch.
    pub fn get(&self, provider: usize) -> Option<&KeySet> {
        self.sets.get(provider)?.as_deref()
    }

    /// Installs a freshly fetched set (a failed fetch keeps the last good one: do not call this).
    /// Returns whether anything changed; the generation moves only then.
    pub fn replace(&mut self, provider: usize, set: KeySet) -> bool {
        let Some(slot) = self.sets.get_mut(provider) else {
            return false;
        };
        if slot.as_deref() == Some(&set) {
            return false;
        }
        *slot = Some(Rc::new(set));
        self.generation = self.generation.wrapping_add(1);
        self.fingerprint = self.digest();
        true
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }
}
