//! From samples to figures: the median of each case over its rounds, ratios to passthrough and to
//! ext_authz (computed per round, then the median, so drift common to a round cancels), and the
//! derived figures the performance targets are stated in (the README's Performance section).

use crate::rig::{Case, Sample};
use crate::variant::Variant;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The figures of one case: medians over rounds, with the spread of the noisy ones.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseSummary {
    pub id: String,
    pub variant: String,
    pub label: String,
    pub workers: u32,
    pub rounds: usize,
    pub requests: u64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub cpu_us_per_req: f64,
    /// The in-process auth service's CPU per request, and Envoy + auth service together.
    #[serde(default)]
    pub auth_cpu_us_per_req: f64,
    #[serde(default)]
    pub path_cpu_us_per_req: f64,
    pub callouts_per_req: f64,
    pub hit_ratio: Option<f64>,
    /// JWT variants: the share of tokens answered from the checker's token cache.
    #[serde(default)]
    pub token_hit_ratio: Option<f64>,
    pub error_ratio: f64,
    /// Requests the mesh-authz filter counted (allowed + denied + errors + bypassed) per request
    /// sent: near 1 proves the filter really was in the path.
    #[serde(default)]
    pub filter_seen_per_req: Option<f64>,
    /// [min, max] over rounds.
    pub rps_range: [f64; 2],
    pub p99_ms_range: [f64; 2],
    pub cpu_us_range: [f64; 2],
    /// rps, p99, cpu as a ratio to passthrough and to ext_authz at the same worker count.
    pub vs_passthrough: BTreeMap<String, f64>,
    pub vs_ext_authz: BTreeMap<String, f64>,
}

pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v.get(mid).copied().unwrap_or(f64::NAN)
    } else {
        (v.get(mid - 1).copied().unwrap_or(f64::NAN) + v.get(mid).copied().unwrap_or(f64::NAN))
            / 2.0
    }
}

fn range(values: &[f64]) -> [f64; 2] {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    [min, max]
}

fn pick(samples: &[Sample], f: impl Fn(&Sample) -> f64) -> Vec<f64> {
    samples.iter().map(f).collect()
}

/// The median over rounds of `f(sample) / f(reference sample of the same round)`.
pub fn paired_ratio(
    samples: &[Sample],
    reference: &[Sample],
    f: impl Fn(&Sample) -> f64,
) -> Option<f64> {
    let ratios: Vec<f64> = samples
        .iter()
        .filter_map(|s| {
            reference
                .iter()
                .find(|r| r.round == s.round)
                .map(|r| f(s) / f(r))
        })
        .collect();
    let m = median(&ratios);
    m.is_finite().then_some(m)
}

type Figure = fn(&Sample) -> f64;

const RATIO_FIGURES: [(&str, Figure); 5] = [
    ("rps", |s| s.rps),
    ("p50", |s| s.p50_ms),
    ("p99", |s| s.p99_ms),
    ("cpu", |s| s.cpu_us_per_req),
    ("path_cpu", |s| s.path_cpu_us_per_req),
];

fn ratios(samples: &[Sample], reference: Option<&Vec<Sample>>) -> BTreeMap<String, f64> {
    let Some(reference) = reference else {
        return BTreeMap::new();
    };
    RATIO_FIGURES
        .iter()
        .filter_map(|(name, f)| paired_ratio(samples, reference, f).map(|r| (name.to_string(), r)))
        .collect()
}

const FILTER_OUTCOMES: [&str; 4] = ["allowed", "denied", "errors", "bypassed"];

fn filter_seen(samples: &[Sample]) -> Option<f64> {
    let per_req: Vec<f64> = samples
        .iter()
        .filter(|s| !s.filter_counters.is_empty())
        .map(|s| {
            let seen: u64 = FILTER_OUTCOMES
                .iter()
                .filter_map(|k| s.filter_counters.get(*k))
                .sum();
            seen as f64 / s.requests.max(1) as f64
        })
        .collect();
    (!per_req.is_empty()).then(|| median(&per_req))
}

