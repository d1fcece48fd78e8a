//! The things measured side by side, and what each one needs: which bootstrap, which plugin JSON,
//! which credentials the load sends, how long the auth service takes per check. The JWT variants'
//! own knobs are in `jwt_variant`.

use crate::jwt_variant::{self, Checker, JwtVariant, TokenLoad};
use mesh_authz_integration::{envoy, paths, HarnessError};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    /// No auth filter: the limit.
    Passthrough,
    /// mesh-authz with a bypass rule matching every request: the cost of entering wasm at all.
    Bypass,
    /// mesh-authz, one credential repeated: every request after the first is a cache hit.
    Hit,
    /// mesh-authz with the cache off: every request calls out.
    CacheOff,
    /// mesh-authz, many credentials drawn from a Zipf law, realistic TTL.
    Mixed,
    /// The legacy Lua filter mesh-authz replaces: every request calls out.
    Lua,
    /// Envoy's native ext_authz, HTTP mode, same auth service: every request calls out.
    ExtAuthz,
    /// `Mixed` with an auth service that takes 2 ms per check (a database or Redis lookup).
    Mixed2ms,
    /// `Lua` with the 2 ms auth service.
    Lua2ms,
    /// `ExtAuthz` with the 2 ms auth service.
    ExtAuthz2ms,
    /// A JWT checker under one token load (`jwt_variant::JWT`).
    Jwt(JwtVariant),
    /// `Hit` with the repeated JWT as its credential and no token checks: the request bytes of
    /// `jwt_gate_repeated`, so that the difference between the two is the token check alone
    /// (a JWT is some 500 bytes of header that Envoy parses and forwards whoever checks it).
    HitJwt,
    /// Envoy's native ext_authz in gRPC mode against the test gRPC auth service: every request
    /// calls out. This and the three below are measured by the instruction count only (the timed
    /// bench runs no gRPC service), so none of them is in `parse`.
    ExtAuthzGrpc,
    /// mesh-authz asking the test gRPC auth service (`authService.protocol: grpc`), cache off.
    GrpcCacheOff,
    /// mesh-authz in gRPC mode, one credential repeated: cache hits.
    GrpcHit,
    /// `Hit` with a `revocation` block following the example service's feed.
    HitRevocation,
}

/// The revocation block of `HitRevocation`: the example service's feed, read once a minute (the
/// most the filter allows) so that a feed read, a cost per interval and not per request, seldom
/// falls into a measured window; the read's timeout raised as every callout's is under Valgrind.
pub fn revocation_block() -> serde_json::Value {
    serde_json::json!({
        "subjectHeader": "x-user-id",
        "path": "/revocations",
        "intervalMs": 60000,
        "timeoutMs": 5000,
        "maxStaleSeconds": 300
    })
}

pub const ALL: [Variant; 7] = [
    Variant::Passthrough,
    Variant::Bypass,
    Variant::Hit,
    Variant::CacheOff,
    Variant::Mixed,
    Variant::Lua,
    Variant::ExtAuthz,
];

/// The variants with a realistic auth service (2 ms a check); not in `all`, so the smoke run and the
/// gate keep their length. `make bench-2ms` runs them beside passthrough.
pub const AUTH_2MS: [Variant; 3] = [Variant::Mixed2ms, Variant::Lua2ms, Variant::ExtAuthz2ms];

/// What the 2 ms variants' auth service takes per check.
pub const SLOW_AUTH: Duration = Duration::from_millis(2);

/// The JWT variants and `HitJwt`, booted beside the others in `make bench` and
/// `make bench-smoke` (`--cases jwt`); not in `all`, so `make bench-check` keeps its length.
pub fn jwt() -> impl Iterator<Item = Variant> {
    jwt_variant::JWT
        .into_iter()
        .map(Variant::Jwt)
        .chain(std::iter::once(Variant::HitJwt))
}

/// How the load picks its credential for each request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Credentials {
    /// The same token on every request.
    One,
    /// One of `users` tokens, rank k drawn with weight 1/k^s.
    Zipf { users: usize, s: f64 },
    /// Signed JWTs (`jwt_pool`), as the load says.
    Jwt(TokenLoad),
}

/// Knobs of the mixed workload, so a run can say what hit ratio it was measured at.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MixedWorkload {
    pub users: usize,
    pub zipf_s: f64,
    pub allow_ttl_seconds: u64,
    pub max_entries: u64,
}

