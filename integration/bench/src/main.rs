//! `mesh-authz-bench`: mesh-authz side by side with no filter, native ext_authz and the legacy Lua
//! filter, on one machine in one run. `make bench`, `make bench-check`, `make bench-smoke`.
//!
//! - `variant`: the variants and what each needs (bootstrap, plugin JSON, credentials);
//!   `jwt_variant`, `jwt_pool`, `jwt_authn`, `jwt_probe`: the JWT ones (checker × token load),
//!   their signed tokens, jwt_authn's bootstrap with the run's keys, their checks at boot.
//! - `rig`: auth service + echo upstream shared by all, one Envoy per case, one measurement.
//! - `load`, `conn`, `zipf`: the closed-loop generator, its keep-alive connection, the user draw.
//! - `cpu`: Envoy's CPU from `/proc/<pid>/stat`; `machine`: what the run was measured on.
//! - `summary`: medians, paired ratios, derived figures; `sanity`: what every run asserts.
//! - `report`, `svg`: JSON, tables, chart; `budget`: the ratio budgets `check` enforces.
//! - `memory`: VM memory per cached decision, module size, start-up time (`memory` command);
//!   `soak`: VM memory and Envoy RSS through many distinct credentials (`memory`, `soak`).
//! - `flight`: callouts per request on bursts of identical new credentials (`flight` command).
//! - `census`: hostcalls, VM entries, allocations and bytes per request on each path, counted.
//! - `instructions`, `instr_bootstrap`, `instr_report`, `callgrind`: instructions per request of
//!   the real Envoy under callgrind, one listener per case (`instructions` command), and its gate.
//! - `startup`: Envoy start to ready and VM memory per worker at 1, 2 and 4 workers.

mod budget;
mod callgrind;
mod census;
mod cli;
mod conn;
mod cpu;
mod flight;
mod instr_bootstrap;
mod instr_report;
mod instructions;
mod jwt_authn;
mod jwt_pool;
mod jwt_probe;
mod jwt_summary;
mod jwt_variant;
mod load;
mod machine;
mod memory;
mod report;
mod rig;
mod sanity;
mod soak;
mod startup;
mod summary;
mod svg;
mod variant;
use mesh_authz_integration::zipf;

use cli::{Command, RunArgs};
use load::LoadSpec;
use mesh_authz_integration::paths;
use report::{Report, Settings};
use rig::{Case, Rig, Sample};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Counts the module's allocations for `census` (a plain `System` allocator otherwise).
#[global_allocator]
static ALLOCATOR: census::CountingAlloc = census::CountingAlloc;

fn main() -> ExitCode {
    // clap prints its error (status 2) or the help asked for (status 0).
    let command = cli::parse(std::env::args_os().skip(1)).unwrap_or_else(|e| e.exit());
    let result = match command {
        Command::Run(a) => run(&RunArgs::from(a)),
        Command::Check { result, budgets } => {
            Report::load(&result).and_then(|r| check_budgets(&r, &budgets))
        }
        Command::Chart { result, svg } => Report::load(&result)
            .and_then(|r| write_svg(&r, &svg))
            .map(|()| true),
        Command::Table { result, markdown } => Report::load(&result).map(|r| {
            print!("{}", report::table(&r, markdown));
            true
        }),
        Command::Memory { entries, soak, out } => measure_memory(entries, soak, &out),
        Command::Soak { credentials, out } => measure_soak(credentials, &out),
        Command::Flight {
            workers,
            burst,
            rounds,
            out,
        } => measure_flight(&workers.0, burst, rounds, &out),
        Command::Instructions(a) => instructions::run(&a.into()),
        Command::Startup { workers, out } => prerequisites()
            .and_then(|p| startup::run(&p.envoy, &p.wasm, &workers.0))
            .and_then(|r| write_json(&r, &out))
            .map(|()| true),
        Command::CheckInstructions { result, budgets } => {
            instr_report::InstrReport::load(&result).and_then(|r| instr_report::check(&r, &budgets))
        }
        Command::Census => census::run().map(|c| {
            print!("{}", census::table(&c));
            true
        }),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("mesh-authz-bench: {e}");
            ExitCode::from(3)
        }
    }
}