pub fn summarize(results: &BTreeMap<Case, Vec<Sample>>) -> Vec<CaseSummary> {
    let reference = |variant: Variant, workers: u32| results.get(&Case { variant, workers });
    results
        .iter()
        .filter(|(_, s)| !s.is_empty())
        .map(|(case, samples)| {
            let requests: u64 = samples.iter().map(|s| s.requests).sum();
            let errors: u64 = samples.iter().map(|s| s.errors).sum();
            let hits: Vec<f64> = samples.iter().filter_map(|s| s.hit_ratio).collect();
            let token_hits: Vec<f64> = samples.iter().filter_map(|s| s.token_hit_ratio).collect();
            CaseSummary {
                id: case.id(),
                variant: case.variant.name().to_string(),
                label: case.variant.label().to_string(),
                workers: case.workers,
                rounds: samples.len(),
                requests,
                rps: median(&pick(samples, |s| s.rps)),
                p50_ms: median(&pick(samples, |s| s.p50_ms)),
                p90_ms: median(&pick(samples, |s| s.p90_ms)),
                p99_ms: median(&pick(samples, |s| s.p99_ms)),
                cpu_us_per_req: median(&pick(samples, |s| s.cpu_us_per_req)),
                auth_cpu_us_per_req: median(&pick(samples, |s| s.auth_cpu_us_per_req)),
                path_cpu_us_per_req: median(&pick(samples, |s| s.path_cpu_us_per_req)),
                callouts_per_req: median(&pick(samples, |s| s.callouts_per_req)),
                hit_ratio: (!hits.is_empty()).then(|| median(&hits)),
                token_hit_ratio: (!token_hits.is_empty()).then(|| median(&token_hits)),
                error_ratio: errors as f64 / requests.max(1) as f64,
                filter_seen_per_req: filter_seen(samples),
                rps_range: range(&pick(samples, |s| s.rps)),
                p99_ms_range: range(&pick(samples, |s| s.p99_ms)),
                cpu_us_range: range(&pick(samples, |s| s.cpu_us_per_req)),
                vs_passthrough: ratios(samples, reference(Variant::Passthrough, case.workers)),
                vs_ext_authz: ratios(samples, reference(Variant::ExtAuthz, case.workers)),
            }
        })
        .collect()
}

/// Every figure under a flat name: `<variant>.<figure>@<n>w` and the derived ones. `ratios` are
/// dimensionless (what budgets may gate); `absolute` are times and rates, reported only.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Figures {
    pub ratios: BTreeMap<String, f64>,
    pub absolute: BTreeMap<String, f64>,
}

/// A derived figure with the issue-5 target it is read against (informational in the report).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Derived {
    pub name: String,
    pub value: f64,
    pub target: String,
    pub met: Option<bool>,
}

pub fn samples_of(
    results: &BTreeMap<Case, Vec<Sample>>,
    v: Variant,
    w: u32,
) -> Option<&Vec<Sample>> {
    results
        .get(&Case {
            variant: v,
            workers: w,
        })
        .filter(|s| !s.is_empty())
}

