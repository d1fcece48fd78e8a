//! The DER that BoringSSL wants where a JWKS and a JWS have raw numbers: a key as a
//! SubjectPublicKeyInfo (RFC 5280, what `EVP_parse_public_key` reads), and an ECDSA signature as
//! `ECDSA-Sig-Value` (RFC 3279) where JWS has the fixed-width `r || s` (RFC 7518 §3.4). Written by
//! hand: three shapes of SEQUENCE do not justify an ASN.1 crate in the module. BoringSSL parses
//! strictly (minimal lengths and INTEGERs), so that is what is written.

use super::alg::KeyShape;
use super::jwks::Material;

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
/// rsaEncryption (1.2.840.113549.1.1.1), then its NULL parameters.
const RSA_ALGORITHM: &[u8] = b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01\x05\x00";
/// id-ecPublicKey (1.2.840.10045.2.1).
const EC_PUBLIC_KEY: &[u8] = b"\x06\x07\x2a\x86\x48\xce\x3d\x02\x01";
/// prime256v1 (1.2.840.10045.3.1.7).
const P256: &[u8] = b"\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07";
/// secp384r1 (1.3.132.0.34).
const P384: &[u8] = b"\x06\x05\x2b\x81\x04\x00\x22";

/// The key as DER SubjectPublicKeyInfo; `None` for Ed25519 (Envoy cannot check EdDSA) and for
/// material no RSA or EC key can have (an even modulus, coordinates of the wrong size).
pub fn spki(material: &Material) -> Option<Vec<u8>> {
    match material {
        Material::Rsa { n, e } => {
            if n.last().is_none_or(|low| low & 1 == 0) {
                return None;
            }
            let key = tlv(SEQUENCE, &[integer(n), integer(e)].concat());
            Some(info(RSA_ALGORITHM, &[&[0x00], key.as_slice()].concat()))
        }
        Material::Ec { shape, x, y } => {
            let curve = match shape {
                KeyShape::P256 => P256,
                KeyShape::P384 => P384,
                KeyShape::Rsa | KeyShape::Ed25519 => return None,
            };
            if x.len() != coordinate_len(*shape)? || y.len() != x.len() {
                return None;
            }
            let point = [&[0x00, 0x04], x.as_slice(), y.as_slice()].concat();
            Some(info(&[EC_PUBLIC_KEY, curve].concat(), &point))
        }
        Material::Ed25519 { .. } => None,
    }
}

/// A JWS ECDSA signature (`r || s`, each the curve's size) as DER `SEQUENCE { r, s }`; `None`
/// when `raw` is not twice the curve's size, which no signature by that curve's key is.
pub fn ecdsa_signature(shape: KeyShape, raw: &[u8]) -> Option<Vec<u8>> {
    let half = coordinate_len(shape)?;
    if raw.len() != 2 * half {
        return None;
    }
    let (r, s) = raw.split_at(half);
    Some(tlv(SEQUENCE, &[integer(r), integer(s)].concat()))
}

/// Bytes per coordinate (and per half of a signature) on the curve.
fn coordinate_len(shape: KeyShape) -> Option<usize> {
    match shape {
        KeyShape::P256 => Some(32),
        KeyShape::P384 => Some(48),
        KeyShape::Rsa | KeyShape::Ed25519 => None,
    }
}

fn info(algorithm: &[u8], bit_string: &[u8]) -> Vec<u8> {
    let body = [tlv(SEQUENCE, algorithm), tlv(BIT_STRING, bit_string)].concat();
    tlv(SEQUENCE, &body)
}

/// A non-negative big-endian number as a minimal INTEGER: no redundant leading zero byte, and one
/// added where the top bit would otherwise make it negative.
fn integer(unsigned: &[u8]) -> Vec<u8> {
    let start = unsigned
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(unsigned.len());
    let digits = unsigned.get(start..).unwrap_or_default();
    let pad = digits.first().is_none_or(|top| top & 0x80 != 0);
    let content = [if pad { &[0x00][..] } else { &[] }, digits].concat();
    tlv(INTEGER, &content)
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend(bytes.iter().skip(skip));
    }
    out.extend_from_slice(content);
    out
}

#[cfg(test)]
mod tests;
