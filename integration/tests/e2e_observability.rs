//! The dashboard and the alert rules in `envoyfilter-manifests/observability/` against what a real
//! Envoy 1.40 with the built module exports on `/stats/prometheus`:
//! - every metric name a dashboard query or an alert names is a series Envoy lists (a misnamed or
//!   removed metric would otherwise draw an empty panel or an alert that can never fire);
//! - every `mesh_authz_*` family Envoy lists is on the dashboard (a new counter gets a panel);
//! - every alert has a `runbook` annotation and a promtool test in `alerts_test.yaml`;
//! - every `mesh_authz_*` name README.md and the docs mention is exported too.
//!
//! The list of exported names comes from the running Envoy, never from a copy kept here.

#![cfg(test)]

use mesh_authz_integration::paths::repo_root;
use mesh_authz_integration::require_prerequisites;
use mesh_authz_integration::stack::Stack;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// Prefixes of the names checked: the filter's own metrics and Envoy's.
const CHECKED_PREFIXES: [&str; 2] = ["mesh_authz_", "envoy_"];

fn observability_dir() -> PathBuf {
    repo_root().join("envoyfilter-manifests/observability")
}

/// The metric names an expression mentions: identifiers outside quoted strings (label values)
/// that start with a checked prefix.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for unquoted in expr.split('"').step_by(2) {
        words(unquoted, &CHECKED_PREFIXES, &mut names);
    }
    names
}

/// Words of `text` that start with one of `prefixes` and go on past it (`mesh_authz_<name>` in
/// prose is a placeholder, not a name).
fn words(text: &str, prefixes: &[&str], names: &mut BTreeSet<String>) {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut rest = text;
    while !rest.is_empty() {
        let start = rest.find(|c: char| is_ident(c)).unwrap_or(rest.len());
        rest = &rest[start..];
        let end = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
        let word = &rest[..end];
        if prefixes
            .iter()
            .any(|p| word.starts_with(p) && word.len() > p.len())
        {
            names.insert(word.to_string());
        }
        rest = &rest[end..];
    }
}

/// Series names in Prometheus text exposition (`name{labels} value` or `name value`).
fn series_names(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

/// `(family, type)` from the `# TYPE` lines.
fn families(exposition: &str) -> Vec<(String, String)> {
    exposition
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .map(|(name, kind)| (name.to_string(), kind.trim().to_string()))
        .collect()
}

/// The names a family's samples carry.
fn family_series(family: &str, kind: &str) -> Vec<String> {
    match kind {
        "histogram" => ["_bucket", "_sum", "_count"]
            .iter()
            .map(|s| format!("{family}{s}"))
            .collect(),
        _ => vec![family.to_string()],
    }
}

/// Every PromQL string of the dashboard: panel targets and template variable queries.
fn dashboard_exprs(dashboard: &serde_json::Value) -> Vec<String> {
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().into_iter().flatten() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            exprs.extend(target["expr"].as_str().map(str::to_string));
        }
    }
    for var in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if var["type"] == "query" {
            exprs.extend(var["query"]["query"].as_str().map(str::to_string));
        }
    }
    exprs
}

/// `(alert, expr, runbook)` of every rule of the PrometheusRule.
fn alerts(rule: &serde_norway::Value) -> Vec<(String, String, Option<String>)> {
    let mut out = Vec::new();
    for group in rule["spec"]["groups"].as_sequence().into_iter().flatten() {
        for r in group["rules"].as_sequence().into_iter().flatten() {
            let name = r["alert"]
                .as_str()
                .or(r["record"].as_str())
                .unwrap_or("")
                .to_string();
            let expr = r["expr"].as_str().unwrap_or("").to_string();
            let runbook = r["annotations"]["runbook"].as_str().map(str::to_string);
            out.push((name, expr, runbook));
        }
    }
    out
}

/// Names used that the exposition does not list, with where each is used.
fn unknown_names<'a>(
    used: impl IntoIterator<Item = (&'a str, &'a str)>,
    exported: &BTreeSet<String>,
) -> Vec<String> {
    let mut missing = Vec::new();
    for (place, expr) in used {
        for name in metric_names(expr) {
            if !exported.contains(&name) {
                missing.push(format!("{place}: {name}"));
            }
        }
    }
    missing
}

/// The filter's metric names the prose mentions: README.md and the Markdown under docs/ and
/// envoyfilter-manifests/, by file.
fn doc_mentions() -> Vec<(String, BTreeSet<String>)> {
    let root = repo_root();
    let mut files = vec![root.join("README.md")];
    let mut dirs = vec![root.join("docs"), root.join("envoyfilter-manifests")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                files.push(path);
            }
        }
    }
    files
        .into_iter()
        .map(|path| {
            let mut names = BTreeSet::new();
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            words(&text, &["mesh_authz_"], &mut names);
            let place = path.strip_prefix(&root).unwrap_or(&path);
            (place.display().to_string(), names)
        })
        .collect()
}

