//! Cache keys: a SHA-256 digest of every input the auth service sees that can change its answer.
//! Each field is length-prefixed so that no two different inputs hash the same byte stream.
//! The digest, never a credential, is what the cache (and shared data) holds.

use sha2::{Digest, Sha256};

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheKey(pub [u8; 32]);

impl std::fmt::Debug for CacheKey {
    /// A short prefix is enough to correlate log lines, and says nothing of the credential.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [a, b, c, d, ..] = self.0;
        write!(f, "key:{a:02x}{b:02x}{c:02x}{d:02x}")
    }
}

pub struct KeyBuilder(Sha256);

impl KeyBuilder {
    pub fn new(generation: &[u8; 32]) -> Self {
        let mut h = Sha256::new();
        h.update(generation);
        KeyBuilder(h)
    }

    pub fn field(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
        self
    }

    pub fn finish(self) -> CacheKey {
        CacheKey(self.0.finalize().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(fields: &[&[u8]]) -> CacheKey {
        let mut b = KeyBuilder::new(&[0; 32]);
        for f in fields {
            b.field(f);
        }
        b.finish()
    }

    #[test]
    fn field_boundaries_matter() {
        assert_ne!(key(&[b"ab", b"c"]), key(&[b"a", b"bc"]));
        assert_ne!(key(&[b"", b"x"]), key(&[b"x", b""]));
        assert_eq!(key(&[b"a", b"b"]), key(&[b"a", b"b"]));
    }

    #[test]
    fn generation_is_part_of_the_key() {
        let mut a = KeyBuilder::new(&[1; 32]);
        a.field(b"x");
        let mut b = KeyBuilder::new(&[2; 32]);
        b.field(b"x");
        assert_ne!(a.finish(), b.finish());
    }

    #[test]
    fn debug_shows_only_a_prefix() {
        let k = key(&[b"Bearer secret"]);
        let s = format!("{k:?}");
        assert_eq!(s.len(), "key:".len() + 8);
    }
}
