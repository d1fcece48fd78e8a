//! Budgets: bounds on ratios (never absolute times) in a checked-in JSON file, each with the reason
//! for its value, checked against a run's figures.

use crate::summary::Figures;
use serde::Deserialize;
use std::path::Path;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetFile {
    /// Free text for people reading the file: how the budgets were set.
    #[serde(default)]
    #[allow(dead_code)]
    pub about: Vec<String>,
    pub budgets: Vec<Budget>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// A name from the run's `figures.ratios`, e.g. `hit_over_bypass_cpu@1w`.
    pub figure: String,
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
    /// The measured value the bound was derived from, for the record.
    #[serde(default)]
    pub measured: Option<f64>,
    pub why: String,
}

impl BudgetFile {
    pub fn load(path: &Path) -> Result<BudgetFile, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        let file: BudgetFile = serde_json::from_str(&text).map_err(|e| {
            format!(
                "{}: line {} column {}: {e}",
                path.display(),
                e.line(),
                e.column()
            )
        })?;
        for b in &file.budgets {
            if b.min.is_none() && b.max.is_none() {
                return Err(format!(
                    "{}: budget {} has neither min nor max",
                    path.display(),
                    b.figure
                ));
            }
        }
        Ok(file)
    }
}

/// One line per budget; `Err` lines are breaches (or figures the run did not measure).
pub fn check(file: &BudgetFile, figures: &Figures) -> Vec<Result<String, String>> {
    file.budgets
        .iter()
        .map(|b| {
            let Some(&value) = figures.ratios.get(&b.figure) else {
                let hint = if figures.absolute.contains_key(&b.figure) {
                    "it is an absolute time or rate; budgets only gate ratios"
                } else {
                    "this run did not measure it"
                };
                return Err(format!("{}: no such ratio ({hint})", b.figure));
            };
            let bound = match (b.min, b.max) {
                (Some(min), Some(max)) => format!("budget {min} ..= {max}"),
                (Some(min), None) => format!("budget >= {min}"),
                (None, Some(max)) => format!("budget <= {max}"),
                (None, None) => "no bound".into(),
            };
            let low = b.min.is_some_and(|min| value.is_nan() || value < min);
            let high = b.max.is_some_and(|max| value.is_nan() || value > max);
            let line = format!("{}: measured {value:.3}, {bound}", b.figure);
            if low || high {
                let set_from = b
                    .measured
                    .map(|m| format!("; set from a measured {m}"))
                    .unwrap_or_default();
                Err(format!(
                    "{line}  <- outside the budget ({}{set_from})",
                    b.why
                ))
            } else {
                Ok(line)
            }
        })
        .collect()
}

/// Prints one line per budget of `file` against `figures` (`ok` or `FAIL`, a broken one also on
/// stderr behind `who`); whether every budget holds.
pub fn report(file: &BudgetFile, figures: &Figures, who: &str) -> bool {
    let mut ok = true;
    for line in check(file, figures) {
        match line {
            Ok(l) => println!("  ok    {l}"),
            Err(l) => {
                ok = false;
                println!("  FAIL  {l}");
                eprintln!("{who}: {l}");
            }
        }
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures() -> Figures {
        let mut f = Figures::default();
        f.ratios.insert("a@1w".into(), 1.2);
        f.ratios.insert("nan@1w".into(), f64::NAN);
        f.absolute.insert("hit.p99_ms@1w".into(), 3.0);
        f
    }

    fn file(json: &str) -> BudgetFile {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn bounds_are_inclusive_and_breaches_name_everything() {
        let f = file(
            r#"{"budgets": [
            {"figure": "a@1w", "max": 1.2, "why": "x"},
            {"figure": "a@1w", "min": 1.3, "why": "needs 1.3 because y"},
            {"figure": "a@1w", "min": 1.0, "max": 1.1, "why": "z"}]}"#,
        );
        let r = check(&f, &figures());
        assert!(r[0].is_ok());
        let e = r[1].as_ref().unwrap_err();
        assert!(
            e.contains("a@1w")
                && e.contains("1.200")
                && e.contains(">= 1.3")
                && e.contains("because y"),
            "{e}"
        );
        assert!(r[2].as_ref().unwrap_err().contains("1 ..= 1.1"));
    }

    #[test]
    fn missing_absolute_and_nan_figures_fail() {
        let f = file(
            r#"{"budgets": [
            {"figure": "gone@1w", "max": 1, "why": ""},
            {"figure": "hit.p99_ms@1w", "max": 5, "why": ""},
            {"figure": "nan@1w", "max": 5, "why": ""}]}"#,
        );
        let r = check(&f, &figures());
        assert!(r[0].as_ref().unwrap_err().contains("did not measure"));
        assert!(r[1].as_ref().unwrap_err().contains("only gate ratios"));
        assert!(r[2].is_err());
    }

    #[test]
    fn checked_in_budgets_parse() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("budgets.json");
        let f = BudgetFile::load(&path).unwrap();
        assert!(f.budgets.len() >= 5);
        assert!(f.budgets.iter().all(|b| !b.why.is_empty()));
        assert!(f
            .budgets
            .iter()
            .all(|b| !b.figure.contains("_ms") && !b.figure.contains("_us")));
    }
}
