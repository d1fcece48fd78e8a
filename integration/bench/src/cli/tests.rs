//! The command line as `make` and people write it: parsed values, presets and what overrides
//! them, and errors that name the option and the bad value.

use super::*;
use crate::instructions::InstrArgs;
use crate::jwt_variant::JwtWorkload;
use crate::rig::Case;
use crate::variant::{MixedWorkload, Variant};
use clap::CommandFactory;
use std::time::Duration;

fn parse_str(s: &str) -> Result<Command, clap::Error> {
    parse(s.split_whitespace())
}

fn run_args(s: &str) -> RunArgs {
    match parse_str(s) {
        Ok(Command::Run(o)) => RunArgs::from(o),
        other => panic!("{s}: {other:?}"),
    }
}

fn instr_args(s: &str) -> InstrArgs {
    match parse_str(s) {
        Ok(Command::Instructions(o)) => InstrArgs::from(o),
        other => panic!("{s}: {other:?}"),
    }
}

/// The rendered error, which must name the option and the value.
fn error(s: &str) -> String {
    match parse_str(s) {
        Err(e) => e.to_string(),
        Ok(c) => panic!("{s} parsed: {c:?}"),
    }
}

#[test]
fn the_command_definition_is_consistent() {
    // clap checks names, defaults and value parsers here, not at compile time.
    Cli::command().debug_assert();
    let help = Cli::command().render_long_help().to_string();
    for sub in [
        "run",
        "check",
        "instructions",
        "check-instructions",
        "startup",
    ] {
        assert!(help.contains(sub), "{sub} missing from\n{help}");
    }
}

#[test]
fn presets_and_overrides() {
    let a = run_args("run --mode smoke --duration 3 --workers 2");
    assert_eq!(a.rounds, 1);
    assert_eq!(a.duration, Duration::from_secs(3));
    assert!(a.cases.iter().all(|c| c.workers == 2) && a.cases.len() == 7 + 15);
    assert_eq!(a.jwt, JwtWorkload::for_mode("smoke"));
    let a = run_args("run --mode check");
    // The gate's run keeps its length: no JWT variant unless asked for.
    assert_eq!(a.cases.len(), 8);
    assert!(a.cases.iter().all(|c| c.variant.jwt().is_none()));
    assert!(a.cases.contains(&Case {
        variant: Variant::Mixed,
        workers: 2
    }));
    let a = run_args("run --cases jwt,hit --jwt-tokens 5000 --jwt-users 300");
    assert_eq!(a.cases.len(), 16);
    assert_eq!(
        (a.jwt.new_per_window, a.jwt.new_per_warmup, a.jwt.users),
        (5000, 500, 300)
    );
    for bad in [
        "run --jwt-tokens 0",
        "run --mode fast",
        "run --rounds 0",
        "run --bogus 1",
        "check --result x.json",
        "flight --workers 0",
        "instructions --requests 0",
        "instructions --mode quick",
        "soak --credentials 0",
    ] {
        assert!(parse_str(bad).is_err(), "{bad}");
    }
    assert!(matches!(
        parse_str("memory").unwrap(),
        Command::Memory {
            entries: 100_000,
            soak: 200_000,
            ..
        }
    ));
    assert!(matches!(
        parse_str("soak").unwrap(),
        Command::Soak {
            credentials: 1_000_000,
            ..
        }
    ));
    let Command::Flight { workers, burst, .. } =
        parse_str("flight --workers 2,4 --burst 16").unwrap()
    else {
        panic!()
    };
    assert_eq!((workers.0, burst), (vec![2, 4], 16));
    let i = instr_args("instructions --mode check --baseline-wasm b.wasm");
    assert_eq!((i.requests, i.warmup), (100, 20));
    assert_eq!(i.baseline, Some(PathBuf::from("b.wasm")));
    assert_eq!(
        parse_str("table --result r.json --markdown").unwrap(),
        Command::Table {
            result: "r.json".into(),
            markdown: true
        }
    );
}

#[test]
fn full_is_the_default_preset() {
    let a = run_args("run");
    assert_eq!(a, run_args("run --mode full"));
    assert_eq!(
        (a.mode.as_str(), a.rounds, a.warmup, a.duration),
        ("full", 3, Duration::from_secs(2), Duration::from_secs(10))
    );
    assert_eq!(a.cases.len(), 7 + 15);
    assert!(a.cases.iter().all(|c| c.workers == 1));
    assert_eq!(
        (a.connections, a.max_requests, a.service_threads),
        (8, 2_000_000, 2)
    );
    assert_eq!(a.mixed, MixedWorkload::default());
    assert_eq!(a.jwt, JwtWorkload::for_mode("full"));
    assert_eq!(a.out, PathBuf::from("target/bench/full.json"));
    assert_eq!((a.svg, a.budgets), (None, None));
}

