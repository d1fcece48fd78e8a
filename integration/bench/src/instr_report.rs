//! The instruction count's report: one row per case, the figures its targets are stated in, the
//! table, the JSON (`results/instructions.json`), and the gate against a budgets file.

use crate::budget::{self, BudgetFile};
use crate::callgrind::{JIT_OBJECT, UNMAPPED_OBJECT};
use crate::instructions::InstrArgs;
use crate::machine::Machine;
use crate::summary::{Derived, Figures};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// Errors a case may have and still count (a warm-up that ran into a slow first request is not
/// counted; the window's requests are all expected to be 200).
const MAX_ERROR_RATIO: f64 = 0.01;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub id: String,
    pub label: String,
    pub baseline_module: bool,
    pub requests: u64,
    pub warmup_requests: u64,
    pub errors: u64,
    pub callouts_per_req: f64,
    pub expected_callouts_per_req: f64,
    /// Every instruction every Envoy thread executed over the window.
    pub instructions: u64,
    pub instructions_per_req: f64,
    /// Instructions in each object's own code per request; `jit` is V8's code space (the module's
    /// compiled wasm and wrappers; LuaJIT's traces in the Lua case), `???` other code no file maps.
    pub self_by_object_per_req: BTreeMap<String, f64>,
    /// Instructions of calls out of JIT code into Envoy's binary and libraries per request,
    /// everything they did included: hostcalls, V8 builtins and runtime, the Envoy work a
    /// hostcall does. Envoy's binary is stripped, so this is how the host glue is told apart.
    pub jit_calls_out_per_req: f64,
    /// Wall time of the case (warm-up and window); it moves with the machine's load, the count
    /// does not.
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstrReport {
    pub mode: String,
    pub machine: Machine,
    pub module: String,
    pub module_bytes: u64,
    pub baseline_module: Option<String>,
    pub requests_per_case: u64,
    pub warmup_per_case: u64,
    pub boot_seconds: f64,
    pub total_seconds: f64,
    pub rows: Vec<Row>,
    /// Every figure under a flat name (`instructions.<id>`, `instructions.<derived>`); the gate's
    /// budgets name them.
    pub figures: Figures,
    pub derived: Vec<Derived>,
    pub problems: Vec<String>,
}

/// `(name, target bound, at most?)` of the figures with targets.
const TARGETS: [(&str, f64); 6] = [
    ("cache_off_over_ext_authz", 1.10),
    ("hit_minus_bypass", 25_000.0),
    ("bypass_minus_passthrough", 30_000.0),
    ("access_log_cost_hit", 5_000.0),
    ("grpc_cache_off_over_ext_authz_grpc", 1.10),
    ("revocation_cost_hit", 5_000.0),
];

impl InstrReport {
    pub fn new(
        machine: Machine,
        a: &InstrArgs,
        wasm: &Path,
        boot_seconds: f64,
        total_seconds: f64,
        rows: Vec<Row>,
    ) -> InstrReport {
        let (figures, derived) = figures(&rows);
        InstrReport {
            mode: a.mode.clone(),
            machine,
            module: wasm.display().to_string(),
            module_bytes: std::fs::metadata(wasm).map(|m| m.len()).unwrap_or(0),
            baseline_module: a.baseline.as_ref().map(|b| b.display().to_string()),
            requests_per_case: a.requests,
            warmup_per_case: a.warmup,
            boot_seconds,
            total_seconds,
            problems: problems(&rows),
            rows,
            figures,
            derived,
        }
    }