fn prerequisites() -> Result<paths::Prerequisites, String> {
    paths::prerequisites()
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "Envoy or the module is missing: run `make venv build` first".to_string())
}

fn write_json(value: &impl serde::Serialize, out: &Path) -> Result<(), String> {
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    let json = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    std::fs::write(out, json).map_err(|e| format!("writing {}: {e}", out.display()))?;
    println!("written {}", out.display());
    Ok(())
}

fn measure_memory(entries: usize, soak: u64, out: &Path) -> Result<bool, String> {
    let p = prerequisites()?;
    let r = memory::run(&p.envoy, &p.wasm, entries, soak)?;
    memory::print(&r);
    write_json(&r, out)?;
    // The soak's verdict is reported, not enforced: a shared machine's RSS is not a gate.
    Ok(true)
}

fn measure_soak(credentials: u64, out: &Path) -> Result<bool, String> {
    let p = prerequisites()?;
    let r = soak::run(&p.envoy, &p.wasm, credentials)?;
    soak::print(&r);
    write_json(&r, out)?;
    Ok(r.flat)
}

fn measure_flight(workers: &[u32], burst: usize, rounds: u32, out: &Path) -> Result<bool, String> {
    let p = prerequisites()?;
    let rows = flight::run(&p, workers, burst, rounds)?;
    write_json(&rows, out)?;
    Ok(true)
}

fn write_svg(r: &Report, path: &Path) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    std::fs::write(path, svg::render(r)).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// `Ok(true)` when every budget holds; prints one line per budget either way.
fn check_budgets(r: &Report, path: &Path) -> Result<bool, String> {
    let file = budget::BudgetFile::load(path)?;
    println!(
        "budgets from {} against the {} run of {}:",
        path.display(),
        r.settings.mode,
        r.machine.date_utc
    );
    let ok = budget::report(&file, &r.figures, "bench-check");
    if !ok {
        eprintln!(
            "bench-check: a budget is broken (figures are ratios from {}; budgets in {})",
            r.settings.mode,
            path.display()
        );
    }
    Ok(ok)
}

fn progress(line: &str) {
    println!("{line}");
    let _ = std::io::stdout().flush();
}