/// Every option over the full preset, each to a value no preset has.
#[test]
fn full_preset_overridden_by_every_option() {
    let a = run_args(
        "run --mode full --cases hit,lua@3 --workers 2 --rounds 4 --warmup 0.25 --duration 7 \
         --connections 3 --max-requests 900 --users 50 --zipf 0.5 --ttl 9 --service-threads 5 \
         --jwt-tokens 3000 --jwt-users 40 --out o.json --svg o.svg --budgets b.json",
    );
    let ids: Vec<String> = a.cases.iter().map(Case::id).collect();
    assert_eq!(ids, ["hit@2w", "lua@3w"]);
    assert_eq!(
        (a.mode.as_str(), a.rounds, a.warmup, a.duration),
        (
            "full",
            4,
            Duration::from_millis(250),
            Duration::from_secs(7)
        )
    );
    assert_eq!(
        (a.connections, a.max_requests, a.service_threads),
        (3, 900, 5)
    );
    assert_eq!(
        a.mixed,
        MixedWorkload {
            users: 50,
            zipf_s: 0.5,
            allow_ttl_seconds: 9,
            ..MixedWorkload::default()
        }
    );
    assert_eq!(
        a.jwt,
        JwtWorkload {
            new_per_window: 3000,
            new_per_warmup: 300,
            users: 40
        }
    );
    assert_eq!(a.out, PathBuf::from("o.json"));
    assert_eq!(a.svg, Some(PathBuf::from("o.svg")));
    assert_eq!(a.budgets, Some(PathBuf::from("b.json")));
}

/// `make bench-check` with BENCH_ARGS after it: the explicit values win, the rest stays check's.
#[test]
fn check_preset_overridden() {
    let a = run_args(
        "run --mode check --out target/bench/check.json --budgets integration/bench/budgets.json \
         --rounds 1 --warmup 0 --jwt-tokens 100",
    );
    assert_eq!((a.mode.as_str(), a.rounds), ("check", 1));
    assert_eq!(
        (a.warmup, a.duration),
        (Duration::ZERO, Duration::from_secs(4))
    );
    // Fewer than 2000 tokens: the warm-up still takes its floor of 200.
    assert_eq!((a.jwt.new_per_window, a.jwt.new_per_warmup), (100, 200));
    assert_eq!(a.jwt.users, JwtWorkload::for_mode("check").users);
    assert_eq!(a.cases.len(), 8);
    assert_eq!(a.out, PathBuf::from("target/bench/check.json"));
    // More workers move check's cases, mixed@2 included, and each case stays once.
    let a = run_args("run --mode check --workers 2");
    assert_eq!(a.cases.len(), 7);
    assert!(a.cases.iter().all(|c| c.workers == 2));
    // `make bench`'s `--workers 1` (its default) leaves a preset's cases as they are.
    assert_eq!(run_args("run --mode check --workers 1").cases.len(), 8);
}

#[test]
fn smoke_preset_overridden() {
    let a = run_args("run --mode smoke --cases auth2ms --warmup 1 --connections 2 --zipf 0");
    assert_eq!((a.mode.as_str(), a.rounds), ("smoke", 1));
    assert_eq!(
        (a.warmup, a.duration),
        (Duration::from_secs(1), Duration::from_millis(1500))
    );
    assert_eq!(a.cases.len(), 4);
    assert_eq!((a.connections, a.mixed.zipf_s), (2, 0.0));
    assert_eq!(a.jwt, JwtWorkload::for_mode("smoke"));
    assert_eq!(a.out, PathBuf::from("target/bench/smoke.json"));
}

/// `make bench BENCH_ARGS="--mode check --out x.json"`: the later value of an option wins.
#[test]
fn a_repeated_option_takes_its_last_value() {
    let a = run_args("run --mode full --workers 1 --out a.json --mode check --out b.json");
    assert_eq!((a.mode.as_str(), a.out), ("check", PathBuf::from("b.json")));
    let i = instr_args("instructions --mode check --mode full --requests 7 --requests 9");
    assert_eq!((i.mode.as_str(), i.requests), ("full", 9));
    let Ok(Command::Startup { workers, .. }) = parse_str("startup --workers 1 --workers 2,4")
    else {
        panic!()
    };
    assert_eq!(workers.0, [2, 4]);
}

#[test]
fn instructions_presets_and_overrides() {
    let i = instr_args("instructions");
    assert_eq!(
        (i.mode.as_str(), i.requests, i.warmup, i.baseline_compat),
        ("full", 200, 20, false)
    );
    assert_eq!(i.out, PathBuf::from("target/bench/instructions-full.json"));
    assert_eq!(
        (i.baseline, i.baseline_cases, i.budgets),
        (None, None, None)
    );
    let i = instr_args(
        "instructions --mode check --requests 50 --warmup 5 --baseline-wasm old.wasm \
         --baseline-cases hit,bypass --baseline-compat --out i.json --budgets ib.json",
    );
    assert_eq!((i.mode.as_str(), i.requests, i.warmup), ("check", 50, 5));
    assert_eq!(i.baseline_cases, Some(vec!["hit".into(), "bypass".into()]));
    assert!(i.baseline_compat);
    assert_eq!(i.out, PathBuf::from("i.json"));
    assert_eq!(i.budgets, Some(PathBuf::from("ib.json")));
    assert_eq!(
        instr_args("instructions --mode check").out,
        PathBuf::from("target/bench/instructions-check.json")
    );
}

