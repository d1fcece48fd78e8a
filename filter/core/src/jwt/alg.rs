//! The signature algorithms mesh-authz accepts: the asymmetric ones of jsonwebtoken's RustCrypto
//! backend. `none` is never accepted, and neither is HMAC: a proxy holding the issuer's shared
//! secret could mint tokens, and an HMAC check with a public key as the secret is the classic
//! `alg` confusion. Each algorithm names the one key shape it verifies with.
//!
//! Only the algorithms Envoy's `verify_signature` checks (outside the VM) are accepted by default:
//! PS* and EdDSA are checked inside the VM, where one RSA-PSS check costs about a millisecond of a
//! worker's CPU, so a flood of forged tokens could saturate a worker. They must be listed.

use std::fmt;

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
    EdDsa,
}

/// The key shape an algorithm needs (`kty`, and `crv` where there is one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyShape {
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl Alg {
    pub const ALL: [Alg; 9] = [
        Alg::Rs256,
        Alg::Rs384,
        Alg::Rs512,
        Alg::Ps256,
        Alg::Ps384,
        Alg::Ps512,
        Alg::Es256,
        Alg::Es384,
        Alg::EdDsa,
    ];

    /// A provider's `algorithms` when it lists none: those Envoy's `verify_signature` checks.
    pub const DEFAULT: [Alg; 5] = [Alg::Rs256, Alg::Rs384, Alg::Rs512, Alg::Es256, Alg::Es384];

    /// Whether the signature is always checked inside the VM (no Envoy checker takes it).
    pub fn in_vm(self) -> bool {
        !Alg::DEFAULT.contains(&self)
    }

    /// The JOSE name (RFC 7518).
    pub fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Rs384 => "RS384",
            Alg::Rs512 => "RS512",
            Alg::Ps256 => "PS256",
            Alg::Ps384 => "PS384",
            Alg::Ps512 => "PS512",
            Alg::Es256 => "ES256",
            Alg::Es384 => "ES384",
            Alg::EdDsa => "EdDSA",
        }
    }

    /// Exact, case-sensitive, as RFC 7515 compares `alg`.
    pub fn from_name(name: &str) -> Option<Alg> {
        Alg::ALL.into_iter().find(|a| a.name() == name)
    }

    pub fn key_shape(self) -> KeyShape {
        match self {
            Alg::Rs256 | Alg::Rs384 | Alg::Rs512 | Alg::Ps256 | Alg::Ps384 | Alg::Ps512 => {
                KeyShape::Rsa
            }
            Alg::Es256 => KeyShape::P256,
            Alg::Es384 => KeyShape::P384,
            Alg::EdDsa => KeyShape::Ed25519,
        }
    }

    pub(crate) fn jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        use jsonwebtoken::Algorithm as A;
        match self {
            Alg::Rs256 => A::RS256,
            Alg::Rs384 => A::RS384,
            Alg::Rs512 => A::RS512,
            Alg::Ps256 => A::PS256,
            Alg::Ps384 => A::PS384,
            Alg::Ps512 => A::PS512,
            Alg::Es256 => A::ES256,
            Alg::Es384 => A::ES384,
            Alg::EdDsa => A::EdDSA,
        }
    }
}

impl fmt::Debug for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a configured or presented `alg` name is refused; `None` when it is supported.
pub fn refusal(name: &str) -> Option<&'static str> {
    if Alg::from_name(name).is_some() {
        None
    } else if name.eq_ignore_ascii_case("none") {
        Some("'none' (an unsigned token) is never accepted")
    } else if name.starts_with("HS") {
        Some("HMAC algorithms need the issuer's shared secret, which mesh-authz does not take; use an asymmetric algorithm")
    } else {
        Some("not a supported algorithm (RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_refusals_say_why() {
        for a in Alg::ALL {
            assert_eq!(Alg::from_name(a.name()), Some(a));
            assert_eq!(refusal(a.name()), None);
        }
        let cases: &[(&str, &str)] = &[
            ("none", "never accepted"),
            ("None", "never accepted"),
            ("HS256", "shared secret"),
            ("HS512", "shared secret"),
            ("rs256", "not a supported"),
            ("ES512", "not a supported"),
            ("", "not a supported"),
        ];
        for (name, why) in cases {
            assert!(refusal(name).is_some_and(|r| r.contains(why)), "{name}");
        }
    }

    /// The default must be exactly what Envoy's checker takes, or a default algorithm would be
    /// checked in the VM (the cost the default exists to avoid).
    #[test]
    fn the_default_is_what_envoy_checks() {
        for a in Alg::ALL {
            let envoy = crate::jwt::envoy_verify::hash(a).is_some();
            assert_eq!(Alg::DEFAULT.contains(&a), envoy, "{a:?}");
            assert_eq!(a.in_vm(), !envoy, "{a:?}");
        }
    }
}
