//! Command line: `run` (with `--mode full|check|smoke` presets), `check`, `chart`, `table`, `memory`,
//! `census`.

use crate::instructions::InstrArgs;
use crate::jwt_variant::JwtWorkload;
use crate::rig::Case;
use crate::variant::{self, MixedWorkload, Variant};
use std::path::PathBuf;
use std::time::Duration;

pub const USAGE: &str = "\
usage:
  mesh-authz-bench run [--mode full|check|smoke] [--cases all@1,mixed@2] [--workers N]
                       [--rounds N] [--warmup S] [--duration S] [--connections N] [--max-requests N]
                       [--users N] [--zipf S] [--ttl S] [--service-threads N]
                       [--jwt-tokens N] [--jwt-users N]
                       [--out FILE.json] [--svg FILE.svg] [--budgets FILE]
  mesh-authz-bench check --result FILE.json --budgets FILE
  mesh-authz-bench chart --result FILE.json --svg FILE.svg
  mesh-authz-bench table --result FILE.json [--markdown]
  mesh-authz-bench memory [--entries N] [--soak N] [--out FILE.json]
  mesh-authz-bench soak [--credentials N] [--out FILE.json]
  mesh-authz-bench flight [--workers 1,2,4] [--burst N] [--rounds N] [--out FILE.json]
  mesh-authz-bench census
  mesh-authz-bench instructions [--mode full|check] [--requests N] [--warmup N]
                       [--baseline-wasm FILE.wasm] [--baseline-cases hit,bypass] [--baseline-compat]
                       [--out FILE.json] [--budgets FILE]
  mesh-authz-bench check-instructions --result FILE.json --budgets FILE
  mesh-authz-bench startup [--workers 1,2,4] [--out FILE.json]

