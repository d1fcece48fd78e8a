//! `instructions`: its own `--mode` (full, check) that sets the cases, the request count and the
//! output's name.

use super::values::IdList;
use crate::instructions::InstrArgs;
use clap::{value_parser, Args, ValueEnum};
use std::path::PathBuf;

pub const LONG_ABOUT: &str = "\
Instructions per request under callgrind: one Envoy, a listener per case; instructions per
request over --requests (full 200, check 100) after --warmup (20); full = 10 cases, check = the
gate's 6. --baseline-wasm adds the mesh-authz cases again with a second module (its own VM), or
only --baseline-cases (ids such as hit, hit_nolog, cache_off: an older module refuses options it
lacks); --baseline-compat keeps only pathPrefix/method bypass rules in the baseline's
configuration.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InstrMode {
    /// 10 cases, 200 counted requests each
    Full,
    /// the gate's 6 cases, 100 counted requests each
    Check,
}

// The options as given (a `//` comment: clap would show a doc comment as the description).
#[derive(Debug, PartialEq, Args)]
pub struct InstrOpts {
    #[arg(long, value_enum, default_value_t = InstrMode::Full)]
    mode: InstrMode,
    /// Counted requests per case [full 200, check 100]
    #[arg(long, value_name = "N", value_parser = value_parser!(u64).range(1..=100_000))]
    requests: Option<u64>,
    /// Requests per case before counting
    #[arg(long, value_name = "N", default_value_t = 20,
          value_parser = value_parser!(u64).range(1..=100_000))]
    warmup: u64,
    /// A second module whose mesh-authz cases run beside this one's
    #[arg(long = "baseline-wasm", value_name = "FILE.wasm")]
    baseline: Option<PathBuf>,
    /// Only these case ids with the baseline module, e.g. hit,bypass
    #[arg(long, value_name = "IDS", value_parser = IdList::parse)]
    baseline_cases: Option<IdList>,
    /// Only pathPrefix/method bypass rules in the baseline's configuration
    #[arg(long)]
    baseline_compat: bool,
    /// The run's JSON [default: target/bench/instructions-MODE.json]
    #[arg(long, value_name = "FILE.json")]
    out: Option<PathBuf>,
    /// Instruction budgets to check the run against (exit 1 when one breaks)
    #[arg(long, value_name = "FILE")]
    budgets: Option<PathBuf>,
}

impl From<InstrOpts> for InstrArgs {
    fn from(o: InstrOpts) -> InstrArgs {
        let (mode, requests) = match o.mode {
            InstrMode::Full => ("full", 200),
            InstrMode::Check => ("check", 100),
        };
        InstrArgs {
            mode: mode.into(),
            requests: o.requests.unwrap_or(requests),
            warmup: o.warmup,
            baseline: o.baseline,
            baseline_cases: o.baseline_cases.map(|l| l.0),
            baseline_compat: o.baseline_compat,
            out: o
                .out
                .unwrap_or_else(|| PathBuf::from(format!("target/bench/instructions-{mode}.json"))),
            budgets: o.budgets,
        }
    }
}
