//! What the numbers were measured on: date, CPUs, memory, kernel, Envoy version, load average.

use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Machine {
    pub date_utc: String,
    pub cpus: usize,
    pub memory_gib: f64,
    pub cpu_model: String,
    pub kernel: String,
    pub envoy_version: String,
    /// `git describe` of the tree the module was built from, `-dirty` when filter/ had edits.
    #[serde(default)]
    pub source: String,
    /// 1-minute load average before and after the run: how shared the machine was.
    pub loadavg_before: f64,
    pub loadavg_after: f64,
}

fn command(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| {
            let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
            s.push_str(&String::from_utf8_lossy(&o.stderr));
            s.trim().to_string()
        })
        .unwrap_or_default()
}

pub fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

fn source() -> String {
    let root = mesh_authz_integration::paths::repo_root();
    let root = root.to_string_lossy();
    let head = command("git", &["-C", &root, "rev-parse", "--short", "HEAD"]);
    let dirty = command(
        "git",
        &["-C", &root, "status", "--porcelain", "--", "filter"],
    );
    match (head.is_empty() || head.contains(' '), dirty.is_empty()) {
        (true, _) => "unknown".into(),
        (false, true) => head,
        (false, false) => format!("{head}-dirty (uncommitted changes under filter/)"),
    }
}

impl Machine {
    pub fn probe(envoy: &Path) -> Machine {
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_kib: f64 = meminfo
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default();
        let version = command(&envoy.to_string_lossy(), &["--version"]);
        let envoy_version = version
            .split_whitespace()
            .find(|w| w.contains('/') && w.chars().next().is_some_and(|c| c.is_ascii_hexdigit()))
            .map(str::to_string)
            .unwrap_or(version);
        Machine {
            date_utc: command("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
            cpus: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0),
            memory_gib: (mem_kib / 1024.0 / 1024.0 * 10.0).round() / 10.0,
            cpu_model,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_string(),
            envoy_version,
            source: source(),
            loadavg_before: loadavg(),
            loadavg_after: f64::NAN,
        }
    }

    pub fn one_line(&self) -> String {
        format!(
            "{}, {} CPUs ({}), {} GiB, Linux {}, Envoy {}, filter at {}, load average {:.2} before / {:.2} after",
            self.date_utc,
            self.cpus,
            self.cpu_model,
            self.memory_gib,
            self.kernel,
            self.envoy_version,
            self.source,
            self.loadavg_before,
            self.loadavg_after
        )
    }
}
