use super::*;
use crate::jwt::alg::Alg;
use crate::jwt::jwks::KeySet;
use crate::jwt::strict::b64url;
use crate::jwt::testing::*;
use proptest::prelude::*;
use rsa::pkcs8::{DecodePublicKey, EncodePublicKey};
use rsa::BigUint;
use serde_json::json;

/// The material the filter holds for a test key, read from a JWKS as the filter reads it.
fn material(key: &TestKey) -> Material {
    let (set, skipped) = KeySet::parse(jwks(&[key]).as_bytes()).unwrap();
    assert!(skipped.is_empty());
    let key = set.fitting(key.alg).next().unwrap();
    key.material.clone()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn integers_are_minimal_and_non_negative() {
    let cases: &[(&[u8], &str)] = &[
        (b"", "020100"),
        (b"\x00", "020100"),
        (b"\x00\x00\x05", "020105"),
        (b"\x7f", "02017f"),
        (b"\x80", "02020080"),
        (b"\x00\x80", "02020080"),
        (b"\x00\x00\xff\x01", "020300ff01"),
        (b"\x01\x00\x01", "0203010001"),
    ];
    for (unsigned, want) in cases {
        assert_eq!(integer(unsigned), hex(want), "{unsigned:02x?}");
    }
}

#[test]
fn lengths_are_short_below_128_and_minimal_long_above() {
    let cases: &[(usize, &str)] = &[
        (0, "0400"),
        (0x7f, "047f"),
        (0x80, "048180"),
        (0xff, "0481ff"),
        (0x100, "04820100"),
        (0x1_0000, "0483010000"),
    ];
    for (len, want) in cases {
        let out = tlv(0x04, &vec![0xaa; *len]);
        let head = hex(want);
        assert_eq!(&out[..head.len()], head.as_slice(), "{len}");
        assert_eq!(out.len(), head.len() + len);
    }
}

#[test]
fn an_rsa_key_parses_back_as_the_same_key() {
    let Material::Rsa { n, e } = material(rsa()) else {
        unreachable!()
    };
    // The test key (2048 bits) and a 4096-bit modulus, whose SPKI needs two length bytes.
    let big_n = [vec![0xc5; 511], vec![0x01]].concat();
    for (n, e) in [(n, e), (big_n, vec![1, 0, 1])] {
        let der = spki(&Material::Rsa {
            n: n.clone(),
            e: e.clone(),
        })
        .unwrap();
        let want =
            rsa::RsaPublicKey::new(BigUint::from_bytes_be(&n), BigUint::from_bytes_be(&e)).unwrap();
        assert_eq!(rsa::RsaPublicKey::from_public_key_der(&der).unwrap(), want);
        assert_eq!(der, want.to_public_key_der().unwrap().as_bytes());
    }
}

#[test]
fn an_even_modulus_is_no_rsa_key() {
    let material = Material::Rsa {
        n: [vec![0xc5; 255], vec![0x02]].concat(),
        e: vec![1, 0, 1],
    };
    assert_eq!(spki(&material), None);
    assert_eq!(
        spki(&Material::Rsa {
            n: vec![],
            e: vec![3]
        }),
        None
    );
}

#[test]
fn ec_keys_parse_back_as_the_same_key() {
    let p256_material = material(ec(0));
    let p256_der = spki(&p256_material).unwrap();
    let parsed = p256::PublicKey::from_public_key_der(&p256_der).unwrap();
    assert_eq!(p256_der, parsed.to_public_key_der().unwrap().as_bytes());
    let Material::Ec { x, .. } = &p256_material else {
        unreachable!()
    };
    let point = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&parsed, false);
    assert_eq!(point.x().unwrap().as_slice(), x.as_slice());

    let secret = p384::SecretKey::random(&mut rand::thread_rng());
    let point =
        p384::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&secret.public_key(), false);
    let p384_material = Material::Ec {
        shape: KeyShape::P384,
        x: point.x().unwrap().to_vec(),
        y: point.y().unwrap().to_vec(),
    };
    let der = spki(&p384_material).unwrap();
    assert_eq!(
        p384::PublicKey::from_public_key_der(&der).unwrap(),
        secret.public_key()
    );
    assert_eq!(
        der,
        secret.public_key().to_public_key_der().unwrap().as_bytes()
    );
}

#[test]
fn material_envoy_cannot_take_has_no_spki() {
    let ec = |shape, len| Material::Ec {
        shape,
        x: vec![1; len],
        y: vec![2; len],
    };
    for material in [
        material(ed()),
        ec(KeyShape::P256, 48),
        ec(KeyShape::P384, 32),
        ec(KeyShape::Rsa, 32),
        ec(KeyShape::Ed25519, 32),
    ] {
        assert_eq!(spki(&material), None, "{:?}", material.shape());
    }
}

