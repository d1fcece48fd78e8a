//! Command line, on clap's derive API: `run` (with `--mode full|check|smoke` presets that the
//! explicit options override, in `run`), `check`, `chart`, `table`, `memory`, `soak`, `flight`,
//! `census`, `instructions` (in `instr`), `check-instructions`, `startup`. Values that are more
//! than a number (case lists, worker lists, seconds) are parsed in `values`, so an error names
//! the option and the bad value. A repeated option takes its last value: `make bench` puts
//! `$(BENCH_ARGS)` after its own options so that they can be overridden.

mod instr;
mod run;
mod values;

pub use instr::InstrOpts;
pub use run::{RunArgs, RunOpts};
use values::WorkerList;

use clap::builder::RangedU64ValueParser;
use clap::{value_parser, Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Envoy: ENVOY_BIN or .venv/bin/envoy; module: MESH_AUTHZ_WASM or dist/mesh_authz.wasm.
`mesh-authz-bench help COMMAND` for a command's options, defaults and what it measures.";

#[derive(Debug, Parser)]
#[command(
    name = "mesh-authz-bench",
    about = "mesh-authz against no filter, native ext_authz and the Lua filter, on one machine",
    after_help = AFTER_HELP,
    args_override_self = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, PartialEq, Subcommand)]
pub enum Command {
    /// Latency, throughput and CPU of every case, in rounds; table, JSON and chart
    #[command(after_help = run::AFTER_HELP)]
    Run(RunOpts),
    /// The ratio budgets on a recorded run (exit 1 naming each broken one)
    Check {
        #[arg(long, value_name = "FILE.json")]
        result: PathBuf,
        #[arg(long, value_name = "FILE")]
        budgets: PathBuf,
    },
    /// The chart of a recorded run
    Chart {
        #[arg(long, value_name = "FILE.json")]
        result: PathBuf,
        #[arg(long, value_name = "FILE.svg")]
        svg: PathBuf,
    },
    /// The table of a recorded run
    Table {
        #[arg(long, value_name = "FILE.json")]
        result: PathBuf,
        /// As Markdown (the README's)
        #[arg(long)]
        markdown: bool,
    },
    /// VM memory per cached decision, module size, start-up time, then the soak
    Memory {
        /// Distinct credentials cached before the VM's memory is read
        #[arg(long, value_name = "N", default_value_t = 100_000,
              value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
        entries: usize,
        /// Distinct credentials of the soak that follows (0 skips it)
        #[arg(long, value_name = "N", default_value_t = 200_000)]
        soak: u64,
        #[arg(
            long,
            value_name = "FILE.json",
            default_value = "target/bench/memory.json"
        )]
        out: PathBuf,
    },
    /// Only the soak: VM memory and Envoy RSS through N distinct credentials, first half
    /// against second half
    Soak {
        #[arg(long, value_name = "N", default_value_t = 1_000_000,
              value_parser = value_parser!(u64).range(1..=100_000_000))]
        credentials: u64,
        #[arg(
            long,
            value_name = "FILE.json",
            default_value = "target/bench/soak.json"
        )]
        out: PathBuf,
    },
    /// Callouts per request on bursts of identical new-credential requests, per worker count
    Flight {
        /// Envoy worker counts, each 1..=16
        #[arg(long, value_name = "N,N,..", default_value = "1,2,4", value_parser = WorkerList::parse)]
        workers: WorkerList,
        /// Identical requests per burst
        #[arg(long, value_name = "N", default_value_t = 32,
              value_parser = RangedU64ValueParser::<usize>::new().range(1..=256))]
        burst: usize,
        /// Bursts per worker count
        #[arg(long, value_name = "N", default_value_t = 5,
              value_parser = value_parser!(u32).range(1..=100))]
        rounds: u32,
        #[arg(
            long,
            value_name = "FILE.json",
            default_value = "target/bench/flight.json"
        )]
        out: PathBuf,
    },
    /// Hostcalls, VM entries, allocations and bytes per request on each path, counted
    Census,
    /// Instructions per request of the real Envoy under callgrind
    #[command(long_about = instr::LONG_ABOUT)]
    Instructions(InstrOpts),
    /// The instruction budgets on a recorded `instructions` run
    CheckInstructions {
        #[arg(long, value_name = "FILE.json")]
        result: PathBuf,
        #[arg(long, value_name = "FILE")]
        budgets: PathBuf,
    },
    /// Start to ready and VM memory per worker at several worker counts
    Startup {
        /// Envoy worker counts, each 1..=16
        #[arg(long, value_name = "N,N,..", default_value = "1,2,4", value_parser = WorkerList::parse)]
        workers: WorkerList,
        #[arg(
            long,
            value_name = "FILE.json",
            default_value = "target/bench/startup.json"
        )]
        out: PathBuf,
    },
}

/// `args` without the program's name. `Err` carries clap's message (or the help, for `--help`),
/// which `exit()` prints with the right stream and status.
pub fn parse<I, T>(args: I) -> Result<Command, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let argv =
        std::iter::once(OsString::from("mesh-authz-bench")).chain(args.into_iter().map(Into::into));
    Cli::try_parse_from(argv).map(|cli| cli.command)
}

#[cfg(test)]
mod tests;