Modes: full = 3 rounds of 2 s warm-up + 10 s per case, all and jwt; check = 2 rounds of 1 s +
4 s, all with mixed@2 added for the 2-worker callout figure; smoke = 1 round of 0.5 s + 1.5 s,
all and jwt.
Cases: VARIANT[@WORKERS], all[@WORKERS], jwt[@WORKERS] or auth2ms[@WORKERS], comma-separated;
variants: passthrough, bypass, hit, cache_off, mixed, lua, ext_authz (all), and mixed_2ms,
lua_2ms, ext_authz_2ms: the same with an auth service that takes 2 ms per check (auth2ms: these
three and passthrough); jwt: jwt_authn_*, jwt_authn_cached_*, jwt_gate_*, jwt_authenticate_*,
each with *_new (a new RS256 token each request), *_repeated and *_zipf tokens, and hit_jwt
(hit with the repeated JWT as an unchecked bearer: jwt_gate_repeated's bytes, no token check);
jwt_authenticate_forged_rs256 and _ps256: a forged token each request (no kid, random
signature; all 401; the PS256 provider lists PS256, so it is checked in the VM).
--jwt-tokens: new-token (and forged-token) requests per window (full 10000, check 4000, smoke 1000; the warm-up
takes a tenth, at least 200); --jwt-users: users of the JWT Zipf variants (full 20000). Each
token is signed before the first measurement (about 1.5 ms of CPU each).
Envoy: ENVOY_BIN or .venv/bin/envoy; module: MESH_AUTHZ_WASM or dist/mesh_authz.wasm.
memory: VM bytes per cached decision (--entries, 100000), module size, start-up time, then the soak
(--soak distinct credentials, 200000; 0 skips it). soak: only the soak (--credentials, 1000000).
flight: bursts of identical new-credential requests (--burst 32, --rounds 5) per worker count.
instructions: one Envoy under callgrind, a listener per case; instructions per request over
--requests (full 200, check 100) after --warmup (20); full = 10 cases, check = the gate's 6;
--baseline-wasm adds the mesh-authz cases again with a second module (its own VM), or only
--baseline-cases (ids such as hit, hit_nolog, cache_off: an older module refuses options it lacks);
--baseline-compat keeps only pathPrefix/method bypass rules in the baseline's configuration.";

#[derive(Debug, Clone, PartialEq)]
pub struct RunArgs {
    pub mode: String,
    pub cases: Vec<Case>,
    pub rounds: u32,
    pub warmup: Duration,
    pub duration: Duration,
    pub connections: usize,
    pub max_requests: u64,
    pub service_threads: usize,
    pub mixed: MixedWorkload,
    pub jwt: JwtWorkload,
    pub out: PathBuf,
    pub svg: Option<PathBuf>,
    pub budgets: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Run(RunArgs),
    Check {
        result: PathBuf,
        budgets: PathBuf,
    },
    Chart {
        result: PathBuf,
        svg: PathBuf,
    },
    Table {
        result: PathBuf,
        markdown: bool,
    },
    /// Hostcalls, VM entries, allocations and bytes per request on each path.
    Census,
    /// Instructions per request under callgrind.
    Instructions(InstrArgs),
    /// Start to ready and VM memory per worker at several worker counts.
    Startup {
        workers: Vec<u32>,
        out: PathBuf,
    },
    /// The instruction budgets on a recorded `instructions` run.
    CheckInstructions {
        result: PathBuf,
        budgets: PathBuf,
    },
    /// VM memory per cached decision (N distinct credentials), module size, start-up time.
    Memory {
        entries: usize,
        soak: u64,
        out: PathBuf,
    },
    /// VM memory and Envoy RSS through N distinct credentials, first half against second half.
    Soak {
        credentials: u64,
        out: PathBuf,
    },
    /// Callouts per request on bursts of identical new credentials, per worker count.
    Flight {
        workers: Vec<u32>,
        burst: usize,
        rounds: u32,
        out: PathBuf,
    },
}

impl RunArgs {
    fn preset(mode: &str) -> Result<RunArgs, String> {
        let (rounds, warmup, duration, cases) = match mode {
            "full" => (3, 2.0, 10.0, "all@1,jwt@1"),
            "check" => (2, 1.0, 4.0, "all@1,mixed@2"),
            "smoke" => (1, 0.5, 1.5, "all@1,jwt@1"),
            other => return Err(format!("unknown mode {other} (full, check, smoke)")),
        };
        Ok(RunArgs {
            mode: mode.into(),
            cases: parse_cases(cases, 1)?,
            rounds,
            warmup: Duration::from_secs_f64(warmup),
            duration: Duration::from_secs_f64(duration),
            connections: 8,
            max_requests: 2_000_000,
            service_threads: 2,
            mixed: MixedWorkload::default(),
            jwt: JwtWorkload::for_mode(mode),
            out: PathBuf::from(format!("target/bench/{mode}.json")),
            svg: None,
            budgets: None,
        })
    }
}

pub fn parse_cases(spec: &str, default_workers: u32) -> Result<Vec<Case>, String> {
    let mut cases = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, workers) = match part.split_once('@') {
            Some((n, w)) => (
                n,
                w.trim_end_matches('w')
                    .parse()
                    .map_err(|_| format!("bad worker count in {part}"))?,
            ),
            None => (part, default_workers),
        };
        if !(1..=64).contains(&workers) {
            return Err(format!("{part}: workers must be 1..=64"));
        }
        let variants: Vec<Variant> = if name == "all" {
            variant::ALL.to_vec()
        } else if name == "jwt" {
            variant::jwt().collect()
        } else if name == "auth2ms" {
            std::iter::once(Variant::Passthrough)
                .chain(variant::AUTH_2MS)
                .collect()
        } else {
            vec![Variant::parse(name).ok_or_else(|| format!("unknown variant {name}"))?]
        };
        for variant in variants {
            let case = Case { variant, workers };
            if !cases.contains(&case) {
                cases.push(case);
            }
        }
    }
    if cases.is_empty() {
        return Err("no case to run".into());
    }
    Ok(cases)
}

