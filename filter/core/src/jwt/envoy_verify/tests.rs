use super::fake_envoy::envoy;
use super::*;
use crate::jwt::alg::KeyShape;
use crate::jwt::error::JwtError;
use crate::jwt::extract::Token;
use crate::jwt::jwks::KeySet;
use crate::jwt::keys::Keys;
use crate::jwt::strict::b64url;
use crate::jwt::testing::*;
use crate::jwt::verify::verify_with;
use proptest::prelude::*;
use serde_json::json;
use std::borrow::Cow;
use std::cell::Cell;

fn key(test_key: &TestKey) -> PublicKey {
    let (set, _) = KeySet::parse(jwks(&[test_key]).as_bytes()).unwrap();
    let key = set.fitting(test_key.alg).next().unwrap();
    key.clone()
}

fn p384_key() -> PublicKey {
    p384_pair().1
}

fn p384_pair() -> (p384::ecdsa::SigningKey, PublicKey) {
    let secret = p384::SecretKey::random(&mut rand::thread_rng());
    let point =
        p384::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&secret.public_key(), false);
    let public = PublicKey {
        kid: None,
        alg: None,
        material: Material::Ec {
            shape: KeyShape::P384,
            x: point.x().unwrap().to_vec(),
            y: point.y().unwrap().to_vec(),
        },
    };
    (secret.into(), public)
}

fn run(token: &str, checker: &dyn SignatureCheck) -> Result<(), JwtError> {
    let config = jwt_config(&two_providers("gate"));
    let keys = Keys::new(&config);
    let token = Token {
        value: Cow::Borrowed(token),
        source: 0,
    };
    verify_with(&config, &keys, &token, NOW, checker).map(|_| ())
}

/// Flips one character in the middle of the signature.
fn tampered(token: &str) -> String {
    let (signed, sig) = token.rsplit_once('.').unwrap();
    let mut sig = sig.to_string();
    let mid = sig.len() / 2;
    let c = if &sig[mid..=mid] == "A" { "B" } else { "A" };
    sig.replace_range(mid..=mid, c);
    format!("{signed}.{sig}")
}

#[test]
fn envoy_judges_rs_and_es_tokens_and_the_rest_stay_in_the_vm() {
    let c = claims(json!({}));
    let cases: &[(&str, String, bool)] = &[
        ("RS256", sign(rsa(), &c), true),
        ("ES256", sign(ec(0), &c), true),
        (
            "ES256, no kid",
            sign_as(ec(1), Alg::Es256, Some(None), &c),
            true,
        ),
        ("PS256", sign_as(rsa(), Alg::Ps256, None, &c), false),
        ("EdDSA", sign(ed(), &c), false),
    ];
    for (name, token, by_envoy) in cases {
        let calls = Cell::new(0);
        let counted = EnvoyVerify(|a: &[u8]| {
            calls.set(calls.get() + 1);
            envoy(a)
        });
        assert_eq!(run(token, &counted), Ok(()), "{name}");
        assert_eq!(calls.get() > 0, *by_envoy, "{name}: asked Envoy");
        calls.set(0);
        assert_eq!(
            run(&tampered(token), &counted),
            Err(JwtError::BadSignature),
            "{name} tampered"
        );
        assert_eq!(calls.get() > 0, *by_envoy, "{name} tampered: asked Envoy");
    }
}