#[test]
fn defaults_of_the_other_commands() {
    let Ok(Command::Flight {
        workers,
        burst,
        rounds,
        out,
    }) = parse_str("flight")
    else {
        panic!()
    };
    assert_eq!(
        (workers.0, burst, rounds, out),
        (
            vec![1, 2, 4],
            32,
            5,
            PathBuf::from("target/bench/flight.json")
        )
    );
    assert_eq!(
        parse_str("startup").unwrap(),
        Command::Startup {
            workers: WorkerList(vec![1, 2, 4]),
            out: "target/bench/startup.json".into()
        }
    );
    assert_eq!(parse_str("census").unwrap(), Command::Census);
    assert_eq!(
        parse_str("check-instructions --result r.json --budgets b.json").unwrap(),
        Command::CheckInstructions {
            result: "r.json".into(),
            budgets: "b.json".into()
        }
    );
}

#[test]
fn errors_name_the_option_and_the_value() {
    for (args, option, value) in [
        ("run --rounds 0", "--rounds", "0"),
        ("run --duration 0", "--duration", "0"),
        ("run --warmup soon", "--warmup", "soon"),
        ("run --cases hit,nope", "--cases", "nope"),
        ("run --cases hit@99", "--cases", "hit@99"),
        ("run --workers 65", "--workers", "65"),
        ("run --zipf NaN", "--zipf", "NaN"),
        ("run --mode fast", "--mode", "fast"),
        ("run --connections x", "--connections", "x"),
        ("flight --workers 1,17", "--workers", "1,17"),
        ("flight --burst 257", "--burst", "257"),
        ("soak --credentials 0", "--credentials", "0"),
        ("instructions --requests 100001", "--requests", "100001"),
        ("memory --entries 0", "--entries", "0"),
    ] {
        let e = error(args);
        assert!(e.contains(option) && e.contains(value), "{args}: {e}");
    }
    assert!(error("run --bogus 1").contains("--bogus"));
    assert!(error("check --result x.json").contains("--budgets"));
    assert!(error("frobnicate").contains("frobnicate"));
}

/// The command lines of `mk/bench.mk` and `mk/ops.mk`, as Make expands them with their defaults
/// (and with the optional variables set), parse to what each target means.
#[test]
fn the_make_targets_command_lines_parse() {
    let a = run_args("run --mode full --workers 1 --out integration/bench/results/latest.json");
    assert_eq!((a.mode.as_str(), a.cases.len()), ("full", 22));
    let a = run_args("run --mode full --workers 2 --out x.json --cases all@1,all@2");
    assert_eq!(a.cases.len(), 14);
    let a = run_args(
        "run --mode check --out target/bench/check.json --budgets integration/bench/budgets.json",
    );
    assert_eq!((a.mode.as_str(), a.cases.len()), ("check", 8));
    assert!(a.budgets.is_some());
    assert_eq!(
        run_args("run --mode smoke --out target/bench/smoke.json").rounds,
        1
    );
    let a = run_args(
        "run --mode full --cases passthrough,mixed_2ms,lua_2ms,ext_authz_2ms \
         --out integration/bench/results/auth-2ms.json",
    );
    assert_eq!(a.cases.len(), 4);
    let i = instr_args(
        "instructions --mode full --out integration/bench/results/instructions.json \
         --baseline-wasm old.wasm --baseline-cases hit,bypass --baseline-compat",
    );
    assert!(i.baseline.is_some() && i.baseline_compat);
    let i = instr_args(
        "instructions --mode check --out target/bench/instructions-check.json \
         --budgets integration/bench/instruction-budgets.json",
    );
    assert_eq!((i.mode.as_str(), i.requests), ("check", 100));
    for line in [
        "memory --entries 100000 --out integration/bench/results/memory.json",
        "soak --credentials 1000000 --out integration/bench/results/soak.json",
        "flight --workers 1,2,4 --out integration/bench/results/flight.json",
        "check --result integration/bench/fixtures/recorded.json --budgets integration/bench/budgets.json",
        "check-instructions --result f.json --budgets integration/bench/instruction-budgets.json",
        "table --result integration/bench/results/latest.json --markdown",
        "chart --result r.json --svg r.svg",
        "startup --workers 1,2,4 --out integration/bench/results/startup.json",
    ] {
        assert!(parse_str(line).is_ok(), "{line}");
    }
}
