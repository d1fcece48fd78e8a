//! The JWT variants: who checks the token (Envoy's own `jwt_authn`, without and with its token
//! cache, or mesh-authz in gate or authenticate mode) times which tokens the load sends (a new
//! RS256 token on every request, one token repeated, users drawn from a Zipf law, or forged
//! tokens an anonymous client can send for free: a random signature and no `kid`).

use mesh_authz_integration::jwt::{EXAMPLE_AUDIENCE, EXAMPLE_ISSUER};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Checker {
    /// Envoy's `jwt_authn` filter, every token checked (`integration/envoy/jwt-authn.yaml`).
    JwtAuthn,
    /// The same with `jwt_cache_config`: verified tokens kept, as mesh-authz keeps them.
    JwtAuthnCached,
    /// mesh-authz `jwt.mode: gate`: a valid token goes on to the auth service (decision cached).
    Gate,
    /// mesh-authz `jwt.mode: authenticate`: a valid token is allowed locally, no auth service.
    Authenticate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenLoad {
    /// Every request carries a token the Envoy has never seen: each one is a signature check.
    New,
    /// One token on every request.
    Repeated,
    /// `JwtWorkload::users` tokens, rank k drawn with weight 1/k^s (`MixedWorkload::zipf_s`).
    Zipf,
    /// A new forged RS256 token on every request: valid claims, no `kid`, a random signature
    /// (below the modulus, so that the check runs to the end). Every answer is 401.
    ForgedRs256,
    /// The same as PS256, with the provider listing PS256: the signature is checked in the VM.
    ForgedPs256,
}

impl TokenLoad {
    /// A token nobody signed: the answer is 401 and never reaches a cache as an allow.
    pub fn is_forged(self) -> bool {
        matches!(self, TokenLoad::ForgedRs256 | TokenLoad::ForgedPs256)
    }

    /// Each request carries a token never sent before.
    pub fn is_new_each(self) -> bool {
        matches!(self, TokenLoad::New) || self.is_forged()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct JwtVariant {
    pub checker: Checker,
    pub load: TokenLoad,
}

const fn jv(checker: Checker, load: TokenLoad) -> JwtVariant {
    JwtVariant { checker, load }
}

/// Every JWT variant, in the order they are booted and measured.
pub const JWT: [JwtVariant; 14] = [
    jv(Checker::JwtAuthn, TokenLoad::New),
    jv(Checker::JwtAuthn, TokenLoad::Repeated),
    jv(Checker::JwtAuthn, TokenLoad::Zipf),
    jv(Checker::JwtAuthnCached, TokenLoad::New),
    jv(Checker::JwtAuthnCached, TokenLoad::Repeated),
    jv(Checker::JwtAuthnCached, TokenLoad::Zipf),
    jv(Checker::Gate, TokenLoad::New),
    jv(Checker::Gate, TokenLoad::Repeated),
    jv(Checker::Gate, TokenLoad::Zipf),
    jv(Checker::Authenticate, TokenLoad::New),
    jv(Checker::Authenticate, TokenLoad::Repeated),
    jv(Checker::Authenticate, TokenLoad::Zipf),
    jv(Checker::Authenticate, TokenLoad::ForgedRs256),
    jv(Checker::Authenticate, TokenLoad::ForgedPs256),
];

/// Names and labels by `[checker][load]`, so that both are `&'static str` like the other
/// variants'. Forged tokens are measured with mesh-authz in authenticate mode only (`JWT`); the
/// other checkers' names are there so that every pair has one.
const NAMES: [[&str; 5]; 4] = [
    [
        "jwt_authn_new",
        "jwt_authn_repeated",
        "jwt_authn_zipf",
        "jwt_authn_forged_rs256",
        "jwt_authn_forged_ps256",
    ],
    [
        "jwt_authn_cached_new",
        "jwt_authn_cached_repeated",
        "jwt_authn_cached_zipf",
        "jwt_authn_cached_forged_rs256",
        "jwt_authn_cached_forged_ps256",
    ],
    [
        "jwt_gate_new",
        "jwt_gate_repeated",
        "jwt_gate_zipf",
        "jwt_gate_forged_rs256",
        "jwt_gate_forged_ps256",
    ],
    [
        "jwt_authenticate_new",
        "jwt_authenticate_repeated",
        "jwt_authenticate_zipf",
        "jwt_authenticate_forged_rs256",
        "jwt_authenticate_forged_ps256",
    ],
];
const LABELS: [[&str; 5]; 4] = [
    [
        "jwt_authn, new RS256 token each",
        "jwt_authn, one token repeated",
        "jwt_authn, Zipf tokens",
        "jwt_authn, forged RS256 each",
        "jwt_authn, forged PS256 each",
    ],
    [
        "jwt_authn+cache, new token each",
        "jwt_authn+cache, token repeated",
        "jwt_authn+cache, Zipf tokens",
        "jwt_authn+cache, forged RS256",
        "jwt_authn+cache, forged PS256",
    ],
    [
        "mesh-authz gate, new token each",
        "mesh-authz gate, token repeated",
        "mesh-authz gate, Zipf tokens",
        "mesh-authz gate, forged RS256",
        "mesh-authz gate, forged PS256",
    ],
    [
        "mesh-authz authn, new token each",
        "mesh-authz authn, token repeated",
        "mesh-authz authn, Zipf tokens",
        "mesh-authz authn, forged RS256 no kid",
        "mesh-authz authn, forged PS256 no kid",
    ],
];

/// `jwt_cache_size` of the cached jwt_authn variant: mesh-authz's token cache holds as many per
/// VM (`TOKEN_CACHE_ENTRIES`), so both caches hold the same users.
pub const JWT_AUTHN_CACHE_SIZE: u32 = 10_000;

impl JwtVariant {
    pub fn name(self) -> &'static str {
        NAMES
            .get(self.checker as usize)
            .and_then(|r| r.get(self.load as usize))
            .copied()
            .unwrap_or("jwt")
    }

    pub fn label(self) -> &'static str {
        LABELS
            .get(self.checker as usize)
            .and_then(|r| r.get(self.load as usize))
            .copied()
            .unwrap_or("jwt")
    }

    pub fn is_mesh_authz(self) -> bool {
        matches!(self.checker, Checker::Gate | Checker::Authenticate)
    }
}

/// Sizes of the JWT workloads. Every token is signed (RS256, ~1.5 ms of CPU each) before the
/// first measurement, so the new-token windows are bounded by a token count as well as by time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct JwtWorkload {
    /// New-token variants: tokens (= requests) at most in each round's window ...
    pub new_per_window: u64,
    /// ... and in its warm-up. Rounds never share a token, so an Envoy never sees one twice.
    pub new_per_warmup: u64,
    /// Zipf variants: distinct users, one token each.
    pub users: usize,
}

