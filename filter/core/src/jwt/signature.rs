//! The signature check over `header.payload`, behind a trait so that the adapter can run it where
//! it is fastest: Envoy's `verify_signature` foreign function (BoringSSL, outside the VM) when the
//! host has it, jsonwebtoken's RustCrypto backend (inside the VM) otherwise. Everything before it
//! (decoding, claims, picking the key) is the same on both paths.

use super::alg::Alg;
use super::jwks::{Material, PublicKey};
use jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER;
use jsonwebtoken::DecodingKey;

/// The checker could not run (an external one failed): the filter's error, not the token's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unavailable;

pub trait SignatureCheck {
    /// Whether `signature` is `alg`'s signature of `message` by `key`. `key` always fits `alg`.
    fn check(
        &self,
        alg: Alg,
        key: &PublicKey,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, Unavailable>;
}

/// jsonwebtoken with the RustCrypto backend: pure Rust, so it runs inside the VM.
#[derive(Debug, Clone, Copy, Default)]
pub struct RustCrypto;

impl SignatureCheck for RustCrypto {
    fn check(
        &self,
        alg: Alg,
        key: &PublicKey,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, Unavailable> {
        let decoding = decoding_key(&key.material);
        // A key the backend cannot load (a point off the curve) verifies nothing.
        let Ok(verifier) = (DEFAULT_PROVIDER.verifier_factory)(&alg.jsonwebtoken(), &decoding)
        else {
            return Ok(false);
        };
        Ok(verifier.verify(message, &signature.to_vec()).is_ok())
    }
}

/// The key as jsonwebtoken's RustCrypto backend takes it (EC: the uncompressed SEC1 point).
pub(super) fn decoding_key(material: &Material) -> DecodingKey {
    match material {
        Material::Rsa { n, e } => DecodingKey::from_rsa_raw_components(n, e),
        Material::Ec { x, y, .. } => {
            DecodingKey::from_ec_der(&[&[0x04], x.as_slice(), y.as_slice()].concat())
        }
        Material::Ed25519 { x } => DecodingKey::from_ed_der(x),
    }
}