    pub fn load(path: &Path) -> Result<InstrReport, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// What makes a row's count untrustworthy: failed requests, callouts other than the case's name
/// promises, or a mesh-authz case in which no JIT code ran (the filter was not in the path).
pub fn problems(rows: &[Row]) -> Vec<String> {
    let mut out = Vec::new();
    for r in rows {
        if r.errors as f64 > r.requests as f64 * MAX_ERROR_RATIO {
            out.push(format!(
                "{}: {} of {} requests failed",
                r.id, r.errors, r.requests
            ));
        }
        if (r.callouts_per_req - r.expected_callouts_per_req).abs() > 0.05 {
            out.push(format!(
                "{}: {:.2} callouts per request, expected {}",
                r.id, r.callouts_per_req, r.expected_callouts_per_req
            ));
        }
        let filter = r.id.starts_with("baseline.")
            || ["bypass", "hit", "cache_off", "jwt_gate", "grpc_"]
                .iter()
                .any(|p| r.id.starts_with(p));
        let jit = r.self_by_object_per_req.get(JIT_OBJECT).copied();
        if filter && jit.unwrap_or(0.0) <= 0.0 {
            out.push(format!(
                "{}: no JIT code ran: the module was not in the path",
                r.id
            ));
        }
    }
    out
}

fn figures(rows: &[Row]) -> (Figures, Vec<Derived>) {
    let mut f = Figures::default();
    let per: BTreeMap<&str, f64> = rows
        .iter()
        .map(|r| (r.id.as_str(), r.instructions_per_req))
        .collect();
    for (id, v) in &per {
        f.ratios.insert(format!("instructions.{id}"), *v);
        if let Some(b) = per.get(format!("baseline.{id}").as_str()) {
            f.ratios
                .insert(format!("instructions.{id}_over_baseline"), v / b);
        }
    }
    let get = |id: &str| per.get(id).copied();
    let mut put = |name: &str, v: Option<f64>| {
        if let Some(v) = v {
            f.ratios.insert(format!("instructions.{name}"), v);
        }
    };
    let ratio = |a: &str, b: &str| Some(get(a)? / get(b)?);
    let minus = |a: &str, b: &str| Some(get(a)? - get(b)?);
    put("cache_off_over_ext_authz", ratio("cache_off", "ext_authz"));
    put("cache_off_over_lua", ratio("cache_off", "lua"));
    put("hit_minus_bypass", minus("hit", "bypass"));
    put("bypass_minus_passthrough", minus("bypass", "passthrough"));
    put("access_log_cost_hit", minus("hit", "hit_nolog"));
    put(
        "access_log_cost_miss",
        minus("cache_off", "cache_off_nolog"),
    );
    put("cache_off_minus_hit", minus("cache_off", "hit"));
    put(
        "grpc_cache_off_over_ext_authz_grpc",
        ratio("grpc_cache_off", "ext_authz_grpc"),
    );
    put(
        "grpc_cache_off_over_cache_off",
        ratio("grpc_cache_off", "cache_off"),
    );
    put("grpc_hit_minus_hit", minus("grpc_hit", "hit"));
    put("revocation_cost_hit", minus("hit_revocation", "hit"));
    put(
        "jwt_gate_repeated_minus_hit_jwt",
        minus("jwt_gate_repeated", "hit_jwt"),
    );
    put("hit_jwt_minus_hit", minus("hit_jwt", "hit"));
    // What a 4 KB header costs the filter beyond what it costs Envoy without the filter.
    for h in ["cookie4k", "xjunk4k"] {
        let hit = format!("hit_{h}");
        let pass = format!("passthrough_{h}");
        let cost = || Some(minus(&hit, "hit")? - minus(&pass, "passthrough")?);
        put(&format!("{h}_cost_in_filter"), cost());
    }
    let derived = TARGETS
        .iter()
        .filter_map(|(name, max)| {
            let value = *f.ratios.get(&format!("instructions.{name}"))?;
            let target = if *max < 10.0 {
                format!("<= {max:.2}x")
            } else {
                format!("<= {:.0}k", max / 1000.0)
            };
            Some(Derived {
                name: (*name).to_string(),
                value,
                target,
                met: Some(value <= *max),
            })
        })
        .collect();
    (f, derived)
}

fn k(v: f64) -> String {
    format!("{:.1}k", v / 1000.0)
}

pub fn table(r: &InstrReport) -> String {
    let mut s = String::new();
    let pass = r
        .rows
        .iter()
        .find(|x| x.id == "passthrough")
        .map(|x| x.instructions_per_req);
    let _ = writeln!(
        s,
        "\ninstructions per request (callgrind, all Envoy threads, {} requests per case after {} warm-up; {}):",
        r.requests_per_case, r.warmup_per_case, r.machine.date_utc
    );
    let _ = writeln!(
        s,
        "{:<28} {:>9} {:>8} {:>9} {:>10} {:>9} {:>9} {:>8} {:>8}",
        "case",
        "instr/req",
        "vs pass",
        "JIT self",
        "from JIT",
        "envoy",
        "unmapped",
        "libc",
        "callouts"
    );
    for x in &r.rows {
        let obj = |o: &str| x.self_by_object_per_req.get(o).copied().unwrap_or(0.0);
        let _ = writeln!(
            s,
            "{:<28} {:>9} {:>8} {:>9} {:>10} {:>9} {:>9} {:>8} {:>8.2}",
            x.id,
            k(x.instructions_per_req),
            pass.map_or("-".into(), |p| format!(
                "{:.2}x",
                x.instructions_per_req / p
            )),
            k(obj(JIT_OBJECT)),
            k(x.jit_calls_out_per_req),
            k(obj("envoy")),
            k(obj(UNMAPPED_OBJECT)),
            k(obj("libc.so.6")),
            x.callouts_per_req
        );
    }
    let _ = writeln!(s, "\nfigures:");
    for (name, v) in &r.figures.ratios {
        let short = name.trim_start_matches("instructions.");
        if r.rows.iter().any(|x| x.id == short) {
            continue;
        }
        let shown = if short.contains("_over_") {
            format!("{v:.3}x")
        } else {
            k(*v)
        };
        let target = r
            .derived
            .iter()
            .find(|d| d.name == short)
            .map(|d| {
                let met = if d.met == Some(true) {
                    "met"
                } else {
                    "NOT MET"
                };
                format!("  target {}: {met}", d.target)
            })
            .unwrap_or_default();
        let _ = writeln!(s, "  {short:<34} {shown:>9}{target}");
    }
    let _ = writeln!(
        s,
        "\nEnvoy under callgrind ready in {:.0} s; whole run {:.0} s; filter at {}; module {} bytes",
        r.boot_seconds, r.total_seconds, r.machine.source, r.module_bytes
    );
    s
}

/// `Ok(true)` when every budget holds; one line per budget either way.
pub fn check(r: &InstrReport, budgets: &Path) -> Result<bool, String> {
    let file = BudgetFile::load(budgets)?;
    println!(
        "instruction budgets from {} against the {} run of {}:",
        budgets.display(),
        r.mode,
        r.machine.date_utc
    );
    let mut ok = budget::report(&file, &r.figures, "bench-instructions-check");
    if !r.problems.is_empty() {
        ok = false;
        eprintln!(
            "bench-instructions-check: the run is not sound: {}",
            r.problems.join("; ")
        );
    }
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, ir: f64, callouts: f64, jit: f64) -> Row {
        Row {
            id: id.into(),
            label: id.into(),
            baseline_module: id.starts_with("baseline."),
            requests: 100,
            warmup_requests: 10,
            errors: 0,
            callouts_per_req: callouts,
            expected_callouts_per_req: callouts,
            instructions: (ir * 100.0) as u64,
            instructions_per_req: ir,
            self_by_object_per_req: BTreeMap::from([(JIT_OBJECT.to_string(), jit)]),
            jit_calls_out_per_req: 0.0,
            seconds: 1.0,
        }
    }