/// `header.payload` and the raw signature of a token.
fn signed_parts(token: &str) -> (&[u8], Vec<u8>) {
    let (signed, signature) = token.rsplit_once('.').unwrap();
    (signed.as_bytes(), b64url(signature.as_bytes()).unwrap())
}

#[test]
fn es256_signatures_become_der_that_verifies() {
    use p256::ecdsa::signature::Verifier;
    let verifying =
        p256::ecdsa::VerifyingKey::from_public_key_der(&spki(&material(ec(0))).unwrap()).unwrap();
    for i in 0..32 {
        let token = sign(ec(0), &claims(json!({"n": i})));
        let (message, raw) = signed_parts(&token);
        let der = ecdsa_signature(KeyShape::P256, &raw).unwrap();
        let parsed = p256::ecdsa::Signature::from_der(&der).unwrap();
        assert_eq!(parsed, p256::ecdsa::Signature::from_slice(&raw).unwrap());
        assert_eq!(der, parsed.to_der().as_bytes());
        verifying.verify(message, &parsed).unwrap();
    }
}

#[test]
fn es384_signatures_become_der_that_verifies() {
    use p384::ecdsa::signature::{Signer, Verifier};
    let signing = p384::ecdsa::SigningKey::random(&mut rand::thread_rng());
    let signature: p384::ecdsa::Signature = signing.sign(b"header.payload");
    let der = ecdsa_signature(KeyShape::P384, &signature.to_bytes()).unwrap();
    let parsed = p384::ecdsa::Signature::from_der(&der).unwrap();
    assert_eq!(der, signature.to_der().as_bytes());
    signing
        .verifying_key()
        .verify(b"header.payload", &parsed)
        .unwrap();
}

#[test]
fn halves_with_leading_zeros_or_the_top_bit_are_minimal() {
    let cases: &[(&str, &str)] = &[("r with leading zeros", "01"), ("r with the top bit", "80")];
    for (name, top) in cases {
        let mut raw = vec![0u8; 64];
        raw[..1].copy_from_slice(&hex(top));
        raw[31] = 1;
        raw[32] = 0x80;
        raw[63] = 7;
        let der = ecdsa_signature(KeyShape::P256, &raw).unwrap();
        let want = p256::ecdsa::Signature::from_slice(&raw).unwrap().to_der();
        assert_eq!(der, want.as_bytes(), "{name}");
    }
    let small = [vec![0; 31], vec![5], vec![0; 31], vec![9]].concat();
    assert_eq!(
        ecdsa_signature(KeyShape::P256, &small).unwrap(),
        hex("3006020105020109")
    );
}

#[test]
fn a_signature_of_the_wrong_size_has_no_der() {
    let cases: &[(KeyShape, usize)] = &[
        (KeyShape::P256, 0),
        (KeyShape::P256, 63),
        (KeyShape::P256, 65),
        (KeyShape::P256, 96),
        (KeyShape::P384, 64),
        (KeyShape::Rsa, 64),
        (KeyShape::Ed25519, 64),
    ];
    for (shape, len) in cases {
        assert_eq!(
            ecdsa_signature(*shape, &vec![1; *len]),
            None,
            "{shape:?} {len}"
        );
    }
    assert_eq!(Alg::Es256.key_shape(), KeyShape::P256);
}

proptest! {
    #[test]
    fn signatures_of_any_bytes_convert_without_panic(raw in proptest::collection::vec(any::<u8>(), 0..100)) {
        for shape in [KeyShape::P256, KeyShape::P384, KeyShape::Rsa, KeyShape::Ed25519] {
            let _ = ecdsa_signature(shape, &raw);
        }
    }

    #[test]
    fn any_valid_p256_halves_convert_as_rustcrypto_does(raw in proptest::array::uniform32(any::<u8>()), s in proptest::array::uniform32(any::<u8>())) {
        let raw = [raw, s].concat();
        if let Ok(sig) = p256::ecdsa::Signature::from_slice(&raw) {
            let want = sig.to_der();
            prop_assert_eq!(ecdsa_signature(KeyShape::P256, &raw).unwrap(), want.as_bytes());
        }
    }

    #[test]
    fn any_material_encodes_without_panic(
        n in proptest::collection::vec(any::<u8>(), 0..600),
        e in proptest::collection::vec(any::<u8>(), 0..8),
        len in 0usize..60,
    ) {
        let _ = spki(&Material::Rsa { n: n.clone(), e });
        for shape in [KeyShape::P256, KeyShape::P384, KeyShape::Rsa] {
            let x = n.iter().copied().chain(std::iter::repeat(7)).take(len).collect::<Vec<_>>();
            let _ = spki(&Material::Ec { shape, x: x.clone(), y: x });
        }
    }
}