impl JwtWorkload {
    pub fn for_mode(mode: &str) -> JwtWorkload {
        let (new_per_window, new_per_warmup, users) = match mode {
            "smoke" => (1_000, 200, 1_000),
            "check" => (4_000, 400, 5_000),
            // The mixed workload's 20 000 users: twice what either token cache holds.
            _ => (10_000, 1_000, 20_000),
        };
        JwtWorkload {
            new_per_window,
            new_per_warmup,
            users,
        }
    }
}

/// The mesh-authz plugin's `jwt` object for `checker`: the tokens' issuer and audience, the
/// benchmark's keys inline (as jwt_authn gets them in `local_jwks`), and in authenticate mode
/// `sub` as `x-user-id` (as jwt_authn's `claim_to_headers`). The forged PS256 load's provider
/// lists PS256 (beside RS256, the valid tokens' algorithm): it is accepted only when listed.
pub fn plugin_jwt(j: JwtVariant, jwks: &str) -> Value {
    let (mode, claim_headers) = if j.checker == Checker::Authenticate {
        ("authenticate", Some(json!({"sub": "x-user-id"})))
    } else {
        ("gate", None)
    };
    let mut provider = serde_json::Map::new();
    provider.insert("name".into(), "bench".into());
    provider.insert("issuer".into(), EXAMPLE_ISSUER.into());
    provider.insert("audiences".into(), json!([EXAMPLE_AUDIENCE]));
    if j.load == TokenLoad::ForgedPs256 {
        provider.insert("algorithms".into(), json!(["RS256", "PS256"]));
        provider.insert("jwks".into(), json!({"inline": unpinned(jwks)}));
    } else {
        provider.insert("jwks".into(), json!({"inline": jwks}));
    }
    if let Some(c) = claim_headers {
        provider.insert("claimHeaders".into(), c);
    }
    json!({"mode": mode, "providers": [provider]})
}