    #[test]
    fn figures_and_targets() {
        let rows = vec![
            row("passthrough", 200_000.0, 0.0, 0.0),
            row("ext_authz", 340_000.0, 1.0, 0.0),
            row("bypass", 240_000.0, 0.0, 5_000.0),
            row("hit", 285_000.0, 0.0, 9_000.0),
            row("hit_nolog", 265_000.0, 0.0, 8_000.0),
            row("cache_off", 430_000.0, 1.0, 20_000.0),
            row("baseline.hit", 300_000.0, 0.0, 9_000.0),
            row("ext_authz_grpc", 400_000.0, 1.0, 0.0),
            row("grpc_cache_off", 420_000.0, 1.0, 20_000.0),
            row("hit_revocation", 288_000.0, 0.0, 9_500.0),
        ];
        let (f, d) = figures(&rows);
        assert_eq!(f.ratios["instructions.hit_minus_bypass"], 45_000.0);
        assert_eq!(f.ratios["instructions.bypass_minus_passthrough"], 40_000.0);
        assert_eq!(f.ratios["instructions.access_log_cost_hit"], 20_000.0);
        assert!((f.ratios["instructions.hit_over_baseline"] - 0.95).abs() < 1e-9);
        assert!(!f.ratios.contains_key("instructions.cache_off_over_lua"));
        assert!((f.ratios["instructions.grpc_cache_off_over_ext_authz_grpc"] - 1.05).abs() < 1e-9);
        assert_eq!(f.ratios["instructions.revocation_cost_hit"], 3_000.0);
        assert_eq!(d.len(), 6);
        let met: Vec<&str> = d
            .iter()
            .filter(|x| x.met == Some(true))
            .map(|x| x.name.as_str())
            .collect();
        assert_eq!(
            met,
            ["grpc_cache_off_over_ext_authz_grpc", "revocation_cost_hit"]
        );
        assert!(problems(&rows).is_empty());
    }

    #[test]
    fn unsound_rows_are_named() {
        let grpc = row("grpc_hit", 1.0, 0.0, 0.0);
        assert!(problems(&[grpc]).join("; ").contains("no JIT code ran"));
        let mut bad = row("cache_off", 1.0, 1.0, 0.0);
        bad.callouts_per_req = 0.0;
        bad.errors = 5;
        let p = problems(&[bad]).join("; ");
        assert!(p.contains("5 of 100 requests failed"), "{p}");
        assert!(p.contains("0.00 callouts per request, expected 1"), "{p}");
        assert!(p.contains("no JIT code ran"), "{p}");
    }

    #[test]
    fn recorded_figures_derive_from_the_recorded_rows() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let r = InstrReport::load(&dir.join("fixtures/instructions-recorded.json")).unwrap();
        let (f, d) = figures(&r.rows);
        // JSON keeps 17 digits: equal up to the last one.
        let names = |m: &BTreeMap<String, f64>| m.keys().cloned().collect::<Vec<_>>();
        assert_eq!(names(&f.ratios), names(&r.figures.ratios));
        for (name, v) in &f.ratios {
            let recorded = r.figures.ratios[name];
            assert!((v - recorded).abs() <= 1e-9 * v.abs().max(1.0), "{name}");
        }
        assert_eq!(d.len(), r.derived.len());
        assert!(problems(&r.rows).is_empty());
    }

    #[test]
    fn checked_in_budgets_parse_and_name_measured_figures() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let f = BudgetFile::load(&dir.join("instruction-budgets.json")).unwrap();
        assert!(f.budgets.len() >= 4);
        assert!(f
            .budgets
            .iter()
            .all(|b| b.figure.starts_with("instructions.") && !b.why.is_empty()));
    }
}