fn read(name: &str) -> String {
    let path = observability_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn dashboard_and_alerts_name_only_what_envoy_exports() {
    let dashboard: serde_json::Value = serde_json::from_str(&read("dashboard.json")).unwrap();
    let rule: serde_norway::Value = serde_norway::from_str(&read("prometheusrule.yaml")).unwrap();
    let panel_exprs = dashboard_exprs(&dashboard);
    let rules = alerts(&rule);
    // Not a vacuous pass: the files hold the panels and alerts they are meant to.
    assert!(
        panel_exprs.len() >= 20,
        "dashboard queries: {panel_exprs:?}"
    );
    assert!(rules.len() >= 6, "alerts: {rules:?}");

    let p = require_prerequisites!();
    let stack = Stack::start(&p).unwrap();
    let exposition = stack.envoy.prometheus().unwrap();
    let exported = series_names(&exposition);
    let ours: Vec<(String, String)> = families(&exposition)
        .into_iter()
        .filter(|(name, _)| name.starts_with("mesh_authz_"))
        .collect();
    // Every counter, gauge and histogram the filter defines (22 on this module).
    assert!(ours.len() >= 20, "mesh_authz families in:\n{exposition}");

    let used = panel_exprs
        .iter()
        .map(|e| ("dashboard.json", e.as_str()))
        .chain(rules.iter().map(|(n, e, _)| (n.as_str(), e.as_str())));
    let missing = unknown_names(used, &exported);
    assert!(
        missing.is_empty(),
        "names Envoy does not export: {missing:?}\nexported: {exported:?}"
    );

    // The same names in prose, where a reader copies them into their own queries.
    let mentions = doc_mentions();
    assert!(mentions.iter().any(|(_, n)| !n.is_empty()), "{mentions:?}");
    let stale: Vec<String> = mentions
        .iter()
        .flat_map(|(file, names)| {
            names
                .iter()
                .filter(|n| !exported.contains(*n))
                .map(move |n| format!("{file}: {n}"))
        })
        .collect();
    assert!(
        stale.is_empty(),
        "docs name what Envoy does not export: {stale:?}"
    );

    let on_dashboard: BTreeSet<String> = panel_exprs.iter().flat_map(|e| metric_names(e)).collect();
    let not_shown: Vec<&String> = ours
        .iter()
        .filter(|(family, kind)| {
            !family_series(family, kind)
                .iter()
                .any(|s| on_dashboard.contains(s))
        })
        .map(|(family, _)| family)
        .collect();
    assert!(
        not_shown.is_empty(),
        "exported but on no panel: {not_shown:?}"
    );
}

#[test]
fn every_alert_has_a_runbook_and_a_promtool_test() {
    let rule: serde_norway::Value = serde_norway::from_str(&read("prometheusrule.yaml")).unwrap();
    let tests: serde_norway::Value = serde_norway::from_str(&read("alerts_test.yaml")).unwrap();
    let tested: BTreeSet<String> = tests["tests"]
        .as_sequence()
        .into_iter()
        .flatten()
        .flat_map(|t| t["alert_rule_test"].as_sequence().into_iter().flatten())
        .filter(|case| {
            case["exp_alerts"]
                .as_sequence()
                .is_some_and(|a| !a.is_empty())
        })
        .filter_map(|case| case["alertname"].as_str().map(str::to_string))
        .collect();
    let rules = alerts(&rule);
    assert!(rules.len() >= 6, "alerts: {rules:?}");
    for (name, _, runbook) in &rules {
        let runbook = runbook.as_deref().unwrap_or("");
        assert!(
            !runbook.trim().is_empty() && !runbook.contains('\n'),
            "{name}: a one-line runbook annotation"
        );
        assert!(
            tested.contains(name),
            "{name}: no promtool case in alerts_test.yaml expects it to fire"
        );
    }
}

#[test]
fn a_misspelled_or_absent_name_is_reported() {
    let exposition = "# TYPE mesh_authz_allowed counter\nmesh_authz_allowed{} 3\n\
                      # TYPE mesh_authz_callout_duration_ms histogram\n\
                      mesh_authz_callout_duration_ms_bucket{le=\"1\"} 0\nenvoy_server_live{} 1\n";
    let exported = series_names(exposition);
    let exprs = [
        ("a", "sum(rate(mesh_authz_allowed{pod=~\"$pod\"}[5m]))"),
        ("b", "rate(mesh_authz_alowed[5m]) / envoy_server_live"),
        (
            "c",
            "histogram_quantile(0.9, rate(mesh_authz_callout_duration_ms_bucket[1m]))",
        ),
        ("d", "mesh_authz_denied offset 1h"),
    ];
    assert_eq!(
        unknown_names(exprs, &exported),
        ["b: mesh_authz_alowed", "d: mesh_authz_denied"]
    );
    assert_eq!(
        families(exposition),
        [
            ("mesh_authz_allowed".to_string(), "counter".to_string()),
            (
                "mesh_authz_callout_duration_ms".to_string(),
                "histogram".to_string()
            )
        ]
    );
    // Label values, label names and functions are not metric names.
    assert_eq!(
        metric_names("label_values(mesh_authz_allowed{job=\"envoy_x\"}, namespace)"),
        BTreeSet::from(["mesh_authz_allowed".to_string()])
    );
}
