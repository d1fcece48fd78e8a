//! A stand-in for Envoy's `verify_signature`, written with RustCrypto, so that the tests show that
//! what the filter sends verifies where it should and not elsewhere: each argument field exactly
//! once (their bytes are pinned in `arguments_are_the_four_fields_in_order`), the SPKI and the
//! signature parsed as DER, the digest verified, a `VerifySignatureResult` answered as Envoy does.

use super::Unavailable;
use crate::proto::{self, Value};

/// What Envoy does with the arguments, done with RustCrypto: parse the message, the SPKI and the
/// signature as BoringSSL would, `EVP_DigestVerify`, and answer a `VerifySignatureResult`.
pub fn envoy(arguments: &[u8]) -> Result<Vec<u8>, Unavailable> {
    use p256::ecdsa::signature::Verifier;
    use rsa::pkcs8::DecodePublicKey;
    use sha2::Digest;
    let fields = proto::fields(arguments).unwrap();
    let get = |n| {
        let all: Vec<&[u8]> = fields
            .iter()
            .filter_map(|(f, v)| match v {
                Value::Bytes(b) if *f == n => Some(*b),
                _ => None,
            })
            .collect();
        assert_eq!(all.len(), 1, "field {n} once");
        all[0]
    };
    let (hash, spki, signature, text) = (get(1), get(2), get(3), get(4));
    let verdict = if let Ok(rsa) = rsa::RsaPublicKey::from_public_key_der(spki) {
        let (scheme, digest) = match hash {
            b"sha256" => (
                rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
                sha2::Sha256::digest(text).to_vec(),
            ),
            b"sha384" => (
                rsa::Pkcs1v15Sign::new::<sha2::Sha384>(),
                sha2::Sha384::digest(text).to_vec(),
            ),
            b"sha512" => (
                rsa::Pkcs1v15Sign::new::<sha2::Sha512>(),
                sha2::Sha512::digest(text).to_vec(),
            ),
            _ => panic!("hash {hash:?}"),
        };
        rsa.verify(scheme, &digest, signature).is_ok()
    } else if let Ok(ec) = p256::ecdsa::VerifyingKey::from_public_key_der(spki) {
        assert_eq!(hash, b"sha256");
        p256::ecdsa::Signature::from_der(signature).is_ok_and(|s| ec.verify(text, &s).is_ok())
    } else if let Ok(ec) = p384::ecdsa::VerifyingKey::from_public_key_der(spki) {
        assert_eq!(hash, b"sha384");
        p384::ecdsa::Signature::from_der(signature).is_ok_and(|s| ec.verify(text, &s).is_ok())
    } else {
        return Err(Unavailable); // BadArgument
    };
    Ok(if verdict {
        b"\x08\x01".to_vec()
    } else {
        b"\x12\x04nope".to_vec()
    })
}