fn run(a: &RunArgs) -> Result<bool, String> {
    let p = paths::prerequisites()
        .map_err(|e| e.to_string())?
        .ok_or("Envoy or the module is missing: run `make venv build` first")?;
    let mut machine = machine::Machine::probe(&p.envoy);
    progress(&format!(
        "mesh-authz bench, {} mode: {} cases × {} round(s), {} connections, {:.1} s warm-up + {:.1} s window each",
        a.mode,
        a.cases.len(),
        a.rounds,
        a.connections,
        a.warmup.as_secs_f64(),
        a.duration.as_secs_f64()
    ));
    progress(&format!("machine: {}", machine.one_line()));
    let jwt_loads: Vec<jwt_variant::TokenLoad> = a
        .cases
        .iter()
        .filter_map(|c| match c.variant.credentials(&a.mixed) {
            variant::Credentials::Jwt(load) => Some(load),
            _ => None,
        })
        .collect();
    let pool = if jwt_loads.is_empty() {
        None
    } else {
        progress(&format!(
            "signing {} RS256 tokens for the JWT variants",
            jwt_pool::size(&a.jwt, &jwt_loads, a.rounds, a.connections)
        ));
        let pool = jwt_pool::TokenPool::new(&a.jwt, &jwt_loads, a.rounds, a.connections)?;
        progress(&format!(
            "signed in {:.1} s",
            pool.signing_time.as_secs_f64()
        ));
        Some((pool, a.jwt))
    };
    let tokens_signed = pool.as_ref().map(|(p, _)| p.len());
    let mut rig = Rig::new(a.mixed, a.service_threads, pool).map_err(|e| e.to_string())?;
    for case in &a.cases {
        progress(&format!(
            "booting Envoy for {} ({})",
            case.id(),
            case.variant.label()
        ));
        rig.boot(*case, &p.envoy, &p.wasm)
            .map_err(|e| format!("{}: {e}", case.id()))?;
        rig.probe(case)?;
    }
    let spec = LoadSpec {
        connections: a.connections,
        warmup: a.warmup,
        duration: a.duration,
        max_requests: a.max_requests,
        max_warmup_requests: a.max_requests,
    };
    let mut results: BTreeMap<Case, Vec<Sample>> =
        a.cases.iter().map(|c| (*c, Vec::new())).collect();
    let total = a.cases.len() * a.rounds as usize;
    let mut done = 0;
    for round in 1..=a.rounds {
        // Each round starts one case later, so no variant always runs first (or last) in a round.
        let shift = (round as usize - 1) % a.cases.len();
        let order = a.cases.iter().cycle().skip(shift).take(a.cases.len());
        for case in order {
            done += 1;
            let s = rig.measure(case, &spec, round)?;
            progress(&format!(
                "[{done:>2}/{total}] round {round} {:<16} {:>7} req {:>8.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  CPU {:>6.1} µs/req  callouts/req {:.3}{}{}{}",
                case.id(),
                s.requests,
                s.rps,
                s.p50_ms,
                s.p99_ms,
                s.cpu_us_per_req,
                s.callouts_per_req,
                s.hit_ratio.map(|h| format!("  hit {:.1}%", h * 100.0)).unwrap_or_default(),
                s.token_hit_ratio.map(|h| format!("  token hits {:.1}%", h * 100.0)).unwrap_or_default(),
                if s.errors > 0 { format!("  errors {}", s.errors) } else { String::new() }
            ));
            if let Some(v) = results.get_mut(case) {
                v.push(s);
            }
        }
    }
    machine.loadavg_after = machine::loadavg();
    let cases = summary::summarize(&results);
    let (figures, derived) = summary::figures(&results, &cases, rig.envoy_verify);
    let problems = sanity::check(&cases);
    let report = Report {
        settings: Settings {
            mode: a.mode.clone(),
            cases: a.cases.iter().map(Case::id).collect(),
            rounds: a.rounds,
            connections: a.connections,
            warmup_s: a.warmup.as_secs_f64(),
            duration_s: a.duration.as_secs_f64(),
            max_requests: a.max_requests,
            service_threads: a.service_threads,
            mixed: a.mixed,
            jwt: tokens_signed.map(|tokens| report::JwtSettings {
                workload: a.jwt,
                tokens_signed: tokens,
                signatures: match rig.envoy_verify {
                    Some(true) => "Envoy's verify_signature (BoringSSL)",
                    Some(false) => "the VM (RustCrypto): this Envoy has no verify_signature",
                    None => "unknown (no mesh-authz JWT variant in the run)",
                }
                .into(),
            }),
        },
        machine,
        cases,
        derived,
        figures,
        problems: problems.clone(),
        samples: results.iter().map(|(c, s)| (c.id(), s.clone())).collect(),
        census: census::run()?,
    };
    let out = absolute(&a.out);
    let svg_path = a
        .svg
        .as_ref()
        .map(|p| absolute(p))
        .unwrap_or_else(|| out.with_extension("svg"));
    report.save(&out)?;
    write_svg(&report, &svg_path)?;
    println!();
    print!("{}", report::table(&report, false));
    println!("\nspread over rounds:\n{}", report::spread(&report));
    println!(
        "derived figures (performance targets; informational here):\n{}",
        report::derived(&report)
    );
    print!("\n{}", census::table(&report.census));
    if let Some(j) = &report.settings.jwt {
        println!(
            "JWT variants: {} RS256 tokens signed; mesh-authz checked signatures with {}",
            j.tokens_signed, j.signatures
        );
    }
    println!("machine: {}", report.machine.one_line());
    println!("wrote {} and {}", out.display(), svg_path.display());
    let mut ok = true;
    if !problems.is_empty() {
        ok = false;
        for p in &problems {
            eprintln!("bench: {p}");
        }
        eprintln!(
            "bench: the run is not sound (a variant did not behave as named); figures not trusted"
        );
    }
    if let Some(budgets) = &a.budgets {
        ok &= check_budgets(&report, &absolute(budgets))?;
    }
    Ok(ok)
}

/// Paths on the command line are relative to where `make` ran, the repo root; `cargo run` keeps
/// that as the working directory, so this only anchors them for the messages.
fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}
