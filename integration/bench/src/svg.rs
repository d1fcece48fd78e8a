//! The chart: two panels of horizontal bars, Envoy CPU µs per request and p99 latency per case,
//! the median with a whisker from the lowest to the highest round. Plain SVG, no dependency.

use crate::report::Report;
use crate::summary::CaseSummary;
use std::fmt::Write as _;

const ROW: f64 = 26.0;
const LABEL_W: f64 = 250.0;
const PANEL_W: f64 = 330.0;
const GAP: f64 = 40.0;
const TOP: f64 = 78.0;

fn color(variant: &str) -> &'static str {
    match variant {
        "passthrough" => "#9e9e9e",
        "lua" => "#e69f00",
        "ext_authz" => "#cc79a7",
        v if v.starts_with("jwt_authn") => "#009e73",
        _ => "#0072b2",
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn nice_max(v: f64) -> f64 {
    if !(v.is_finite() && v > 0.0) {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|&m| m >= v)
        .unwrap_or(10.0 * mag)
}

struct Panel<'a> {
    title: &'a str,
    x0: f64,
    value: fn(&CaseSummary) -> f64,
    range: fn(&CaseSummary) -> [f64; 2],
    unit: &'a str,
}

fn panel(out: &mut String, p: &Panel<'_>, cases: &[CaseSummary]) {
    let max = nice_max(
        cases
            .iter()
            .map(|c| (p.range)(c)[1].max((p.value)(c)))
            .fold(0.0, f64::max),
    );
    let scale = |v: f64| p.x0 + (v.max(0.0) / max) * PANEL_W;
    let bottom = TOP + ROW * cases.len() as f64;
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" class="h">{}</text>"#,
        p.x0,
        TOP - 28.0,
        esc(p.title)
    );
    for i in 0..=4 {
        let v = max * f64::from(i) / 4.0;
        let x = scale(v);
        let _ = writeln!(
            out,
            r##"<line x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{bottom}" stroke="#ddd"/>"##,
            TOP - 8.0
        );
        let _ = writeln!(
            out,
            r#"<text x="{x:.1}" y="{}" class="t" text-anchor="middle">{}</text>"#,
            bottom + 14.0,
            trim(v)
        );
    }
    for (i, c) in cases.iter().enumerate() {
        let y = TOP + ROW * i as f64;
        let v = (p.value)(c);
        let [lo, hi] = (p.range)(c);
        let w = (scale(v) - p.x0).max(0.0);
        let _ = writeln!(
            out,
            r#"<rect x="{}" y="{:.1}" width="{w:.1}" height="{:.1}" fill="{}"><title>{}: {v:.2} {}</title></rect>"#,
            p.x0,
            y - 8.0,
            ROW - 10.0,
            color(&c.variant),
            esc(&c.id),
            p.unit
        );
        if lo.is_finite() && hi.is_finite() && hi > lo {
            let _ = writeln!(
                out,
                r##"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#222" stroke-width="1.5"/>"##,
                scale(lo),
                y,
                scale(hi),
                y
            );
        }
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" class="v">{v:.1}</text>"#,
            scale(v.max(hi)) + 4.0,
            y + 4.0
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" class="t">{}</text>"#,
        p.x0,
        bottom + 30.0,
        esc(p.unit)
    );
}

fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

pub fn render(r: &Report) -> String {
    let cases = &r.cases;
    let width = LABEL_W + 2.0 * PANEL_W + GAP + 90.0;
    let height = TOP + ROW * cases.len() as f64 + 80.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif">"#
    );
    let _ = writeln!(
        out,
        "<style>.h{{font-size:14px;font-weight:bold}}.l{{font-size:12px}}.t{{font-size:10px;fill:#555}}.v{{font-size:11px}}</style>"
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="10" y="20" class="h">mesh-authz benchmark ({} mode)</text>"#,
        esc(&r.settings.mode)
    );
    let _ = writeln!(
        out,
        r#"<text x="10" y="36" class="t">{} · {} connections, {} s windows, {} round(s); bar = median, line = min..max over rounds</text>"#,
        esc(&r.machine.date_utc),
        r.settings.connections,
        r.settings.duration_s,
        r.settings.rounds
    );
    for (i, c) in cases.iter().enumerate() {
        let y = TOP + ROW * i as f64 + 4.0;
        let _ = writeln!(
            out,
            r#"<text x="10" y="{y:.1}" class="l">{} · {}w</text>"#,
            esc(&c.label),
            c.workers
        );
    }
    panel(
        &mut out,
        &Panel {
            title: "Envoy CPU per request",
            x0: LABEL_W,
            value: |c| c.cpu_us_per_req,
            range: |c| c.cpu_us_range,
            unit: "µs of Envoy CPU (user+system) per request",
        },
        cases,
    );
    panel(
        &mut out,
        &Panel {
            title: "p99 latency",
            x0: LABEL_W + PANEL_W + GAP + 30.0,
            value: |c| c.p99_ms,
            range: |c| c.p99_ms_range,
            unit: "milliseconds, client-side",
        },
        cases,
    );
    let _ = writeln!(out, "</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_axis() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(7.3), 10.0);
        assert_eq!(nice_max(180.0), 200.0);
        assert_eq!(nice_max(2.1), 2.5);
        assert_eq!(trim(2.50), "2.5");
        assert_eq!(esc("a<b&"), "a&lt;b&amp;");
    }
}
