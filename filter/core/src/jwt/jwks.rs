//! A JSON Web Key Set (RFC 7517) reduced to the public keys a token may be checked with. A key that
//! cannot be used (symmetric, for encryption, an RSA modulus outside 2048 to 4096 bits, an unknown
//! curve or `alg`) is skipped with a reason, so that one odd key in an issuer's set does not take
//! the others down; `oct` keys are never kept, so no key can become an HMAC secret.

use super::alg::{Alg, KeyShape};
use super::strict;
use serde_json::{Map, Value};
use std::fmt;

/// Largest JWKS document read.
pub const MAX_JWKS_BYTES: usize = 256 << 10;
pub const MIN_RSA_BITS: usize = 2048;
pub const MAX_RSA_BITS: usize = 4096;

#[derive(Clone, PartialEq, Eq, Default)]
pub struct KeySet {
    keys: Vec<PublicKey>,
}

#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub kid: Option<String>,
    /// The key's own `alg`, when it names one: then it verifies only that one.
    pub alg: Option<Alg>,
    pub material: Material,
}

/// Public key material, decoded from base64url (big-endian integers, leading zeros removed).
#[derive(Clone, PartialEq, Eq)]
pub enum Material {
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// P-256 (32-byte coordinates) or P-384 (48).
    Ec {
        shape: KeyShape,
        x: Vec<u8>,
        y: Vec<u8>,
    },
    Ed25519 {
        x: [u8; 32],
    },
}

impl Material {
    pub fn shape(&self) -> KeyShape {
        match self {
            Material::Rsa { .. } => KeyShape::Rsa,
            Material::Ec { shape, .. } => *shape,
            Material::Ed25519 { .. } => KeyShape::Ed25519,
        }
    }
}

/// A key left out of a set: its position in `keys` and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skipped {
    pub index: usize,
    pub reason: &'static str,
}

/// Why a whole document was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JwksError(pub &'static str);

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl KeySet {
    /// Parses a JWKS document; the keys that cannot be used come back in the list of skipped.
    pub fn parse(bytes: &[u8]) -> Result<(KeySet, Vec<Skipped>), JwksError> {
        if bytes.len() > MAX_JWKS_BYTES {
            return Err(JwksError("larger than 256 KiB"));
        }
        let doc =
            strict::object(bytes).ok_or(JwksError("not a JSON object with unique member names"))?;
        let Some(Value::Array(items)) = doc.get("keys") else {
            return Err(JwksError("has no \"keys\" array"));
        };
        let mut keys = Vec::new();
        let mut skipped = Vec::new();
        for (index, item) in items.iter().enumerate() {
            match item.as_object().ok_or("not an object").and_then(key) {
                Ok(k) => keys.push(k),
                Err(reason) => skipped.push(Skipped { index, reason }),
            }
        }
        Ok((KeySet { keys }, skipped))
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The keys `alg` may be checked with: the right `kty`/`crv`, and the key's `alg` if it has one.
    pub fn fitting(&self, alg: Alg) -> impl Iterator<Item = &PublicKey> {
        self.keys.iter().filter(move |k| {
            k.material.shape() == alg.key_shape() && k.alg.is_none_or(|a| a == alg)
        })
    }

    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// Feeds every key into `k`: two VMs holding the same keys get the same digest.
    pub fn digest_into(&self, k: &mut crate::key::KeyBuilder) {
        k.field(&(self.keys.len() as u64).to_le_bytes());
        for key in &self.keys {
            k.field(key.kid.as_deref().unwrap_or("").as_bytes())
                .field(key.alg.map_or("", Alg::name).as_bytes());
            match &key.material {
                Material::Rsa { n, e } => k.field(b"RSA").field(n).field(e),
                Material::Ec { x, y, .. } => k.field(b"EC").field(x).field(y),
                Material::Ed25519 { x } => k.field(b"OKP").field(x),
            };
        }
    }
}

fn text<'a>(jwk: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, &'static str> {
    match jwk.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err("a member that must be a string is not"),
    }
}

fn bytes(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, &'static str> {
    let t = text(jwk, name)?.ok_or("a required key member is missing")?;
    strict::b64url(t.as_bytes()).ok_or("a key member is not base64url")
}

fn key(jwk: &Map<String, Value>) -> Result<PublicKey, &'static str> {
    if text(jwk, "use")?.is_some_and(|u| u != "sig") {
        return Err("\"use\" is not \"sig\"");
    }
    if let Some(ops) = jwk.get("key_ops") {
        let verify = ops
            .as_array()
            .is_some_and(|ops| ops.iter().any(|o| o.as_str() == Some("verify")));
        if !verify {
            return Err("\"key_ops\" does not include \"verify\"");
        }
    }
    let alg = match text(jwk, "alg")? {
        None => None,
        Some(name) => Some(Alg::from_name(name).ok_or("\"alg\" is not a supported algorithm")?),
    };
    let kid = text(jwk, "kid")?.map(str::to_string);
    let material = match text(jwk, "kty")? {
        Some("RSA") => rsa(jwk)?,
        Some("EC") => {
            let (shape, len) = match text(jwk, "crv")? {
                Some("P-256") => (KeyShape::P256, 32),
                Some("P-384") => (KeyShape::P384, 48),
                _ => return Err("EC curve is not P-256 or P-384"),
            };
            let (x, y) = (bytes(jwk, "x")?, bytes(jwk, "y")?);
            if x.len() != len || y.len() != len {
                return Err("EC coordinates are not the curve's size");
            }
            Material::Ec { shape, x, y }
        }
        Some("OKP") => {
            if text(jwk, "crv")? != Some("Ed25519") {
                return Err("OKP curve is not Ed25519");
            }
            let x = bytes(jwk, "x")?
                .try_into()
                .map_err(|_| "Ed25519 key is not 32 bytes")?;
            Material::Ed25519 { x }
        }
        Some("oct") => return Err("symmetric keys are never used"),
        _ => return Err("\"kty\" is not RSA, EC or OKP"),
    };
    if alg.is_some_and(|a| a.key_shape() != material.shape()) {
        return Err("\"alg\" does not fit the key type");
    }
    Ok(PublicKey { kid, alg, material })
}

fn rsa(jwk: &Map<String, Value>) -> Result<Material, &'static str> {
    let n = trimmed(bytes(jwk, "n")?);
    let e = trimmed(bytes(jwk, "e")?);
    let bits = n.first().map_or(0, |top| {
        (n.len() - 1) * 8 + (8 - top.leading_zeros() as usize)
    });
    if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
        return Err("RSA modulus is not 2048 to 4096 bits");
    }
    // The exponent as the RustCrypto backend takes it: odd, 3 to 2^33 - 1.
    let e_value = e.iter().try_fold(0u64, |acc, b| {
        (acc < 1 << 56).then(|| (acc << 8) | u64::from(*b))
    });
    if !e_value.is_some_and(|v| (3..1 << 33).contains(&v) && v % 2 == 1) {
        return Err("RSA exponent is not an odd number from 3 to 2^33");
    }
    Ok(Material::Rsa { n, e })
}

fn trimmed(mut v: Vec<u8>) -> Vec<u8> {
    let zeros = v.iter().take_while(|b| **b == 0).count();
    v.drain(..zeros);
    v
}

/// Key ids and shapes only: enough to correlate with the issuer's document.
impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.keys).finish()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.material.shape())?;
        if let Some(kid) = &self.kid {
            write!(f, " kid={kid:?}")?;
        }
        if let Some(alg) = self.alg {
            write!(f, " alg={alg:?}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
