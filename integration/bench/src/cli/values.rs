//! The values on the command line that are more than one number: case lists, worker lists, id
//! lists, seconds. Each is a clap value parser, so clap's error names the option and the value
//! and these messages only say what is wrong with it.

use crate::rig::Case;
use crate::variant::{self, Variant};
use std::time::Duration;

/// `--cases`: `VARIANT[@WORKERS]`, `all`, `jwt` or `auth2ms`, comma-separated. A part without
/// `@` takes `--workers`, known only once every option is read, hence `None` until then.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseSpec(Vec<(Vec<Variant>, Option<u32>)>);

impl CaseSpec {
    pub fn parse(spec: &str) -> Result<CaseSpec, String> {
        let mut parts = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, workers) = match part.split_once('@') {
                Some((n, w)) => (n, Some(case_workers(part, w)?)),
                None => (part, None),
            };
            parts.push((variants(name)?, workers));
        }
        if parts.is_empty() {
            return Err("no case to run".into());
        }
        Ok(CaseSpec(parts))
    }

    /// The cases in the order given, each once.
    pub fn cases(&self, default_workers: u32) -> Vec<Case> {
        dedupe(self.0.iter().flat_map(|(variants, workers)| {
            let workers = workers.unwrap_or(default_workers);
            variants
                .iter()
                .map(move |&variant| Case { variant, workers })
        }))
    }
}

/// `2` or `2w`, 1 to 64.
fn case_workers(part: &str, w: &str) -> Result<u32, String> {
    let n: u32 = w
        .trim_end_matches('w')
        .parse()
        .map_err(|_| format!("bad worker count in {part}"))?;
    if !(1..=64).contains(&n) {
        return Err(format!("{part}: workers must be 1..=64"));
    }
    Ok(n)
}

fn variants(name: &str) -> Result<Vec<Variant>, String> {
    Ok(match name {
        "all" => variant::ALL.to_vec(),
        "jwt" => variant::jwt().collect(),
        "auth2ms" => std::iter::once(Variant::Passthrough)
            .chain(variant::AUTH_2MS)
            .collect(),
        _ => vec![Variant::parse(name).ok_or_else(|| format!("unknown variant {name}"))?],
    })
}

/// First occurrence wins; the order is kept (each round's order derives from it).
pub fn dedupe(cases: impl IntoIterator<Item = Case>) -> Vec<Case> {
    let mut out: Vec<Case> = Vec::new();
    for case in cases {
        if !out.contains(&case) {
            out.push(case);
        }
    }
    out
}

/// `--workers 1,2,4` of `flight` and `startup`: Envoy worker counts, each 1 to 16.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerList(pub Vec<u32>);

impl WorkerList {
    pub fn parse(v: &str) -> Result<WorkerList, String> {
        let workers = v
            .split(',')
            .map(|w| w.trim().parse::<u32>())
            .collect::<Result<Vec<u32>, _>>()
            .map_err(|_| "not a comma-separated list of numbers".to_string())?;
        if workers.iter().any(|w| !(1..=16).contains(w)) {
            return Err("each worker count must be 1..=16".into());
        }
        Ok(WorkerList(workers))
    }
}

/// `--baseline-cases hit,bypass`: case ids, checked by `instructions` against its own cases.
#[derive(Debug, Clone, PartialEq)]
pub struct IdList(pub Vec<String>);

impl IdList {
    pub fn parse(v: &str) -> Result<IdList, String> {
        Ok(IdList(v.split(',').map(|c| c.trim().to_string()).collect()))
    }
}

/// Seconds as a decimal, 0 to 3600 (an hour is far past any window this benchmark uses).
pub fn secs(v: &str) -> Result<Duration, String> {
    let s: f64 = v.parse().map_err(|_| "not a number of seconds")?;
    if !(0.0..=3600.0).contains(&s) {
        return Err("out of range (0..=3600 s)".into());
    }
    Ok(Duration::from_secs_f64(s))
}

/// A measurement window: as `secs`, but never empty (a zero window measures nothing).
pub fn window(v: &str) -> Result<Duration, String> {
    let d = secs(v)?;
    if d.is_zero() {
        return Err("must be more than 0 s".into());
    }
    Ok(d)
}

/// The Zipf exponent: 0 (every user equally likely) or more; NaN would poison the draw's table.
pub fn zipf_s(v: &str) -> Result<f64, String> {
    let s: f64 = v.parse().map_err(|_| "not a number")?;
    if !s.is_finite() || s < 0.0 {
        return Err("must be a finite number, 0 or more".into());
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_cases(spec: &str, default_workers: u32) -> Result<Vec<Case>, String> {
        CaseSpec::parse(spec).map(|s| s.cases(default_workers))
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
    fn cases_without_workers_take_the_default() {
        let c = parse_cases("hit,bypass@2w,hit@3", 3).unwrap();
        let ids: Vec<String> = c.iter().map(Case::id).collect();
        assert_eq!(ids, ["hit@3w", "bypass@2w"]);
        assert!(parse_cases("hit@65", 1).is_err());
        assert!(parse_cases("hit@x", 1).is_err());
    }

    #[test]
    fn worker_lists_ids_and_seconds() {
        assert_eq!(WorkerList::parse("1, 2,4").unwrap().0, [1, 2, 4]);
        for bad in ["", "0", "17", "1,,2", "two"] {
            assert!(WorkerList::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(IdList::parse("hit, bypass").unwrap().0, ["hit", "bypass"]);
        assert_eq!(secs("0.5").unwrap(), Duration::from_millis(500));
        assert_eq!(secs("0").unwrap(), Duration::ZERO);
        for bad in ["-1", "3601", "NaN", "soon"] {
            assert!(secs(bad).is_err(), "{bad}");
        }
        assert!(window("0").is_err());
        assert!(zipf_s("0").is_ok() && zipf_s("1.2").is_ok());
        for bad in ["-0.5", "inf", "NaN"] {
            assert!(zipf_s(bad).is_err(), "{bad}");
        }
    }
}
