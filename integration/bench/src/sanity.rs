//! What every run asserts whatever the machine: each variant did what its name says (callouts per
//! request, no errors). These are behaviour, not speed, so they hold on a noisy machine too, and a
//! benchmark whose "cache hit" variant calls out on every request fails instead of reporting.

use crate::jwt_variant::{Checker, JwtVariant, TokenLoad};
use crate::summary::CaseSummary;
use crate::variant::Variant;

/// Share of failed requests a run tolerates (an auth timeout under a load spike, not a bug).
pub const MAX_ERROR_RATIO: f64 = 0.01;

/// Problems, one line each; empty when the run is sound.
pub fn check(cases: &[CaseSummary]) -> Vec<String> {
    let mut problems = Vec::new();
    for c in cases {
        let Some(variant) = Variant::parse(&c.variant) else {
            continue;
        };
        let callouts = c.callouts_per_req;
        if c.requests == 0 {
            problems.push(format!("{}: no request completed in the window", c.id));
            continue;
        }
        if c.error_ratio > MAX_ERROR_RATIO {
            problems.push(format!(
                "{}: {:.1}% of requests failed (at most {:.0}% allowed); see the failures in the JSON",
                c.id,
                c.error_ratio * 100.0,
                MAX_ERROR_RATIO * 100.0
            ));
        }
        let (lo, hi, what) = match variant {
            Variant::Passthrough | Variant::Bypass => (0.0, 0.001, "no callout"),
            // One miss per worker and TTL at most.
            Variant::Hit | Variant::HitJwt | Variant::GrpcHit | Variant::HitRevocation => {
                (0.0, 0.01, "almost no callout (cache hits)")
            }
            Variant::CacheOff
            | Variant::Lua
            | Variant::ExtAuthz
            | Variant::Lua2ms
            | Variant::ExtAuthz2ms
            | Variant::ExtAuthzGrpc
            | Variant::GrpcCacheOff => (0.95, 1.05, "one callout per request"),
            Variant::Mixed | Variant::Mixed2ms => (
                0.001,
                0.999,
                "some requests served from the cache, some calling out",
            ),
            Variant::Jwt(j) => {
                if let Some(p) = token_problem(c, j) {
                    problems.push(p);
                }
                match (j.checker, j.load) {
                    // A new token is a new decision to ask for.
                    (Checker::Gate, TokenLoad::New) => (0.95, 1.05, "one callout per request"),
                    (Checker::Gate, TokenLoad::Repeated) => {
                        (0.0, 0.01, "almost no callout (decision cache hits)")
                    }
                    (Checker::Gate, TokenLoad::Zipf) => (
                        0.001,
                        0.999,
                        "some requests served from the cache, some calling out",
                    ),
                    (_, _) => (0.0, 0.0, "no callout at all"),
                }
            }
        };
        if variant.is_mesh_authz() || variant.is_jwt_authn() {
            match c.filter_seen_per_req {
                Some(seen) if (0.95..=1.05).contains(&seen) => {}
                Some(seen) => problems.push(format!(
                    "{}: the filter counted {seen:.3} outcomes per request sent, expected 1 (is it in the path?)",
                    c.id
                )),
                None => problems.push(format!("{}: no counters of its filter in /stats: the filter is not loaded", c.id)),
            }
        }
        if !(lo..=hi).contains(&callouts) {
            problems.push(format!(
                "{}: {callouts:.3} callouts/request, expected {what} ({lo}..={hi})",
                c.id
            ));
        }
    }
    problems
}

