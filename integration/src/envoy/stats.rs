//! Envoy's admin `/stats` text (`name: value` lines) as numbers.

use crate::HarnessError;
use std::collections::BTreeMap;

/// Counters and gauges by name; histogram lines (not plain integers) are skipped.
pub fn parse_stats(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|line| line.rsplit_once(": "))
        .filter_map(|(name, value)| {
            value
                .trim()
                .parse::<u64>()
                .ok()
                .map(|v| (name.trim().to_string(), v))
        })
        .collect()
}

/// One stat by its full name. A name Envoy does not list is an error, never 0: a misnamed or
/// removed stat would otherwise make `assert_eq!(x, 0)` pass whatever the filter did.
pub fn stat(stats: &BTreeMap<String, u64>, name: &str) -> Result<u64, HarnessError> {
    stats.get(name).copied().ok_or_else(|| {
        // The listed names sharing the longest prefix with it, to show a misspelling at once.
        let shared = |k: &str| {
            k.bytes()
                .zip(name.bytes())
                .take_while(|(a, b)| a == b)
                .count()
        };
        let mut near: Vec<&str> = stats.keys().map(String::as_str).collect();
        near.sort_by_key(|k| std::cmp::Reverse(shared(k)));
        near.truncate(3);
        HarnessError::Missing(format!(
            "stat {name:?} is not in Envoy's /stats (misnamed, removed, or not created yet); \
             nearest listed: {near:?}"
        ))
    })
}

/// The value of the first Prometheus sample whose name (with labels, if given) matches. Envoy
/// writes unlabelled samples as `name{} 3`; `prometheus_value(text, "name")` reads those too.
pub fn prometheus_value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .find(|(name, _)| *name == series || name.strip_suffix("{}") == Some(series))
        .and_then(|(_, v)| v.parse::<f64>().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_counters_and_skips_histograms() {
        let s = parse_stats("a.b: 3\nc: P0(nan,1) P25(nan,2)\nwasmcustom.x: 0\n");
        assert_eq!(s.get("a.b"), Some(&3));
        assert_eq!(s.get("wasmcustom.x"), Some(&0));
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn a_missing_stat_is_an_error_naming_it() {
        let s = parse_stats("wasmcustom.mesh_authz_errors: 0\nwasm.mesh_authz.vm_reload: 0\n");
        assert_eq!(stat(&s, "wasmcustom.mesh_authz_errors").unwrap(), 0);
        let e = stat(&s, "wasmcustom.mesh_authz_error")
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"wasmcustom.mesh_authz_error\""), "{e}");
        assert!(
            e.contains("wasmcustom.mesh_authz_errors"),
            "near names listed: {e}"
        );
        assert!(stat(&s, "wasm.mesh_authz.vm_reloads").is_err());
    }

    #[test]
    fn reads_prometheus_samples() {
        let t = "# TYPE envoy_x counter\nenvoy_x{a=\"b\"} 4\nenvoy_x 7\nmesh_y{} 2\n";
        assert_eq!(prometheus_value(t, "envoy_x"), Some(7.0));
        assert_eq!(prometheus_value(t, "mesh_y"), Some(2.0));
        assert_eq!(prometheus_value(t, "envoy_x{a=\"b\"}"), Some(4.0));
        assert_eq!(prometheus_value(t, "envoy_y"), None);
    }
}
