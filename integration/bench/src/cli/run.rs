//! `run`: a preset (`--mode`), then the explicit options over it.

use super::values::{self, dedupe, CaseSpec};
use crate::jwt_variant::JwtWorkload;
use crate::rig::Case;
use crate::variant::{self, MixedWorkload};
use clap::builder::RangedU64ValueParser;
use clap::{value_parser, Args, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

pub const AFTER_HELP: &str = "\
Modes: full = 3 rounds of 2 s warm-up + 10 s per case, all and jwt; check = 2 rounds of 1 s +
4 s, all with mixed@2 added for the 2-worker callout figure; smoke = 1 round of 0.5 s + 1.5 s,
all and jwt. An explicit option overrides its mode's value.
Cases: VARIANT[@WORKERS], all[@WORKERS], jwt[@WORKERS] or auth2ms[@WORKERS], comma-separated;
variants: passthrough, bypass, hit, cache_off, mixed, lua, ext_authz (all), and mixed_2ms,
lua_2ms, ext_authz_2ms: the same with an auth service that takes 2 ms per check (auth2ms: these
three and passthrough); jwt: jwt_authn_*, jwt_authn_cached_*, jwt_gate_*, jwt_authenticate_*,
each with *_new (a new RS256 token each request), *_repeated and *_zipf tokens, and hit_jwt
(hit with the repeated JWT as an unchecked bearer: jwt_gate_repeated's bytes, no token check);
jwt_authenticate_forged_rs256 and _ps256: a forged token each request (no kid, random
signature; all 401; the PS256 provider lists PS256, so it is checked in the VM).
--jwt-tokens: new-token (and forged-token) requests per window (full 10000, check 4000, smoke
1000; the warm-up takes a tenth, at least 200); --jwt-users: users of the JWT Zipf variants
(full 20000). Each token is signed before the first measurement (about 1.5 ms of CPU each).
Envoy: ENVOY_BIN or .venv/bin/envoy; module: MESH_AUTHZ_WASM or dist/mesh_authz.wasm.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// 3 rounds of 2 s warm-up + 10 s per case, all and jwt
    Full,
    /// 2 rounds of 1 s + 4 s, all with mixed@2 added (the CI gate's run)
    Check,
    /// 1 round of 0.5 s + 1.5 s, all and jwt (the machinery works)
    Smoke,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Full => "full",
            Mode::Check => "check",
            Mode::Smoke => "smoke",
        }
    }
}

// The options as given; `None` keeps the preset's value. (A `//` comment: clap would show a
// doc comment as the command's description.)
#[derive(Debug, PartialEq, Args)]
pub struct RunOpts {
    /// Preset of rounds, times, cases and JWT workload
    #[arg(long, value_enum, default_value_t = Mode::Full)]
    mode: Mode,
    /// Cases to run, e.g. all@1,mixed@2 (see below) [default: the mode's]
    #[arg(long, value_name = "CASES", value_parser = CaseSpec::parse)]
    cases: Option<CaseSpec>,
    /// Envoy workers of every case that names none; N > 1 moves the mode's cases to N
    #[arg(long, value_name = "N", value_parser = value_parser!(u32).range(1..=64))]
    workers: Option<u32>,
    /// Rounds over every case [full 3, check 2, smoke 1]
    #[arg(long, value_name = "N", value_parser = value_parser!(u32).range(1..))]
    rounds: Option<u32>,
    /// Warm-up before each window, seconds [full 2, check 1, smoke 0.5]
    #[arg(long, value_name = "S", value_parser = values::secs)]
    warmup: Option<Duration>,
    /// Measured window per case and round, seconds [full 10, check 4, smoke 1.5]
    #[arg(long, value_name = "S", value_parser = values::window)]
    duration: Option<Duration>,
    /// Keep-alive client connections [default: 8]
    #[arg(long, value_name = "N", value_parser = at_least_one_usize())]
    connections: Option<usize>,
    /// Requests at most per window (and per warm-up) [default: 2000000]
    #[arg(long, value_name = "N", value_parser = value_parser!(u64).range(1..))]
    max_requests: Option<u64>,
    /// Users of the mixed workload [default: 20000]
    #[arg(long, value_name = "N", value_parser = at_least_one_usize())]
    users: Option<usize>,
    /// Zipf exponent of the mixed workload's user draw [default: 1.0]
    #[arg(long, value_name = "S", value_parser = values::zipf_s)]
    zipf: Option<f64>,
    /// Allow TTL of the mixed workload, seconds [default: 30]
    #[arg(long, value_name = "S")]
    ttl: Option<u64>,
    /// Threads of the auth service and of the echo upstream [default: 2]
    #[arg(long, value_name = "N", value_parser = at_least_one_usize())]
    service_threads: Option<usize>,
    /// New-token requests per window [full 10000, check 4000, smoke 1000]
    #[arg(long, value_name = "N", value_parser = value_parser!(u64).range(1..))]
    jwt_tokens: Option<u64>,
    /// Users of the JWT Zipf variants [full 20000, check 5000, smoke 1000]
    #[arg(long, value_name = "N", value_parser = at_least_one_usize())]
    jwt_users: Option<usize>,
    /// The run's JSON [default: target/bench/MODE.json]
    #[arg(long, value_name = "FILE.json")]
    out: Option<PathBuf>,
    /// The chart [default: the JSON's path with .svg]
    #[arg(long, value_name = "FILE.svg")]
    svg: Option<PathBuf>,
    /// Ratio budgets to check the run against (exit 1 when one breaks)
    #[arg(long, value_name = "FILE")]
    budgets: Option<PathBuf>,
}