/// `envoy_verify`: whether mesh-authz checked signatures with Envoy's `verify_signature` (the
/// new-token target assumes it).
pub fn figures(
    results: &BTreeMap<Case, Vec<Sample>>,
    summaries: &[CaseSummary],
    envoy_verify: Option<bool>,
) -> (Figures, Vec<Derived>) {
    let mut f = Figures::default();
    for s in summaries {
        let key = |name: &str| format!("{}.{name}@{}w", s.variant, s.workers);
        f.absolute.insert(key("rps"), s.rps);
        f.absolute.insert(key("p50_ms"), s.p50_ms);
        f.absolute.insert(key("p99_ms"), s.p99_ms);
        f.absolute.insert(key("cpu_us_per_req"), s.cpu_us_per_req);
        f.absolute
            .insert(key("path_cpu_us_per_req"), s.path_cpu_us_per_req);
        f.ratios.insert(key("callouts_per_req"), s.callouts_per_req);
        f.ratios.insert(key("error_ratio"), s.error_ratio);
        if let Some(h) = s.hit_ratio {
            f.ratios.insert(key("hit_ratio"), h);
        }
        if let Some(h) = s.token_hit_ratio {
            f.ratios.insert(key("token_hit_ratio"), h);
        }
        for (name, v) in &s.vs_passthrough {
            f.ratios.insert(key(&format!("{name}_vs_passthrough")), *v);
        }
        for (name, v) in &s.vs_ext_authz {
            f.ratios.insert(key(&format!("{name}_vs_ext_authz")), *v);
        }
    }
    let mut derived = Vec::new();
    let workers: std::collections::BTreeSet<u32> = results.keys().map(|c| c.workers).collect();
    for w in workers {
        let get = |v| samples_of(results, v, w);
        let mut ratio = |name: &str,
                         a: Variant,
                         b: Variant,
                         f_: fn(&Sample) -> f64,
                         target: &str,
                         ok: fn(f64) -> Option<bool>| {
            if let (Some(x), Some(y)) = (get(a), get(b)) {
                if let Some(r) = paired_ratio(x, y, f_) {
                    let name = format!("{name}@{w}w");
                    f.ratios.insert(name.clone(), r);
                    derived.push(Derived {
                        name,
                        value: r,
                        target: target.into(),
                        met: ok(r),
                    });
                }
            }
        };
        ratio(
            "hit_over_bypass_cpu",
            Variant::Hit,
            Variant::Bypass,
            |s| s.cpu_us_per_req,
            "(reported)",
            |_| None,
        );
        ratio(
            "hit_over_bypass_p99",
            Variant::Hit,
            Variant::Bypass,
            |s| s.p99_ms,
            "<= 1.10",
            |r| Some(r <= 1.10),
        );
        ratio(
            "cache_off_over_ext_authz_cpu",
            Variant::CacheOff,
            Variant::ExtAuthz,
            |s| s.cpu_us_per_req,
            "<= 1.00",
            |r| Some(r <= 1.0),
        );
        ratio(
            "cache_off_over_lua_cpu",
            Variant::CacheOff,
            Variant::Lua,
            |s| s.cpu_us_per_req,
            "< 1.00",
            |r| Some(r < 1.0),
        );
        ratio(
            "mixed_over_ext_authz_rps",
            Variant::Mixed,
            Variant::ExtAuthz,
            |s| s.rps,
            ">= 1.50",
            |r| Some(r >= 1.5),
        );
        ratio(
            "mixed_over_lua_rps",
            Variant::Mixed,
            Variant::Lua,
            |s| s.rps,
            ">= 1.50",
            |r| Some(r >= 1.5),
        );
        // With an auth service that takes 2 ms, as real ones do: the cache must hide it from most
        // requests, while ext_authz and Lua pay it on every one.
        for (name, v, target, ok) in [
            (
                "mixed_2ms_over_passthrough_p50",
                Variant::Mixed2ms,
                "<= 1.30",
                (|r| Some(r <= 1.3)) as fn(f64) -> Option<bool>,
            ),
            (
                "ext_authz_2ms_over_passthrough_p50",
                Variant::ExtAuthz2ms,
                "(reported)",
                |_| None,
            ),
            (
                "lua_2ms_over_passthrough_p50",
                Variant::Lua2ms,
                "(reported)",
                |_| None,
            ),
        ] {
            ratio(name, v, Variant::Passthrough, |s| s.p50_ms, target, ok);
        }
        ratio(
            "mixed_2ms_over_ext_authz_2ms_rps",
            Variant::Mixed2ms,
            Variant::ExtAuthz2ms,
            |s| s.rps,
            "(reported)",
            |_| None,
        );
        ratio(
            "mixed_2ms_over_ext_authz_2ms_path_cpu",
            Variant::Mixed2ms,
            Variant::ExtAuthz2ms,
            |s| s.path_cpu_us_per_req,
            "(reported)",
            |_| None,
        );
        ratio(
            "mixed_2ms_over_lua_2ms_path_cpu",
            Variant::Mixed2ms,
            Variant::Lua2ms,
            |s| s.path_cpu_us_per_req,
            "(reported)",
            |_| None,
        );
        crate::jwt_summary::derive(results, w, envoy_verify, &mut f, &mut derived);
        if let (Some(h), Some(b)) = (get(Variant::Hit), get(Variant::Bypass)) {
            let diffs: Vec<f64> = h
                .iter()
                .filter_map(|s| {
                    b.iter()
                        .find(|r| r.round == s.round)
                        .map(|r| s.cpu_us_per_req - r.cpu_us_per_req)
                })
                .collect();
            let d = median(&diffs);
            if d.is_finite() {
                let name = format!("hit_minus_bypass_cpu_us@{w}w");
                f.absolute.insert(name.clone(), d);
                derived.push(Derived {
                    name,
                    value: d,
                    target: "<= 10 µs".into(),
                    met: Some(d <= 10.0),
                });
            }
        }
    }
    let one = samples_of(results, Variant::Mixed, 1);
    let two = samples_of(results, Variant::Mixed, 2);
    if let (Some(one), Some(two)) = (one, two) {
        let a = median(&pick(one, |s| s.callouts_per_req));
        let b = median(&pick(two, |s| s.callouts_per_req));
        if a > 0.0 && b.is_finite() {
            let r = b / a;
            f.ratios.insert("mixed_callouts_2w_over_1w".into(), r);
            derived.push(Derived {
                name: "mixed_callouts_2w_over_1w".into(),
                value: r,
                target: "close to 1 (<= 1.20)".into(),
                met: Some(r <= 1.2),
            });
        }
    }
    (f, derived)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn sample(round: u32, rps: f64, cpu: f64, p99: f64, callouts: f64) -> Sample {
        Sample {
            round,
            requests: 1000,
            window_s: 1.0,
            rps,
            p50_ms: p99 / 2.0,
            p90_ms: p99 / 1.5,
            p99_ms: p99,
            cpu_us_per_req: cpu,
            auth_cpu_us_per_req: 0.0,
            path_cpu_us_per_req: cpu,
            callouts_per_req: callouts,
            hit_ratio: None,
            token_hit_ratio: None,
            errors: 0,
            warmup_requests: 0,
            failures: BTreeMap::new(),
            filter_counters: BTreeMap::new(),
        }
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn ratios_pair_rounds_and_derive_targets() {
        let case = |variant| Case {
            variant,
            workers: 1,
        };
        let mut r = BTreeMap::new();
        // Round 2 is twice as slow for everyone: paired ratios do not move.
        r.insert(
            case(Variant::Passthrough),
            vec![
                sample(1, 1000.0, 50.0, 1.0, 0.0),
                sample(2, 500.0, 100.0, 2.0, 0.0),
            ],
        );
        r.insert(
            case(Variant::Bypass),
            vec![
                sample(1, 900.0, 60.0, 1.0, 0.0),
                sample(2, 450.0, 120.0, 2.0, 0.0),
            ],
        );
        r.insert(
            case(Variant::Hit),
            vec![
                sample(1, 800.0, 66.0, 1.05, 0.0),
                sample(2, 400.0, 132.0, 2.1, 0.0),
            ],
        );
        r.insert(
            case(Variant::ExtAuthz),
            vec![
                sample(1, 400.0, 200.0, 4.0, 1.0),
                sample(2, 200.0, 400.0, 8.0, 1.0),
            ],
        );
        r.insert(
            case(Variant::Mixed),
            vec![
                sample(1, 700.0, 80.0, 2.0, 0.2),
                sample(2, 350.0, 160.0, 4.0, 0.2),
            ],
        );
        let s = summarize(&r);
        let hit = s.iter().find(|c| c.variant == "hit").unwrap();
        assert!((hit.vs_passthrough["rps"] - 0.8).abs() < 1e-9);
        assert!((hit.vs_ext_authz["cpu"] - 0.33).abs() < 1e-9);
        let (f, d) = figures(&r, &s, None);
        assert!((f.ratios["hit_over_bypass_cpu@1w"] - 1.1).abs() < 1e-9);
        assert!((f.ratios["mixed_over_ext_authz_rps@1w"] - 1.75).abs() < 1e-9);
        assert!((f.absolute["hit_minus_bypass_cpu_us@1w"] - 9.0).abs() < 1e-9);
        assert!(f.ratios.contains_key("ext_authz.callouts_per_req@1w"));
        assert!(!f
            .ratios
            .keys()
            .any(|k| k.contains("_ms") || k.ends_with(".rps@1w")));
        let p99 = d
            .iter()
            .find(|d| d.name == "hit_over_bypass_p99@1w")
            .unwrap();
        assert_eq!(p99.met, Some(true));
        // No Lua case: no Lua ratio, rather than a made-up one.
        assert!(!f.ratios.contains_key("mixed_over_lua_rps@1w"));
        assert!(!f.ratios.contains_key("mixed_2ms_over_passthrough_p50@1w"));
    }

    #[test]
    fn slow_auth_ratios_against_passthrough() {
        let case = |variant| Case {
            variant,
            workers: 1,
        };
        let mut r = BTreeMap::new();
        // p50 is p99 / 2 in `sample`.
        r.insert(
            case(Variant::Passthrough),
            vec![sample(1, 1000.0, 50.0, 1.0, 0.0)],
        );
        r.insert(
            case(Variant::Mixed2ms),
            vec![sample(1, 900.0, 60.0, 1.2, 0.2)],
        );
        r.insert(
            case(Variant::ExtAuthz2ms),
            vec![sample(1, 300.0, 90.0, 5.0, 1.0)],
        );
        let s = summarize(&r);
        let (f, d) = figures(&r, &s, None);
        assert!((f.ratios["mixed_2ms_over_passthrough_p50@1w"] - 1.2).abs() < 1e-9);
        assert!((f.ratios["ext_authz_2ms_over_passthrough_p50@1w"] - 5.0).abs() < 1e-9);
        assert!((f.ratios["mixed_2ms_over_ext_authz_2ms_path_cpu@1w"] - 60.0 / 90.0).abs() < 1e-9);
        assert!((f.ratios["mixed_2ms.p50_vs_passthrough@1w"] - 1.2).abs() < 1e-9);
        let met = d
            .iter()
            .find(|d| d.name == "mixed_2ms_over_passthrough_p50@1w")
            .and_then(|d| d.met);
        assert_eq!(met, Some(true));
    }
}
