//! The run as a document: settings, machine, per-case summaries, derived figures and every raw
//! sample; written as JSON, read back by `check` and `chart`, printed as tables.

use crate::jwt_variant::JwtWorkload;
use crate::machine::Machine;
use crate::rig::Sample;
use crate::summary::{CaseSummary, Derived, Figures};
use crate::variant::MixedWorkload;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    pub mode: String,
    pub cases: Vec<String>,
    pub rounds: u32,
    pub connections: usize,
    pub warmup_s: f64,
    pub duration_s: f64,
    pub max_requests: u64,
    pub service_threads: usize,
    pub mixed: MixedWorkload,
    /// The JWT variants' workload, when the run had any (absent in older runs).
    #[serde(default)]
    pub jwt: Option<JwtSettings>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JwtSettings {
    pub workload: JwtWorkload,
    pub tokens_signed: usize,
    /// Who checked RS256 signatures in mesh-authz: Envoy's `verify_signature` or the VM.
    pub signatures: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub settings: Settings,
    pub machine: Machine,
    pub cases: Vec<CaseSummary>,
    pub derived: Vec<Derived>,
    pub figures: Figures,
    /// Problems the sanity check found (a sound run has none).
    pub problems: Vec<String>,
    /// Every measurement, by case id, in round order.
    pub samples: BTreeMap<String, Vec<Sample>>,
    /// What each request path costs inside the module, counted (absent in older runs).
    #[serde(default)]
    pub census: Vec<crate::census::PathCost>,
}

impl Report {
    pub fn load(path: &Path) -> Result<Report, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn save(&self, path: &Path) -> Result<(), String> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        }
        let text = serde_json::to_string_pretty(self).map_err(|e| format!("JSON: {e}"))?;
        std::fs::write(path, text + "\n").map_err(|e| format!("writing {}: {e}", path.display()))
    }
}

fn ratio(map: &BTreeMap<String, f64>, k: &str) -> String {
    map.get(k)
        .map(|v| format!("{v:.2}"))
        .unwrap_or_else(|| "-".into())
}

