//! A token issuer for tests: keys generated at run time, a JWKS of the ones it publishes, honest
//! tokens, and the forged ones an attacker would send.

use super::claims::{now, Claims, Kid};
use super::forge::{b64url, tamper};
use super::key::{KeyKind, SigningKey};
use super::IssuerError;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Map, Value};

#[derive(Debug)]
pub struct Issuer {
    iss: String,
    /// In the order added; the first published one signs unless a token says otherwise.
    keys: Vec<SigningKey>,
}

impl Issuer {
    /// An issuer named `iss` (the tokens' `iss`), with no key yet.
    pub fn new(iss: &str) -> Self {
        Issuer {
            iss: iss.to_string(),
            keys: Vec::new(),
        }
    }

    pub fn iss(&self) -> &str {
        &self.iss
    }

    /// Generates a key and publishes it. A `kid` already used is refused.
    pub fn add_key(&mut self, kind: KeyKind, kid: &str) -> Result<&mut Self, IssuerError> {
        if self.keys.iter().any(|k| k.kid == kid) {
            return Err(IssuerError(format!("kid {kid} is already used")));
        }
        self.keys.push(SigningKey::generate(kind, kid)?);
        Ok(self)
    }

    /// Puts key `kid` in the JWKS (again): a rotation's new key.
    pub fn publish(&mut self, kid: &str) -> Result<&mut Self, IssuerError> {
        self.key_mut(kid)?.published = true;
        Ok(self)
    }

    /// Takes key `kid` out of the JWKS; it still signs when a token asks for it: a retired key,
    /// or one the relying party never heard of.
    pub fn unpublish(&mut self, kid: &str) -> Result<&mut Self, IssuerError> {
        self.key_mut(kid)?.published = false;
        Ok(self)
    }

    pub fn is_published(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid == kid && k.published)
    }

    /// Every key's kid, published or not, in the order added.
    pub fn kids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.kid.as_str()).collect()
    }

    /// The public JWK of key `kid`.
    pub fn jwk(&self, kid: &str) -> Option<&Value> {
        self.key(kid).ok().map(|k| &k.jwk)
    }

    /// The JWKS document of the published keys: `{"keys": [...]}`.
    pub fn jwks(&self) -> String {
        let keys: Vec<&Value> = self
            .keys
            .iter()
            .filter(|k| k.published)
            .map(|k| &k.jwk)
            .collect();
        json!({ "keys": keys }).to_string()
    }

    /// The SPKI PEM of RSA key `kid`.
    pub fn public_pem(&self, kid: &str) -> Option<&str> {
        self.key(kid).ok().and_then(|k| k.public_pem.as_deref())
    }

    /// A token with `claims`, signed as they say (by default: the first published key, its
    /// algorithm, its kid in the header).
    pub fn token(&self, claims: &Claims) -> Result<String, IssuerError> {
        let key = self.signer(claims)?;
        let alg = claims.alg.unwrap_or(key.kind.algorithm());
        if !same_family(key.kind, alg) {
            return Err(IssuerError(format!(
                "a {:?} key cannot sign {alg:?}",
                key.kind
            )));
        }
        let header = header(claims, Some(key), &alg_name(alg));
        self.sign(&header, claims, &key.encoding, alg)
    }

    /// `alg: none` and an empty signature, the kid as `claims` say.
    pub fn alg_none(&self, claims: &Claims) -> Result<String, IssuerError> {
        let header = header(claims, self.signer(claims).ok(), "none");
        let payload = claims.payload_at(&self.iss, now());
        Ok(format!(
            "{}.{}.",
            b64url(header.to_string().as_bytes()),
            b64url(payload.to_string().as_bytes())
        ))
    }

    /// Algorithm confusion: the header says HS256 (and names the RSA key's kid), the signature is
    /// an HMAC keyed with that RSA key's public PEM, which a verifier that lets the token choose
    /// the algorithm would accept.
    pub fn alg_confusion(&self, claims: &Claims) -> Result<String, IssuerError> {
        let key = self.signer(claims)?;
        let Some(pem) = key.public_pem.as_deref() else {
            return Err(IssuerError(format!("key {} is no RSA key", key.kid)));
        };
        self.alg_confusion_with(claims, pem.as_bytes())
    }

    /// As `alg_confusion`, with any bytes as the HMAC secret (e.g. the JWK's JSON or the DER).
    pub fn alg_confusion_with(
        &self,
        claims: &Claims,
        secret: &[u8],
    ) -> Result<String, IssuerError> {
        let header = header(claims, self.signer(claims).ok(), "HS256");
        let hmac = EncodingKey::from_secret(secret);
        self.sign(&header, claims, &hmac, Algorithm::HS256)
    }

    /// A valid token whose payload `edit` then changes, the signature kept: tampered in transit.
    pub fn tampered(
        &self,
        claims: &Claims,
        edit: impl FnOnce(&mut Map<String, Value>),
    ) -> Result<String, IssuerError> {
        tamper(&self.token(claims)?, edit)
    }

    fn sign(
        &self,
        header: &Value,
        claims: &Claims,
        key: &EncodingKey,
        alg: Algorithm,
    ) -> Result<String, IssuerError> {
        let payload = claims.payload_at(&self.iss, now());
        let message = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(payload.to_string().as_bytes())
        );
        let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, alg)
            .map_err(|e| IssuerError(format!("signing: {e}")))?;
        Ok(format!("{message}.{signature}"))
    }

    fn signer(&self, claims: &Claims) -> Result<&SigningKey, IssuerError> {
        match &claims.key {
            Some(kid) => self.key(kid),
            None => self
                .keys
                .iter()
                .find(|k| k.published)
                .ok_or_else(|| IssuerError(format!("issuer {} publishes no key", self.iss))),
        }
    }

    fn key(&self, kid: &str) -> Result<&SigningKey, IssuerError> {
        self.keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or_else(|| IssuerError(format!("no key {kid}")))
    }

    fn key_mut(&mut self, kid: &str) -> Result<&mut SigningKey, IssuerError> {
        self.keys
            .iter_mut()
            .find(|k| k.kid == kid)
            .ok_or_else(|| IssuerError(format!("no key {kid}")))
    }
}

/// `{"alg", "typ": "JWT", "kid"}` as `claims` choose, then their extra members.
fn header(claims: &Claims, key: Option<&SigningKey>, alg: &str) -> Value {
    let mut h = Map::new();
    h.insert(
        "alg".into(),
        claims.header_alg.as_deref().unwrap_or(alg).into(),
    );
    h.insert("typ".into(), "JWT".into());
    let kid = match &claims.kid {
        Kid::OfKey => key.map(|k| k.kid.clone()),
        Kid::Absent => None,
        Kid::Named(kid) => Some(kid.clone()),
    };
    if let Some(kid) = kid {
        h.insert("kid".into(), kid.into());
    }
    for (name, value) in &claims.header_extra {
        h.insert(name.clone(), value.clone());
    }
    Value::Object(h)
}

fn alg_name(alg: Algorithm) -> String {
    match serde_json::to_value(alg) {
        Ok(Value::String(s)) => s,
        _ => format!("{alg:?}"),
    }
}

fn same_family(kind: KeyKind, alg: Algorithm) -> bool {
    use Algorithm as A;
    match kind {
        KeyKind::Rsa => matches!(
            alg,
            A::RS256 | A::RS384 | A::RS512 | A::PS256 | A::PS384 | A::PS512
        ),
        KeyKind::P256 => alg == A::ES256,
        KeyKind::Ed25519 => alg == A::EdDSA,
    }
}
