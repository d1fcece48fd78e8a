//! Envoy's admin `/stats` text (`name: value` lines) as numbers.

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
    fn reads_prometheus_samples() {
        let t = "# TYPE envoy_x counter\nenvoy_x{a=\"b\"} 4\nenvoy_x 7\nmesh_y{} 2\n";
        assert_eq!(prometheus_value(t, "envoy_x"), Some(7.0));
        assert_eq!(prometheus_value(t, "mesh_y"), Some(2.0));
        assert_eq!(prometheus_value(t, "envoy_x{a=\"b\"}"), Some(4.0));
        assert_eq!(prometheus_value(t, "envoy_y"), None);
    }
}
