//! Cache keys: a BLAKE3 digest of every input the auth service sees that can change its answer.
//! Each field is length-prefixed so that no two different inputs hash the same byte stream.
//! The digest, never a credential, is what the cache (and shared data) holds.
//!
//! The key decides which cached decision a request gets, and a client chooses most of its inputs
//! (credentials, cookies, the path): two inputs with one key would hand one client an answer made
//! for another. So the hash must be collision resistant against chosen inputs: a cryptographic
//! hash, not a fast table hash. BLAKE3 is one, and costs about a third of SHA-256 per byte in the
//! module (its portable code: wasm32 without SIMD), which matters because every forwarded header
//! byte is digested on every request, cache hits included.
//!
//! The generation (the configuration's digest) is BLAKE3's key rather than the first field: the
//! same separation of configurations, one block less to hash. It is public (anyone who knows the
//! configuration knows it); nothing here relies on it being secret. Every VM of an Envoy with the
//! same configuration derives the same key for the same inputs, which the shared level needs.

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheKey(pub [u8; 32]);

impl std::fmt::Debug for CacheKey {
    /// A short prefix is enough to correlate log lines, and says nothing of the credential.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [a, b, c, d, ..] = self.0;
        write!(f, "key:{a:02x}{b:02x}{c:02x}{d:02x}")
    }
}

pub struct KeyBuilder(blake3::Hasher);

impl KeyBuilder {
    pub fn new(generation: &[u8; 32]) -> Self {
        KeyBuilder(blake3::Hasher::new_keyed(generation))
    }

    pub fn field(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.update(&(bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
        self
    }

    pub fn finish(self) -> CacheKey {
        CacheKey(*self.0.finalize().as_bytes())
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

    /// The key is keyed BLAKE3 over the length-prefixed fields, byte for byte: checked against
    /// the framing done by hand and one pinned key, so that a change of hash or framing (which
    /// changes every key, and so needs the shared entries' versions bumped) cannot pass unnoticed.
    #[test]
    fn the_key_is_keyed_blake3_of_the_framed_fields() {
        let generation = [7u8; 32];
        let mut framed = Vec::new();
        for f in [&b"GET"[..], b"/a", b""] {
            framed.extend_from_slice(&(f.len() as u64).to_le_bytes());
            framed.extend_from_slice(f);
        }
        let mut b = KeyBuilder::new(&generation);
        b.field(b"GET").field(b"/a").field(b"");
        let k = b.finish();
        assert_eq!(k.0, *blake3::keyed_hash(&generation, &framed).as_bytes());
        assert_eq!(hex(&k.0), PINNED);
        // The crate is BLAKE3: the published digest of the empty input.
        assert_eq!(
            hex(blake3::hash(b"").as_bytes()),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
    }

    const PINNED: &str = "789277368fdbf13b86739b288bc26eeb754876814f30efffc54d004db6a2d205";

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn debug_shows_only_a_prefix() {
        let k = key(&[b"Bearer secret"]);
        let s = format!("{k:?}");
        assert_eq!(s.len(), "key:".len() + 8);
    }
}