/// `--workers 1,2,4` (the default), each 1 to 16.
fn worker_list(pairs: &[(&str, &str)]) -> Result<Vec<u32>, String> {
    let workers = match pairs.iter().rev().find(|(f, _)| *f == "--workers") {
        Some((f, v)) => v
            .split(',')
            .map(|w| num::<u32>(f, w.trim()))
            .collect::<Result<Vec<u32>, String>>()?,
        None => vec![1, 2, 4],
    };
    if workers.is_empty() || workers.iter().any(|w| !(1..=16).contains(w)) {
        return Err("--workers: a list of 1..=16".into());
    }
    Ok(workers)
}

fn num<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("{flag}: {v} is not a valid number"))
}

fn secs(flag: &str, v: &str) -> Result<Duration, String> {
    let s: f64 = num(flag, v)?;
    if !(0.0..=3600.0).contains(&s) {
        return Err(format!("{flag}: {v} s is out of range (0..=3600)"));
    }
    Ok(Duration::from_secs_f64(s))
}

pub fn parse(args: &[String]) -> Result<Command, String> {
    let (cmd, rest) = args.split_first().ok_or("no command")?;
    let mut pairs = Vec::new();
    let mut markdown = false;
    let mut baseline_compat = false;
    let mut it = rest.iter();
    while let Some(flag) = it.next() {
        if flag == "--markdown" {
            markdown = true;
            continue;
        }
        if flag == "--baseline-compat" {
            baseline_compat = true;
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        pairs.push((flag.as_str(), value.as_str()));
    }
    let get = |name: &str| {
        pairs
            .iter()
            .rev()
            .find(|(f, _)| *f == name)
            .map(|(_, v)| PathBuf::from(v))
    };
    let need = |name: &str| get(name).ok_or_else(|| format!("{cmd} needs {name}"));
    let number = |name: &str, default: u64| -> Result<u64, String> {
        match pairs.iter().rev().find(|(f, _)| *f == name) {
            Some((f, v)) => num(f, v),
            None => Ok(default),
        }
    };
    match cmd.as_str() {
        "check" => Ok(Command::Check {
            result: need("--result")?,
            budgets: need("--budgets")?,
        }),
        "chart" => Ok(Command::Chart {
            result: need("--result")?,
            svg: need("--svg")?,
        }),
        "table" => Ok(Command::Table {
            result: need("--result")?,
            markdown,
        }),
        "census" => Ok(Command::Census),
        "check-instructions" => Ok(Command::CheckInstructions {
            result: need("--result")?,
            budgets: need("--budgets")?,
        }),
        "instructions" => {
            let mode = pairs
                .iter()
                .rev()
                .find(|(f, _)| *f == "--mode")
                .map_or("full", |(_, v)| *v);
            let requests = match mode {
                "full" => 200,
                "check" => 100,
                other => return Err(format!("unknown instructions mode {other} (full, check)")),
            };
            let a = InstrArgs {
                mode: mode.into(),
                requests: number("--requests", requests)?,
                warmup: number("--warmup", 20)?,
                baseline: get("--baseline-wasm"),
                baseline_cases: pairs
                    .iter()
                    .rev()
                    .find(|(f, _)| *f == "--baseline-cases")
                    .map(|(_, v)| v.split(',').map(|c| c.trim().to_string()).collect()),
                baseline_compat,
                out: get("--out").unwrap_or_else(|| {
                    PathBuf::from(format!("target/bench/instructions-{mode}.json"))
                }),
                budgets: get("--budgets"),
            };
            if !(1..=100_000).contains(&a.requests) || !(1..=100_000).contains(&a.warmup) {
                return Err("--requests and --warmup must be 1..=100000".into());
            }
            Ok(Command::Instructions(a))
        }
        "memory" => {
            let entries = match pairs.iter().rev().find(|(f, _)| *f == "--entries") {
                Some((f, v)) => num(f, v)?,
                None => 100_000,
            };
            if entries == 0 {
                return Err("--entries must be at least 1".into());
            }
            let out = get("--out").unwrap_or_else(|| PathBuf::from("target/bench/memory.json"));
            let soak = number("--soak", 200_000)?;
            Ok(Command::Memory { entries, soak, out })
        }
        "soak" => {
            let credentials = number("--credentials", 1_000_000)?;
            if !(1..=100_000_000).contains(&credentials) {
                return Err("--credentials must be 1..=100000000".into());
            }
            let out = get("--out").unwrap_or_else(|| PathBuf::from("target/bench/soak.json"));
            Ok(Command::Soak { credentials, out })
        }
        "startup" => {
            let workers = worker_list(&pairs)?;
            let out = get("--out").unwrap_or_else(|| PathBuf::from("target/bench/startup.json"));
            Ok(Command::Startup { workers, out })
        }
        "flight" => {
            let workers = worker_list(&pairs)?;
            let burst = usize::try_from(number("--burst", 32)?).map_err(|e| e.to_string())?;
            let rounds = u32::try_from(number("--rounds", 5)?).map_err(|e| e.to_string())?;
            if !(1..=256).contains(&burst) || !(1..=100).contains(&rounds) {
                return Err("--burst must be 1..=256 and --rounds 1..=100".into());
            }
            let out = get("--out").unwrap_or_else(|| PathBuf::from("target/bench/flight.json"));
            Ok(Command::Flight {
                workers,
                burst,
                rounds,
                out,
            })
        }
        "run" => {
            let mode = pairs
                .iter()
                .rev()
                .find(|(f, _)| *f == "--mode")
                .map(|(_, v)| *v)
                .unwrap_or("full");
            let mut a = RunArgs::preset(mode)?;
            let mut workers = 1;
            let mut cases_spec = None;
            for (flag, v) in &pairs {
                match *flag {
                    "--mode" => {}
                    "--cases" => cases_spec = Some(v.to_string()),
                    "--workers" => workers = num(flag, v)?,
                    "--rounds" => a.rounds = num(flag, v)?,
                    "--warmup" => a.warmup = secs(flag, v)?,
                    "--duration" => a.duration = secs(flag, v)?,
                    "--connections" => a.connections = num(flag, v)?,
                    "--max-requests" => a.max_requests = num(flag, v)?,
                    "--service-threads" => a.service_threads = num(flag, v)?,
                    "--users" => a.mixed.users = num(flag, v)?,
                    "--zipf" => a.mixed.zipf_s = num(flag, v)?,
                    "--ttl" => a.mixed.allow_ttl_seconds = num(flag, v)?,
                    "--jwt-tokens" => {
                        a.jwt.new_per_window = num(flag, v)?;
                        a.jwt.new_per_warmup = (a.jwt.new_per_window / 10).max(200);
                    }
                    "--jwt-users" => a.jwt.users = num(flag, v)?,
                    "--out" => a.out = PathBuf::from(v),
                    "--svg" => a.svg = Some(PathBuf::from(v)),
                    "--budgets" => a.budgets = Some(PathBuf::from(v)),
                    other => return Err(format!("unknown flag {other}")),
                }
            }
            if let Some(spec) = cases_spec {
                a.cases = parse_cases(&spec, workers)?;
            } else if workers != 1 {
                // The preset's cases, at that worker count.
                for c in &mut a.cases {
                    c.workers = workers;
                }
            }
            if a.rounds == 0
                || a.connections == 0
                || a.max_requests == 0
                || a.mixed.users == 0
                || a.jwt.new_per_window == 0
                || a.jwt.users == 0
            {
                return Err(
                    "rounds, connections, max-requests, users, jwt-tokens and jwt-users must be at least 1"
                        .into(),
                );
            }
            if a.duration.is_zero() {
                return Err("--duration must be more than 0".into());
            }
            Ok(Command::Run(a))
        }
        other => Err(format!("unknown command {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn cases_expand_and_dedupe() {
        let c = parse_cases("all@1,mixed@2,hit", 1).unwrap();
        assert_eq!(c.len(), 8);
        assert_eq!(
            c[7],
            Case {
                variant: Variant::Mixed,
                workers: 2
            }
        );
        assert!(parse_cases("nope", 1).is_err());
        let slow = parse_cases("auth2ms@2", 1).unwrap();
        assert_eq!(slow.len(), 4);
        assert!(slow.iter().all(|c| c.workers == 2));
        assert!(slow.contains(&Case {
            variant: Variant::Lua2ms,
            workers: 2
        }));
        assert!(parse_cases("hit@0", 1).is_err());
        assert!(parse_cases("", 1).is_err());
    }

    #[test]
    fn presets_and_overrides() {
        let Command::Run(a) = parse(&args("run --mode smoke --duration 3 --workers 2")).unwrap()
        else {
            panic!()
        };
        assert_eq!(a.rounds, 1);
        assert_eq!(a.duration, Duration::from_secs(3));
        assert!(a.cases.iter().all(|c| c.workers == 2) && a.cases.len() == 7 + 15);
        assert_eq!(a.jwt, JwtWorkload::for_mode("smoke"));
        let Command::Run(a) = parse(&args("run --mode check")).unwrap() else {
            panic!()
        };
        // The gate's run keeps its length: no JWT variant unless asked for.
        assert_eq!(a.cases.len(), 8);
        assert!(a.cases.iter().all(|c| c.variant.jwt().is_none()));
        assert!(a.cases.contains(&Case {
            variant: Variant::Mixed,
            workers: 2
        }));
        let Command::Run(a) = parse(&args(
            "run --cases jwt,hit --jwt-tokens 5000 --jwt-users 300",
        ))
        .unwrap() else {
            panic!()
        };
        assert_eq!(a.cases.len(), 16);
        assert_eq!(
            (a.jwt.new_per_window, a.jwt.new_per_warmup, a.jwt.users),
            (5000, 500, 300)
        );
        assert!(parse(&args("run --jwt-tokens 0")).is_err());
        assert!(parse(&args("run --mode fast")).is_err());
        assert!(parse(&args("run --rounds 0")).is_err());
        assert!(parse(&args("run --bogus 1")).is_err());
        assert!(parse(&args("check --result x.json")).is_err());
        assert!(matches!(
            parse(&args("memory")).unwrap(),
            Command::Memory {
                entries: 100_000,
                soak: 200_000,
                ..
            }
        ));
        assert!(matches!(
            parse(&args("soak")).unwrap(),
            Command::Soak {
                credentials: 1_000_000,
                ..
            }
        ));
        let Command::Flight { workers, burst, .. } =
            parse(&args("flight --workers 2,4 --burst 16")).unwrap()
        else {
            panic!()
        };
        assert_eq!((workers, burst), (vec![2, 4], 16));
        assert!(parse(&args("flight --workers 0")).is_err());
        let Command::Instructions(i) =
            parse(&args("instructions --mode check --baseline-wasm b.wasm")).unwrap()
        else {
            panic!()
        };
        assert_eq!((i.requests, i.warmup), (100, 20));
        assert_eq!(i.baseline, Some(PathBuf::from("b.wasm")));
        assert!(parse(&args("instructions --requests 0")).is_err());
        assert!(parse(&args("instructions --mode quick")).is_err());
        assert!(parse(&args("soak --credentials 0")).is_err());
        assert_eq!(
            parse(&args("table --result r.json --markdown")).unwrap(),
            Command::Table {
                result: "r.json".into(),
                markdown: true
            }
        );
    }
}