/// `jwks` with no key pinned to one `alg`. The benchmark's issuer pins RS256 on its key, which
/// refuses a PS256 token before any check: the forged PS256 load would measure nothing. Many
/// issuers leave `alg` out, and then every algorithm of the key's type is checked.
fn unpinned(jwks: &str) -> String {
    let Ok(mut doc) = serde_json::from_str::<Value>(jwks) else {
        return jwks.to_string();
    };
    if let Some(keys) = doc.get_mut("keys").and_then(Value::as_array_mut) {
        for key in keys.iter_mut().filter_map(Value::as_object_mut) {
            key.remove("alg");
        }
    }
    doc.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_variant_has_its_own_name_and_label() {
        let names: BTreeSet<&str> = JWT.iter().map(|v| v.name()).collect();
        let labels: BTreeSet<&str> = JWT.iter().map(|v| v.label()).collect();
        assert_eq!((names.len(), labels.len()), (14, 14));
        let every_name: BTreeSet<&str> = NAMES.iter().flatten().copied().collect();
        let every_label: BTreeSet<&str> = LABELS.iter().flatten().copied().collect();
        assert_eq!((every_name.len(), every_label.len()), (20, 20));
        assert!(!names.contains("jwt") && !labels.contains("jwt"));
        assert_eq!(
            jv(Checker::JwtAuthnCached, TokenLoad::Zipf).name(),
            "jwt_authn_cached_zipf"
        );
        assert_eq!(
            jv(Checker::Authenticate, TokenLoad::New).name(),
            "jwt_authenticate_new"
        );
        assert_eq!(
            jv(Checker::Authenticate, TokenLoad::ForgedPs256).name(),
            "jwt_authenticate_forged_ps256"
        );
        assert_eq!(JWT.iter().filter(|v| v.is_mesh_authz()).count(), 8);
        assert!(JWT
            .iter()
            .filter(|v| v.load.is_forged())
            .all(|v| v.checker == Checker::Authenticate));
    }

    #[test]
    fn plugin_jwt_by_mode() {
        let gate = plugin_jwt(jv(Checker::Gate, TokenLoad::New), "{\"keys\":[]}");
        assert_eq!(gate["mode"], "gate");
        assert_eq!(gate["providers"][0]["jwks"]["inline"], "{\"keys\":[]}");
        assert!(gate["providers"][0].get("claimHeaders").is_none());
        assert!(gate["providers"][0].get("algorithms").is_none());
        let authn = plugin_jwt(jv(Checker::Authenticate, TokenLoad::Zipf), "{}");
        assert_eq!(authn["mode"], "authenticate");
        assert_eq!(authn["providers"][0]["claimHeaders"]["sub"], "x-user-id");
        assert_eq!(authn["providers"][0]["issuer"], EXAMPLE_ISSUER);
        // PS256 is checked in the VM and only when listed: its forged load lists it.
        let pinned = r#"{"keys":[{"kty":"RSA","kid":"k","alg":"RS256","n":"x","e":"AQAB"}]}"#;
        let ps = plugin_jwt(jv(Checker::Authenticate, TokenLoad::ForgedPs256), pinned);
        assert_eq!(ps["providers"][0]["algorithms"], json!(["RS256", "PS256"]));
        let inline: Value =
            serde_json::from_str(ps["providers"][0]["jwks"]["inline"].as_str().unwrap()).unwrap();
        assert_eq!(inline["keys"][0]["kid"], "k");
        assert!(
            inline["keys"][0].get("alg").is_none(),
            "PS256 must reach the check"
        );
        let rs = plugin_jwt(jv(Checker::Authenticate, TokenLoad::ForgedRs256), "{}");
        assert!(rs["providers"][0].get("algorithms").is_none());
    }
}