/// The token cache must show the load its name says: every token new (none answered from the
/// cache, so each one really was checked) or one token answered from it. jwt_authn without its
/// cache has none to look at.
fn token_problem(c: &CaseSummary, j: JwtVariant) -> Option<String> {
    if j.checker == Checker::JwtAuthn {
        return None;
    }
    let (lo, hi, what) = match j.load {
        TokenLoad::New | TokenLoad::ForgedRs256 | TokenLoad::ForgedPs256 => {
            (0.0, 0.01, "each token checked (never seen before)")
        }
        // Gate mode serves the decision cached for these very tokens before the token checks:
        // a repeated token is checked once, then never again.
        TokenLoad::Repeated if j.checker == Checker::Gate && c.token_hit_ratio.is_none() => {
            return None
        }
        TokenLoad::Repeated => (0.99, 1.0, "the token answered from the token cache"),
        TokenLoad::Zipf => return None,
    };
    match c.token_hit_ratio {
        Some(h) if (lo..=hi).contains(&h) => None,
        Some(h) => Some(format!(
            "{}: {:.1}% token cache hits, expected {what} ({lo}..={hi})",
            c.id,
            h * 100.0
        )),
        None => Some(format!(
            "{}: no token checks counted in /stats (expected {what})",
            c.id
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn case(variant: &str, callouts: f64, error_ratio: f64) -> CaseSummary {
        CaseSummary {
            id: format!("{variant}@1w"),
            variant: variant.into(),
            label: String::new(),
            workers: 1,
            rounds: 1,
            requests: 100,
            rps: 1.0,
            p50_ms: 1.0,
            p90_ms: 1.0,
            p99_ms: 1.0,
            cpu_us_per_req: 1.0,
            auth_cpu_us_per_req: 0.0,
            path_cpu_us_per_req: 1.0,
            callouts_per_req: callouts,
            hit_ratio: None,
            token_hit_ratio: None,
            error_ratio,
            filter_seen_per_req: Some(1.0),
            rps_range: [1.0, 1.0],
            p99_ms_range: [1.0, 1.0],
            cpu_us_range: [1.0, 1.0],
            vs_passthrough: BTreeMap::new(),
            vs_ext_authz: BTreeMap::new(),
        }
    }

    #[test]
    fn each_variant_has_its_callout_pattern() {
        let good = [
            case("passthrough", 0.0, 0.0),
            case("bypass", 0.0, 0.0),
            case("hit", 0.0001, 0.0),
            case("cache_off", 1.0, 0.0),
            case("mixed", 0.2, 0.0),
            case("lua", 1.0, 0.0),
            case("ext_authz", 1.01, 0.0),
            case("mixed_2ms", 0.2, 0.0),
            case("lua_2ms", 1.0, 0.0),
            case("ext_authz_2ms", 1.0, 0.0),
        ];
        assert_eq!(check(&good), Vec::<String>::new());
        let jwt = |name: &str, callouts, token_hits| CaseSummary {
            token_hit_ratio: token_hits,
            ..case(name, callouts, 0.0)
        };
        let good_jwt = [
            jwt("jwt_authn_new", 0.0, None),
            jwt("jwt_authn_cached_new", 0.0, Some(0.0)),
            jwt("jwt_authn_cached_repeated", 0.0, Some(1.0)),
            jwt("jwt_gate_new", 1.0, Some(0.0)),
            jwt("jwt_gate_repeated", 0.0, Some(1.0)),
            // Answered by the decision cache before any token check.
            jwt("jwt_gate_repeated", 0.0, None),
            jwt("jwt_gate_zipf", 0.3, Some(0.8)),
            jwt("jwt_authenticate_new", 0.0, Some(0.005)),
            jwt("jwt_authenticate_zipf", 0.0, Some(0.9)),
            jwt("jwt_authenticate_forged_rs256", 0.0, Some(0.0)),
            jwt("jwt_authenticate_forged_ps256", 0.0, Some(0.0)),
        ];
        assert_eq!(check(&good_jwt), Vec::<String>::new());
        // A forged token answered from the cache was not checked; one not refused is a failure
        // (the load expects 401), and a callout means it got past the token check.
        let bad_forged = [
            jwt("jwt_authenticate_forged_rs256", 0.0, Some(0.5)),
            CaseSummary {
                token_hit_ratio: Some(0.0),
                ..case("jwt_authenticate_forged_ps256", 0.0, 1.0)
            },
            jwt("jwt_authenticate_forged_ps256", 1.0, Some(0.0)),
        ];
        let p = check(&bad_forged);
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].contains("50.0% token cache hits"), "{}", p[0]);
        assert!(p[1].contains("100.0% of requests failed"), "{}", p[1]);
        assert!(p[2].contains("no callout at all"), "{}", p[2]);
        let bad_jwt = [
            // Authenticate mode must never call out; a repeated token must be a cache hit.
            jwt("jwt_authenticate_repeated", 0.001, Some(1.0)),
            jwt("jwt_gate_repeated", 0.0, Some(0.5)),
            // "New" tokens answered from the cache were not new.
            jwt("jwt_authenticate_new", 0.0, Some(0.5)),
            jwt("jwt_authn_cached_new", 0.0, None),
            jwt("jwt_gate_new", 0.0, Some(0.0)),
        ];
        let p = check(&bad_jwt);
        assert_eq!(p.len(), 5, "{p:?}");
        assert!(p[0].contains("no callout at all"), "{}", p[0]);
        assert!(p[1].contains("50.0% token cache hits"), "{}", p[1]);
        assert!(p[3].contains("no token checks counted"), "{}", p[3]);
        assert!(p[4].contains("one callout per request"), "{}", p[4]);
        let bad = [
            case("hit", 1.0, 0.0),
            case("bypass", 0.5, 0.0),
            case("mixed", 1.0, 0.0),
            case("lua", 1.0, 0.5),
            case("ext_authz_2ms", 0.3, 0.0),
        ];
        let p = check(&bad);
        assert_eq!(p.len(), 5, "{p:?}");
        assert!(p[0].contains("hit@1w") && p[0].contains("1.000 callouts/request"));
        assert!(p[3].contains("50.0% of requests failed"));
    }
}