#[test]
fn every_algorithm_offered_verifies_through_envoy() {
    use p384::ecdsa::signature::Signer;
    let parts = |token: String| {
        let (signed, sig) = token.rsplit_once('.').unwrap();
        (signed.as_bytes().to_vec(), b64url(sig.as_bytes()).unwrap())
    };
    let c = claims(json!({}));
    let (p384_signing, p384) = p384_pair();
    let p384_sig: p384::ecdsa::Signature = p384_signing.sign(b"h.p");
    /// The algorithm, the key, the signed message and the raw signature.
    type Case = (Alg, PublicKey, (Vec<u8>, Vec<u8>));
    let cases: Vec<Case> = vec![
        (
            Alg::Rs256,
            key(rsa()),
            parts(sign_as(rsa(), Alg::Rs256, None, &c)),
        ),
        (
            Alg::Rs384,
            key(rsa()),
            parts(sign_as(rsa(), Alg::Rs384, None, &c)),
        ),
        (
            Alg::Rs512,
            key(rsa()),
            parts(sign_as(rsa(), Alg::Rs512, None, &c)),
        ),
        (Alg::Es256, key(ec(0)), parts(sign(ec(0), &c))),
        (
            Alg::Es384,
            p384,
            (b"h.p".to_vec(), p384_sig.to_bytes().to_vec()),
        ),
    ];
    for (alg, key, (message, sig)) in cases {
        let calls = Cell::new(0);
        let counted = EnvoyVerify(|a: &[u8]| {
            calls.set(calls.get() + 1);
            envoy(a)
        });
        assert_eq!(
            counted.check(alg, &key, &message, &sig),
            Ok(true),
            "{alg:?}"
        );
        let other = [message.as_slice(), b"x"].concat();
        assert_eq!(counted.check(alg, &key, &other, &sig), Ok(false), "{alg:?}");
        assert_eq!(calls.get(), 2, "{alg:?}");
    }
}

#[test]
fn the_verdict_is_envoys_when_it_answers() {
    let forged = tampered(&sign(ec(0), &claims(json!({}))));
    let good = sign(rsa(), &claims(json!({})));
    let yes = EnvoyVerify(|_: &[u8]| Ok(b"\x08\x01".to_vec()));
    let no = EnvoyVerify(|_: &[u8]| Ok(Vec::new()));
    assert_eq!(run(&forged, &yes), Ok(()));
    assert_eq!(run(&good, &no), Err(JwtError::BadSignature));
}

#[test]
fn a_failed_call_or_a_garbled_answer_is_checked_in_the_vm() {
    let good = sign(ec(0), &claims(json!({})));
    let forged = tampered(&sign(rsa(), &claims(json!({}))));
    let failing = EnvoyVerify(|_: &[u8]| Err(Unavailable));
    let garbled = EnvoyVerify(|_: &[u8]| Ok(b"\x08".to_vec()));
    for (name, checker) in [
        ("failing", &failing as &dyn SignatureCheck),
        ("garbled", &garbled),
    ] {
        assert_eq!(run(&good, checker), Ok(()), "{name}");
        assert_eq!(run(&forged, checker), Err(JwtError::BadSignature), "{name}");
    }
}

#[test]
fn arguments_are_the_four_fields_in_order() {
    let k = key(rsa());
    let signature = vec![0xab; 256];
    let got = arguments(Alg::Rs256, &k, b"h.p", &signature).unwrap();
    let spki = der::spki(&k.material).unwrap();
    assert_eq!(spki.len(), 294);
    let want = [
        &b"\x0a\x06sha256"[..],
        b"\x12\xa6\x02",
        &spki,
        b"\x1a\x80\x02",
        &signature,
        b"\x22\x03h.p",
    ]
    .concat();
    assert_eq!(got, want);
}