fn at_least_one_usize() -> RangedU64ValueParser<usize> {
    RangedU64ValueParser::<usize>::new().range(1..)
}

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

impl RunArgs {
    fn preset(mode: Mode) -> RunArgs {
        let at1 = |v: variant::Variant| Case {
            variant: v,
            workers: 1,
        };
        let all = variant::ALL.into_iter().map(at1);
        let (rounds, warmup, duration, cases) = match mode {
            Mode::Full => (3, 2.0, 10.0, all.chain(variant::jwt().map(at1)).collect()),
            Mode::Check => {
                let mixed2 = Case {
                    variant: variant::Variant::Mixed,
                    workers: 2,
                };
                (2, 1.0, 4.0, all.chain([mixed2]).collect())
            }
            Mode::Smoke => (1, 0.5, 1.5, all.chain(variant::jwt().map(at1)).collect()),
        };
        RunArgs {
            mode: mode.name().into(),
            cases,
            rounds,
            warmup: Duration::from_secs_f64(warmup),
            duration: Duration::from_secs_f64(duration),
            connections: 8,
            max_requests: 2_000_000,
            service_threads: 2,
            mixed: MixedWorkload::default(),
            jwt: JwtWorkload::for_mode(mode.name()),
            out: PathBuf::from(format!("target/bench/{}.json", mode.name())),
            svg: None,
            budgets: None,
        }
    }
}

impl From<RunOpts> for RunArgs {
    fn from(o: RunOpts) -> RunArgs {
        let mut a = RunArgs::preset(o.mode);
        let workers = o.workers.unwrap_or(1);
        a.cases = match o.cases {
            Some(spec) => spec.cases(workers),
            // The preset's cases, all at that worker count (check's mixed@2 included); `make
            // bench` always passes `--workers $(WORKERS)`, 1 by default, which leaves them be.
            None if workers != 1 => dedupe(a.cases.iter().map(|c| Case { workers, ..*c })),
            None => a.cases,
        };
        a.rounds = o.rounds.unwrap_or(a.rounds);
        a.warmup = o.warmup.unwrap_or(a.warmup);
        a.duration = o.duration.unwrap_or(a.duration);
        a.connections = o.connections.unwrap_or(a.connections);
        a.max_requests = o.max_requests.unwrap_or(a.max_requests);
        a.service_threads = o.service_threads.unwrap_or(a.service_threads);
        a.mixed.users = o.users.unwrap_or(a.mixed.users);
        a.mixed.zipf_s = o.zipf.unwrap_or(a.mixed.zipf_s);
        a.mixed.allow_ttl_seconds = o.ttl.unwrap_or(a.mixed.allow_ttl_seconds);
        if let Some(tokens) = o.jwt_tokens {
            a.jwt.new_per_window = tokens;
            a.jwt.new_per_warmup = (tokens / 10).max(200);
        }
        a.jwt.users = o.jwt_users.unwrap_or(a.jwt.users);
        a.out = o.out.unwrap_or(a.out);
        a.svg = o.svg;
        a.budgets = o.budgets;
        a
    }
}
