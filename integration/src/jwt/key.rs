//! One signing key of the test issuer, generated at run time: the private half signs, the public
//! half is published as a JWK.

use super::forge::b64url;
use super::IssuerError;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Value};

/// The key types an issuer can hold, each with the algorithm it signs with by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// RSA 2048, RS256.
    Rsa,
    /// P-256, ES256.
    P256,
    /// Ed25519, EdDSA.
    Ed25519,
}

impl KeyKind {
    pub fn algorithm(self) -> Algorithm {
        match self {
            KeyKind::Rsa => Algorithm::RS256,
            KeyKind::P256 => Algorithm::ES256,
            KeyKind::Ed25519 => Algorithm::EdDSA,
        }
    }
}

pub(crate) struct SigningKey {
    pub kid: String,
    pub kind: KeyKind,
    pub published: bool,
    /// The public JWK, with `kid`, `use: sig` and `alg`.
    pub jwk: Value,
    /// RSA only: the public key as SPKI PEM, the bytes an alg-confusion attacker uses as an HMAC
    /// secret.
    pub public_pem: Option<String>,
    pub encoding: EncodingKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The private key is never printed.
        write!(
            f,
            "SigningKey({}, {:?}, published: {})",
            self.kid, self.kind, self.published
        )
    }
}

fn failed(what: &str, e: impl std::fmt::Display) -> IssuerError {
    IssuerError(format!("{what}: {e}"))
}

impl SigningKey {
    /// A fresh key (RSA generation takes a fraction of a second with the workspace's optimised
    /// big-number crates; seconds without).
    pub fn generate(kind: KeyKind, kid: &str) -> Result<Self, IssuerError> {
        let mut rng = rand::thread_rng();
        let alg = format!("{:?}", kind.algorithm());
        let (jwk, public_pem, encoding) = match kind {
            KeyKind::Rsa => {
                use rsa::pkcs1::EncodeRsaPrivateKey;
                use rsa::pkcs8::{EncodePublicKey, LineEnding};
                use rsa::traits::PublicKeyParts;
                let private = rsa::RsaPrivateKey::new(&mut rng, 2048)
                    .map_err(|e| failed("generating an RSA key", e))?;
                let der = private
                    .to_pkcs1_der()
                    .map_err(|e| failed("encoding an RSA key", e))?;
                let pem = private
                    .to_public_key()
                    .to_public_key_pem(LineEnding::LF)
                    .map_err(|e| failed("encoding an RSA public key", e))?;
                let jwk = json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": alg,
                    "n": b64url(&private.n().to_bytes_be()), "e": b64url(&private.e().to_bytes_be())});
                (jwk, Some(pem), EncodingKey::from_rsa_der(der.as_bytes()))
            }
            KeyKind::P256 => {
                use p256::elliptic_curve::sec1::ToEncodedPoint;
                use p256::pkcs8::EncodePrivateKey;
                let secret = p256::SecretKey::random(&mut rng);
                let point = secret.public_key().to_encoded_point(false);
                let (Some(x), Some(y)) = (point.x(), point.y()) else {
                    return Err(IssuerError("a P-256 point without coordinates".into()));
                };
                let der = secret
                    .to_pkcs8_der()
                    .map_err(|e| failed("encoding a P-256 key", e))?;
                let jwk = json!({"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": alg,
                    "x": b64url(x), "y": b64url(y)});
                (jwk, None, EncodingKey::from_ec_der(der.as_bytes()))
            }
            KeyKind::Ed25519 => {
                use ed25519_dalek::pkcs8::EncodePrivateKey;
                let signing = ed25519_dalek::SigningKey::generate(&mut rng);
                let der = signing
                    .to_pkcs8_der()
                    .map_err(|e| failed("encoding an Ed25519 key", e))?;
                let jwk = json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "use": "sig", "alg": alg,
                    "x": b64url(signing.verifying_key().as_bytes())});
                (jwk, None, EncodingKey::from_ed_der(der.as_bytes()))
            }
        };
        Ok(SigningKey {
            kid: kid.to_string(),
            kind,
            published: true,
            jwk,
            public_pem,
            encoding,
        })
    }
}