#[test]
fn which_checks_go_to_envoy() {
    let (rsa_key, ec_key, ed_key, p384) = (key(rsa()), key(ec(0)), key(ed()), p384_key());
    let off_curve = PublicKey {
        material: Material::Ec {
            shape: KeyShape::P256,
            x: vec![1; 32],
            y: vec![2; 32],
        },
        ..ec_key.clone()
    };
    let rsa_sig = vec![1u8; 256];
    let cases: &[(Alg, &PublicKey, usize, Option<&str>)] = &[
        (Alg::Rs256, &rsa_key, 256, Some("sha256")),
        (Alg::Rs384, &rsa_key, 256, Some("sha384")),
        (Alg::Rs512, &rsa_key, 256, Some("sha512")),
        (Alg::Es256, &ec_key, 64, Some("sha256")),
        (Alg::Es384, &p384, 96, Some("sha384")),
        (Alg::Ps256, &rsa_key, 256, None),
        (Alg::Ps384, &rsa_key, 256, None),
        (Alg::Ps512, &rsa_key, 256, None),
        (Alg::EdDsa, &ed_key, 64, None),
        (Alg::Es256, &ec_key, 63, None),
        (Alg::Es256, &ec_key, 96, None),
        (Alg::Es384, &p384, 64, None),
        (Alg::Es256, &rsa_key, 64, None),
        (Alg::Rs256, &ec_key, 256, None),
        (Alg::Es256, &off_curve, 64, None),
    ];
    for (alg, key, sig_len, want) in cases {
        let sig = &rsa_sig[..*sig_len];
        let got = arguments(*alg, key, b"h.p", sig);
        let hash = got.as_ref().map(|a| {
            let fields = proto::fields(a).unwrap();
            let Value::Bytes(h) = fields[0].1 else {
                unreachable!()
            };
            String::from_utf8(h.to_vec()).unwrap()
        });
        assert_eq!(hash.as_deref(), *want, "{alg:?} {key:?} {sig_len}");
    }
    assert_eq!(FUNCTION, "verify_signature");
}

#[test]
fn a_wrong_size_es256_signature_does_not_verify() {
    let token = sign(ec(0), &claims(json!({})));
    let (signed, sig) = token.rsplit_once('.').unwrap();
    let raw = b64url(sig.as_bytes()).unwrap();
    let checker = EnvoyVerify(|_: &[u8]| -> Result<Vec<u8>, Unavailable> { panic!("asked Envoy") });
    for bad in [&raw[..63], &[raw.as_slice(), &[0]].concat(), &[]] {
        let got = checker.check(Alg::Es256, &key(ec(0)), signed.as_bytes(), bad);
        assert_eq!(got, Ok(false), "{} bytes", bad.len());
    }
}

#[test]
fn results_read_as_envoy_writes_them() {
    let cases: &[(&str, &[u8], Result<bool, Unavailable>)] = &[
        ("true", b"\x08\x01", Ok(true)),
        ("true, empty error written", b"\x08\x01\x12\x00", Ok(true)),
        ("empty: false", b"", Ok(false)),
        (
            "error only",
            b"\x12\x1aFailed to verify digest. 0",
            Ok(false),
        ),
        ("false written", b"\x08\x00\x12\x01x", Ok(false)),
        ("error first", b"\x12\x01x\x08\x01", Ok(true)),
        (
            "unknown fields",
            b"\x18\x07\x22\x02ab\x08\x01\x2d\x01\x02\x03\x04",
            Ok(true),
        ),
        ("a non-canonical true", b"\x08\x02", Ok(true)),
        ("repeated: the last counts", b"\x08\x01\x08\x00", Ok(false)),
        ("truncated varint", b"\x08", Err(Unavailable)),
        ("truncated error", b"\x08\x01\x12\x05ab", Err(Unavailable)),
        ("result as bytes", b"\x0a\x01\x01", Err(Unavailable)),
        ("error as varint", b"\x10\x01", Err(Unavailable)),
        ("a group", b"\x0b\x0c", Err(Unavailable)),
    ];
    for (name, bytes, want) in cases {
        assert_eq!(result(bytes), *want, "{name}");
    }
}

proptest! {
    #[test]
    fn any_answer_reads_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = result(&bytes);
    }

    #[test]
    fn any_signature_encodes_without_panic(sig in proptest::collection::vec(any::<u8>(), 0..300)) {
        for (alg, k) in [(Alg::Rs256, key(rsa())), (Alg::Es256, key(ec(0)))] {
            let _ = arguments(alg, &k, b"h.p", &sig);
        }
    }
}
