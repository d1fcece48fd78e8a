//! The signature check run by Envoy's `verify_signature` foreign function (BoringSSL, outside the
//! VM, far faster than big-number code compiled to wasm32). This file holds the pure half: the
//! `VerifySignatureArguments` message going out, the `VerifySignatureResult` coming back, and a
//! `SignatureCheck` over whatever function the adapter passes (the hostcall).
//!
//! Envoy runs `EVP_DigestVerify` with the named hash, which is what RS256/384/512 (PKCS#1 v1.5)
//! and ES256/384 (with the signature as DER) need. PS* would need PSS padding set and EdDSA takes
//! no digest, so those stay with `RustCrypto`, as does anything Envoy could not take (a wrong-size
//! ECDSA signature, a point off the curve), where `RustCrypto` gives the same `false`.
//!
//! When the function fails (a host without it, a key refused, an answer that is not a result),
//! the check falls back to `RustCrypto` rather than report `Unavailable`: Envoy's checker makes a
//! verdict faster, never different, and a key only BoringSSL refuses cannot turn forged tokens
//! into the filter's own failure (which `onError` might allow).

use super::alg::Alg;
use super::der;
use super::jwks::{Material, PublicKey};
use super::signature::{decoding_key, RustCrypto, SignatureCheck, Unavailable};
use crate::proto::{self, Value};
use jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER;
use std::borrow::Cow;

/// The foreign function's name, as `proxy_call_foreign_function` takes it.
pub const FUNCTION: &str = "verify_signature";

/// The hash Envoy is asked to verify `alg` with; `None` for the algorithms it cannot check.
pub fn hash(alg: Alg) -> Option<&'static str> {
    match alg {
        Alg::Rs256 | Alg::Es256 => Some("sha256"),
        Alg::Rs384 | Alg::Es384 => Some("sha384"),
        Alg::Rs512 => Some("sha512"),
        Alg::Ps256 | Alg::Ps384 | Alg::Ps512 | Alg::EdDsa => None,
    }
}

/// The serialized `VerifySignatureArguments` for one check; `None` when Envoy cannot make it (see
/// the module doc), so the caller checks with `RustCrypto`.
pub fn arguments(alg: Alg, key: &PublicKey, message: &[u8], signature: &[u8]) -> Option<Vec<u8>> {
    let hash = hash(alg)?;
    let material = &key.material;
    if material.shape() != alg.key_shape() {
        return None;
    }
    let public_key = der::spki(material)?;
    let signature = match material {
        Material::Ec { shape, .. } => {
            // BoringSSL refuses a point off the curve while parsing the key; RustCrypto's
            // `false` for such a key is the verdict, not a failed check.
            if !rust_crypto_loads(alg, material) {
                return None;
            }
            Cow::Owned(der::ecdsa_signature(*shape, signature)?)
        }
        Material::Rsa { .. } | Material::Ed25519 { .. } => Cow::Borrowed(signature),
    };
    let mut out = Vec::with_capacity(public_key.len() + signature.len() + message.len() + 24);
    proto::put_bytes(&mut out, 1, hash.as_bytes());
    proto::put_bytes(&mut out, 2, &public_key);
    proto::put_bytes(&mut out, 3, &signature);
    proto::put_bytes(&mut out, 4, message);
    Some(out)
}

/// Reads a serialized `VerifySignatureResult`: its `result` (absent is `false`, as proto3 leaves a
/// false bool out); unknown fields are skipped; anything that is not such a message is
/// `Unavailable`.
pub fn result(bytes: &[u8]) -> Result<bool, Unavailable> {
    let mut verdict = false;
    for (field, value) in proto::fields(bytes).ok_or(Unavailable)? {
        match (field, value) {
            // A repeated scalar field: the last one counts.
            (1, Value::Varint(v)) => verdict = v != 0,
            (2, Value::Bytes(_)) => {}
            (1 | 2, _) => return Err(Unavailable),
            _ => {}
        }
    }
    Ok(verdict)
}

/// Checks through `F`, the caller's way to call the foreign function: the serialized arguments in,
/// the serialized result out, `Unavailable` when the call fails (Envoy's `BadArgument`, a host
/// without the function).
#[derive(Debug, Clone, Copy)]
pub struct EnvoyVerify<F>(pub F);

impl<F> SignatureCheck for EnvoyVerify<F>
where
    F: Fn(&[u8]) -> Result<Vec<u8>, Unavailable>,
{
    fn check(
        &self,
        alg: Alg,
        key: &PublicKey,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, Unavailable> {
        let Some(arguments) = arguments(alg, key, message, signature) else {
            return RustCrypto.check(alg, key, message, signature);
        };
        match (self.0)(&arguments).and_then(|answer| result(&answer)) {
            Ok(verdict) => Ok(verdict),
            Err(Unavailable) => {
                log::debug!("{FUNCTION} failed for {alg:?} with a {key:?} key; checked in the VM");
                RustCrypto.check(alg, key, message, signature)
            }
        }
    }
}

/// Whether jsonwebtoken's RustCrypto backend can load the key: for EC, that the point is on the
/// curve, which is also what BoringSSL checks.
fn rust_crypto_loads(alg: Alg, material: &Material) -> bool {
    if !matches!(material, Material::Ec { .. }) {
        return true;
    }
    (DEFAULT_PROVIDER.verifier_factory)(&alg.jsonwebtoken(), &decoding_key(material)).is_ok()
}

#[cfg(test)]
mod fake_envoy;
#[cfg(test)]
mod tests;