impl Default for MixedWorkload {
    /// 20 000 users, s = 1.0 (web-like popularity), 30 s allow TTL, the default 10 000-entry cache:
    /// a cache that cannot hold everyone, entries that expire during a long run.
    fn default() -> Self {
        MixedWorkload {
            users: 20_000,
            zipf_s: 1.0,
            allow_ttl_seconds: 30,
            max_entries: 10_000,
        }
    }
}

impl Variant {
    pub fn name(self) -> &'static str {
        match self {
            Variant::Passthrough => "passthrough",
            Variant::Bypass => "bypass",
            Variant::Hit => "hit",
            Variant::CacheOff => "cache_off",
            Variant::Mixed => "mixed",
            Variant::Lua => "lua",
            Variant::ExtAuthz => "ext_authz",
            Variant::Mixed2ms => "mixed_2ms",
            Variant::Lua2ms => "lua_2ms",
            Variant::ExtAuthz2ms => "ext_authz_2ms",
            Variant::Jwt(j) => j.name(),
            Variant::HitJwt => "hit_jwt",
            Variant::ExtAuthzGrpc => "ext_authz_grpc",
            Variant::GrpcCacheOff => "grpc_cache_off",
            Variant::GrpcHit => "grpc_hit",
            Variant::HitRevocation => "hit_revocation",
        }
    }

    pub fn parse(s: &str) -> Option<Variant> {
        ALL.into_iter()
            .chain(AUTH_2MS)
            .chain(jwt())
            .find(|v| v.name() == s || v.name().replace('_', "-") == s)
    }

    /// The variant this one is, apart from the auth service's latency.
    pub fn base(self) -> Variant {
        match self {
            Variant::Mixed2ms => Variant::Mixed,
            Variant::Lua2ms => Variant::Lua,
            Variant::ExtAuthz2ms => Variant::ExtAuthz,
            v => v,
        }
    }

    /// How long the auth service takes per check while this variant is measured.
    pub fn auth_latency(self) -> Duration {
        if self == self.base() {
            Duration::ZERO
        } else {
            SLOW_AUTH
        }
    }

    /// One line for the table and the chart.
    pub fn label(self) -> &'static str {
        match self {
            Variant::Passthrough => "passthrough (no auth filter)",
            Variant::Bypass => "mesh-authz, all bypassed",
            Variant::Hit => "mesh-authz, cache hit",
            Variant::CacheOff => "mesh-authz, cache off",
            Variant::Mixed => "mesh-authz, mixed (Zipf)",
            Variant::Lua => "legacy Lua filter",
            Variant::ExtAuthz => "native ext_authz (HTTP)",
            Variant::Mixed2ms => "mesh-authz, mixed, auth 2 ms",
            Variant::Lua2ms => "legacy Lua filter, auth 2 ms",
            Variant::ExtAuthz2ms => "native ext_authz, auth 2 ms",
            Variant::Jwt(j) => j.label(),
            Variant::HitJwt => "mesh-authz, cache hit, JWT bearer",
            Variant::ExtAuthzGrpc => "native ext_authz (gRPC)",
            Variant::GrpcCacheOff => "mesh-authz gRPC, cache off",
            Variant::GrpcHit => "mesh-authz gRPC, cache hit",
            Variant::HitRevocation => "mesh-authz, cache hit, revocation feed",
        }
    }

    pub fn is_mesh_authz(self) -> bool {
        match self.base() {
            Variant::Bypass
            | Variant::Hit
            | Variant::CacheOff
            | Variant::Mixed
            | Variant::HitJwt
            | Variant::GrpcCacheOff
            | Variant::GrpcHit
            | Variant::HitRevocation => true,
            Variant::Jwt(j) => j.is_mesh_authz(),
            _ => false,
        }
    }

    /// Calls the test gRPC auth service instead of the example HTTP one.
    pub fn is_grpc(self) -> bool {
        matches!(
            self,
            Variant::ExtAuthzGrpc | Variant::GrpcCacheOff | Variant::GrpcHit
        )
    }

    /// Envoy's `jwt_authn` filter: its counters are read as mesh-authz's are.
    pub fn is_jwt_authn(self) -> bool {
        matches!(self, Variant::Jwt(j) if !j.is_mesh_authz())
    }

    pub fn jwt(self) -> Option<JwtVariant> {
        match self {
            Variant::Jwt(j) => Some(j),
            _ => None,
        }
    }

    pub fn credentials(self, mixed: &MixedWorkload) -> Credentials {
        match self.base() {
            Variant::Mixed => Credentials::Zipf {
                users: mixed.users,
                s: mixed.zipf_s,
            },
            Variant::Jwt(j) => Credentials::Jwt(j.load),
            Variant::HitJwt => Credentials::Jwt(TokenLoad::Repeated),
            _ => Credentials::One,
        }
    }

    /// The bootstrap this variant starts from.
    pub fn yaml(self) -> PathBuf {
        let root = paths::repo_root();
        match self.base() {
            Variant::Passthrough => root.join("integration/envoy/passthrough.yaml"),
            Variant::ExtAuthz => root.join("integration/envoy/ext-authz.yaml"),
            Variant::ExtAuthzGrpc => root.join("integration/envoy/ext-authz-grpc.yaml"),
            Variant::Lua => root.join("integration/envoy/legacy-lua.yaml"),
            // The template: `jwt_authn::bootstrap` puts the run's keys in.
            Variant::Jwt(j) if !j.is_mesh_authz() => root.join("integration/envoy/jwt-authn.yaml"),
            _ => paths::default_envoy_yaml(),
        }
    }

    /// The mesh-authz plugin JSON: the checked-in one with this variant's changes. `jwks`: the
    /// run's key set, for the JWT variants.
    pub fn plugin_config(
        self,
        mixed: &MixedWorkload,
        jwks: &str,
    ) -> Result<Option<serde_json::Value>, HarnessError> {
        if !self.is_mesh_authz() {
            return Ok(None);
        }
        let mut c = envoy::plugin_config_of(&paths::default_envoy_yaml())?;
        // The checked-in config checks tokens (a `jwt` block in gate mode). The variants without
        // JWT in their name run without it, so that they stay comparable with runs from before
        // the token checks and with passthrough, Lua and ext_authz, none of which look at tokens;
        // the JWT variants set their own.
        if let Some(obj) = c.as_object_mut() {
            obj.remove("jwt");
        }
        let mut cache = serde_json::Map::new();
        if let Some(serde_json::Value::Object(m)) = c.get("cache") {
            cache = m.clone();
        }
        cache.insert("enabled".into(), true.into());
        if self.is_grpc() {
            // What gRPC mode refuses (the path is the gRPC method's); see docs/grpc.md.
            let a = c
                .get_mut("authService")
                .and_then(serde_json::Value::as_object_mut)
                .ok_or_else(|| HarnessError::Config("no authService to ask with gRPC".into()))?;
            a.remove("pathPrefix");
            a.remove("includeRequestPath");
            a.insert("protocol".into(), "grpc".into());
        }
        match self.base() {
            Variant::Bypass => set(&mut c, "bypass", serde_json::json!([{"pathPrefix": "/"}]))?,
            Variant::CacheOff | Variant::GrpcCacheOff => {
                set(&mut c, "cache", serde_json::json!({"enabled": false}))?
            }
            Variant::HitRevocation => {
                set(&mut c, "cache", cache.into())?;
                set(&mut c, "revocation", revocation_block())?;
            }
            Variant::Mixed => {
                cache.insert("allowTtlSeconds".into(), mixed.allow_ttl_seconds.into());
                cache.insert("maxEntries".into(), mixed.max_entries.into());
                set(&mut c, "cache", cache.into())?;
            }
            Variant::Jwt(j) => {
                set(&mut c, "jwt", jwt_variant::plugin_jwt(j, jwks))?;
                if j.checker == Checker::Authenticate {
                    // Tokens alone: nothing to call, so nothing configured to call.
                    if let Some(obj) = c.as_object_mut() {
                        obj.remove("authService");
                    }
                } else if j.load == TokenLoad::Zipf {
                    // The mixed workload's decision cache, so that the two compare.
                    cache.insert("allowTtlSeconds".into(), mixed.allow_ttl_seconds.into());
                    cache.insert("maxEntries".into(), mixed.max_entries.into());
                }
                set(&mut c, "cache", cache.into())?;
            }
            _ => set(&mut c, "cache", cache.into())?,
        }
        Ok(Some(c))
    }
}