/// The terminal table (also the README's, in Markdown when `markdown`).
pub fn table(r: &Report, markdown: bool) -> String {
    let head = [
        "variant",
        "workers",
        "req/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "CPU µs/req",
        "path CPU µs/req",
        "callouts/req",
        "hit ratio",
        "token hits",
        "errors",
        "req/s ÷pt",
        "CPU ÷pt",
        "p50 ÷pt",
        "p99 ÷pt",
        "req/s ÷ext",
        "CPU ÷ext",
        "p99 ÷ext",
    ];
    let rows: Vec<Vec<String>> = r
        .cases
        .iter()
        .map(|c| {
            vec![
                c.label.clone(),
                c.workers.to_string(),
                format!("{:.0}", c.rps),
                format!("{:.2}", c.p50_ms),
                format!("{:.2}", c.p90_ms),
                format!("{:.2}", c.p99_ms),
                format!("{:.1}", c.cpu_us_per_req),
                format!("{:.1}", c.path_cpu_us_per_req),
                format!("{:.3}", c.callouts_per_req),
                c.hit_ratio
                    .map(|h| format!("{:.1}%", h * 100.0))
                    .unwrap_or_else(|| "-".into()),
                c.token_hit_ratio
                    .map(|h| format!("{:.1}%", h * 100.0))
                    .unwrap_or_else(|| "-".into()),
                format!("{:.2}%", c.error_ratio * 100.0),
                ratio(&c.vs_passthrough, "rps"),
                ratio(&c.vs_passthrough, "cpu"),
                ratio(&c.vs_passthrough, "p50"),
                ratio(&c.vs_passthrough, "p99"),
                ratio(&c.vs_ext_authz, "rps"),
                ratio(&c.vs_ext_authz, "cpu"),
                ratio(&c.vs_ext_authz, "p99"),
            ]
        })
        .collect();
    let mut out = String::new();
    if markdown {
        let _ = writeln!(out, "| {} |", head.join(" | "));
        let _ = writeln!(out, "|{}", ["---|"].repeat(head.len()).concat());
        for row in &rows {
            let _ = writeln!(out, "| {} |", row.join(" | "));
        }
        return out;
    }
    let widths: Vec<usize> = (0..head.len())
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|s| s.chars().count())
                .chain(head.get(i).map(|h| h.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| -> String {
        cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                let pad = w.saturating_sub(c.chars().count());
                if i == 0 {
                    format!("{c}{}", " ".repeat(pad))
                } else {
                    format!("{}{c}", " ".repeat(pad))
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    let _ = writeln!(
        out,
        "{}",
        line(head.iter().map(|h| h.to_string()).collect())
    );
    for row in rows {
        let _ = writeln!(out, "{}", line(row));
    }
    out
}

/// Derived figures against the performance targets.
pub fn derived(r: &Report) -> String {
    let mut out = String::new();
    let width = r.derived.iter().map(|d| d.name.len()).max().unwrap_or(0);
    for d in &r.derived {
        let mark = match d.met {
            Some(true) => "met",
            Some(false) => "NOT met",
            None => "",
        };
        let _ = writeln!(
            out,
            "  {:<width$} {:>9.3}   target {:<22} {mark}",
            d.name, d.value, d.target
        );
    }
    out
}

/// The spread over rounds, so drift and noise are visible next to the medians.
pub fn spread(r: &Report) -> String {
    let mut out = String::new();
    for c in &r.cases {
        let _ = writeln!(
            out,
            "  {:<28} req/s {:>7.0}..{:<7.0} p99 {:>6.2}..{:<6.2} ms  CPU {:>6.1}..{:<6.1} µs/req  ({} rounds)",
            c.id, c.rps_range[0], c.rps_range[1], c.p99_ms_range[0], c.p99_ms_range[1], c.cpu_us_range[0], c.cpu_us_range[1], c.rounds
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::rig::Case;
    use crate::summary;
    use crate::variant::Variant;

    /// Deliberate, stable inputs: a `check` run without JWT variants (the gate's self-test uses
    /// it too) and a `full` run of the JWT variants with their baselines, census and JWT settings.
    /// Never `results/`, which every run rewrites: a test over it would check data, not code.
    const FIXTURES: [&str; 2] = ["fixtures/recorded.json", "fixtures/recorded-jwt.json"];

    fn fixture(file: &str) -> Report {
        Report::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    /// `hit@1w` back to its case.
    fn case(id: &str) -> Case {
        let (name, workers) = id.split_once('@').unwrap();
        Case {
            variant: Variant::parse(name).unwrap(),
            workers: workers.trim_end_matches('w').parse().unwrap(),
        }
    }

    /// A schema change that breaks recorded JSON fails here, not in CI's gate; the table has a
    /// row per case and the chart draws the baselines.
    #[test]
    fn recorded_runs_load_and_render() {
        for file in FIXTURES {
            let r = fixture(file);
            assert_eq!(r.cases.len(), r.samples.len(), "{file}");
            assert_eq!(table(&r, true).lines().count(), r.cases.len() + 2, "{file}");
            assert_eq!(
                table(&r, false).lines().count(),
                r.cases.len() + 1,
                "{file}"
            );
            let svg = crate::svg::render(&r);
            assert!(
                svg.contains("native ext_authz") && svg.contains("</svg>"),
                "{file}"
            );
        }
        let jwt = fixture(FIXTURES[1]);
        assert!(jwt.settings.jwt.is_some() && !jwt.census.is_empty());
    }

    /// Every figure a recorded run wrote (what budgets gate) is what the code derives from the
    /// same samples today (within JSON's rounding). Figures added since may be missing from the
    /// file.
    #[test]
    fn recorded_figures_derive_from_the_recorded_samples() {
        for file in FIXTURES {
            let r = fixture(file);
            let samples: BTreeMap<Case, Vec<Sample>> = r
                .samples
                .iter()
                .map(|(id, s)| (case(id), s.clone()))
                .collect();
            let cases = summary::summarize(&samples);
            let ids = |c: &[CaseSummary]| {
                let mut v: Vec<String> = c.iter().map(|c| c.id.clone()).collect();
                v.sort();
                v
            };
            assert_eq!(ids(&cases), ids(&r.cases), "{file}");
            let verify = r
                .settings
                .jwt
                .as_ref()
                .map(|j| j.signatures.contains("verify_signature"));
            let (figures, derived) = summary::figures(&samples, &cases, verify);
            let mut compared = 0;
            for (got, want) in [
                (&figures.ratios, &r.figures.ratios),
                (&figures.absolute, &r.figures.absolute),
            ] {
                for (name, w) in want {
                    let v = got.get(name).unwrap_or_else(|| panic!("{file}: no {name}"));
                    assert!(close(*v, *w), "{file} {name}: {v} != {w}");
                    compared += 1;
                }
            }
            assert!(compared > 50, "{file}: {compared} figures");
            for d in &r.derived {
                let now = derived.iter().find(|n| n.name == d.name);
                let now = now.unwrap_or_else(|| panic!("{file}: no derived {}", d.name));
                assert!(
                    close(now.value, d.value),
                    "{file} {}: {} != {}",
                    d.name,
                    now.value,
                    d.value
                );
                assert_eq!(now.met, d.met, "{file} {}", d.name);
            }
            assert_eq!(crate::sanity::check(&cases), r.problems, "{file}");
        }
    }

    #[test]
    fn save_then_load_round_trips() {
        let r = fixture(FIXTURES[1]);
        let out =
            std::env::temp_dir().join(format!("mesh-authz-bench-{}.json", std::process::id()));
        r.save(&out).unwrap();
        let back = Report::load(&out).unwrap();
        let _ = std::fs::remove_file(&out);
        assert_eq!(back.figures.ratios, r.figures.ratios);
        assert_eq!(back.samples.len(), r.samples.len());
    }
}