fn set(
    config: &mut serde_json::Value,
    key: &str,
    value: serde_json::Value,
) -> Result<(), HarnessError> {
    let obj = config.as_object_mut().ok_or_else(|| {
        HarnessError::Config("the plugin configuration is not a JSON object".into())
    })?;
    obj.insert(key.into(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for v in ALL.into_iter().chain(AUTH_2MS).chain(jwt()) {
            assert_eq!(Variant::parse(v.name()), Some(v));
        }
        assert_eq!(
            Variant::parse("jwt-gate-repeated"),
            Some(Variant::Jwt(JwtVariant {
                checker: Checker::Gate,
                load: TokenLoad::Repeated
            }))
        );
        assert_eq!(Variant::parse("ext-authz"), Some(Variant::ExtAuthz));
        assert_eq!(Variant::parse("nope"), None);
    }

    #[test]
    fn plugin_configs_differ_where_they_should() {
        let m = MixedWorkload::default();
        let keys = r#"{"keys":[]}"#;
        let bypass = Variant::Bypass.plugin_config(&m, keys).unwrap().unwrap();
        assert_eq!(bypass["bypass"][0]["pathPrefix"], "/");
        let off = Variant::CacheOff.plugin_config(&m, keys).unwrap().unwrap();
        assert_eq!(off["cache"]["enabled"], false);
        let mixed = Variant::Mixed.plugin_config(&m, keys).unwrap().unwrap();
        assert_eq!(mixed["cache"]["allowTtlSeconds"], 30);
        assert!(Variant::ExtAuthz.plugin_config(&m, keys).unwrap().is_none());
        let grpc = Variant::GrpcCacheOff
            .plugin_config(&m, keys)
            .unwrap()
            .unwrap();
        assert_eq!(grpc["authService"]["protocol"], "grpc");
        assert!(grpc["authService"].get("pathPrefix").is_none());
        assert_eq!(grpc["cache"]["enabled"], false);
        let ghit = Variant::GrpcHit.plugin_config(&m, keys).unwrap().unwrap();
        assert_eq!(ghit["cache"]["enabled"], true);
        let rev = Variant::HitRevocation
            .plugin_config(&m, keys)
            .unwrap()
            .unwrap();
        assert_eq!(rev["revocation"], revocation_block());
        assert_eq!(rev["cache"]["enabled"], true);
        assert!(Variant::Hit.plugin_config(&m, keys).unwrap().unwrap()["revocation"].is_null());
        // Counted by the instruction bench only: the timed bench cannot name them.
        for v in [
            Variant::ExtAuthzGrpc,
            Variant::GrpcCacheOff,
            Variant::GrpcHit,
            Variant::HitRevocation,
        ] {
            assert_eq!(Variant::parse(v.name()), None, "{}", v.name());
        }
        // The checked-in config has a `jwt` block; only the JWT variants keep one.
        for v in ALL.into_iter().filter(|v| v.is_mesh_authz()) {
            let c = v.plugin_config(&m, keys).unwrap().unwrap();
            assert!(c.get("jwt").is_none(), "{}", v.name());
            assert!(c.get("authService").is_some(), "{}", v.name());
        }
        let jwt = |checker, load| Variant::Jwt(JwtVariant { checker, load });
        let gate = jwt(Checker::Gate, TokenLoad::Zipf)
            .plugin_config(&m, keys)
            .unwrap()
            .unwrap();
        assert_eq!(gate["jwt"]["mode"], "gate");
        assert_eq!(gate["jwt"]["providers"][0]["jwks"]["inline"], keys);
        assert_eq!(gate["cache"]["allowTtlSeconds"], 30);
        assert!(gate.get("authService").is_some());
        let authn = jwt(Checker::Authenticate, TokenLoad::New)
            .plugin_config(&m, keys)
            .unwrap()
            .unwrap();
        assert_eq!(authn["jwt"]["mode"], "authenticate");
        assert!(authn.get("authService").is_none());
        let native = jwt(Checker::JwtAuthnCached, TokenLoad::New);
        assert!(native.plugin_config(&m, keys).unwrap().is_none());
        assert!(native.is_jwt_authn() && !native.is_mesh_authz());
        assert!(native.yaml().ends_with("integration/envoy/jwt-authn.yaml"));
    }

    #[test]
    fn slow_auth_variants_are_their_base_with_2ms() {
        let m = MixedWorkload::default();
        for v in AUTH_2MS {
            assert_ne!(v.base(), v);
            assert_eq!(v.auth_latency(), SLOW_AUTH);
            assert_eq!(v.yaml(), v.base().yaml());
            assert_eq!(
                v.plugin_config(&m, "").unwrap(),
                v.base().plugin_config(&m, "").unwrap()
            );
            assert_eq!(v.is_mesh_authz(), v.base().is_mesh_authz());
            assert!(!ALL.contains(&v));
        }
        assert_eq!(Variant::Mixed.auth_latency(), Duration::ZERO);
        assert!(Variant::Mixed2ms.is_mesh_authz() && !Variant::Lua2ms.is_mesh_authz());
    }
}
