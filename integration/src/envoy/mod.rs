//! A real Envoy process for tests, `make run` and benchmarks.
//!
//! The bootstrap is read from a YAML file (default `integration/envoy/envoy.yaml`), changed on the
//! parsed document (`overrides`), written to a per-instance directory and started with
//! `--disable-hot-restart` so that many Envoys can run at once. Readiness is polled on the admin
//! endpoint (`/ready` is `LIVE`, the listener has a port) against a deadline; the process is
//! killed on drop. The directory (config, log) is kept when the thread is panicking, so a failing
//! test leaves its Envoy log behind and names it.

pub mod overrides;
pub mod stats;

use crate::client::{self, Request, Response};
use crate::error::io;
use crate::{paths, HarnessError};
use serde_norway::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The ports written in `integration/envoy/envoy.yaml` (and the Makefile's defaults).
pub const DEFAULT_LISTEN_PORT: u16 = 10000;
pub const DEFAULT_ADMIN_PORT: u16 = 9901;
pub const DEFAULT_AUTH_PORT: u16 = 8081;
pub const DEFAULT_ECHO_PORT: u16 = 8082;

const POLL: Duration = Duration::from_millis(20);
/// `/stats` is a few hundred lines; the filter's gauges change once a second.
const STAT_POLL: Duration = Duration::from_millis(100);

/// Where each default port goes. 0 for `listen`/`admin` lets Envoy pick a free port, which the
/// harness then reads back from the admin endpoint (no bind-then-release race).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortMap {
    pub listen: u16,
    pub admin: u16,
    pub auth: u16,
    pub echo: u16,
}

impl Default for PortMap {
    fn default() -> Self {
        PortMap {
            listen: DEFAULT_LISTEN_PORT,
            admin: DEFAULT_ADMIN_PORT,
            auth: DEFAULT_AUTH_PORT,
            echo: DEFAULT_ECHO_PORT,
        }
    }
}

impl PortMap {
    /// Envoy on free ports, talking to services already listening on `auth` and `echo`.
    pub fn ephemeral(auth: u16, echo: u16) -> Self {
        PortMap {
            listen: 0,
            admin: 0,
            auth,
            echo,
        }
    }

    fn as_map(&self) -> BTreeMap<u16, u16> {
        BTreeMap::from([
            (DEFAULT_LISTEN_PORT, self.listen),
            (DEFAULT_ADMIN_PORT, self.admin),
            (DEFAULT_AUTH_PORT, self.auth),
            (DEFAULT_ECHO_PORT, self.echo),
        ])
    }
}

/// How to start one Envoy. `EnvoyOptions::new(envoy, wasm)` gives the checked-in bootstrap with the
/// given module, free ports for Envoy and the default upstream ports.
#[derive(Debug, Clone)]
pub struct EnvoyOptions {
    pub envoy: PathBuf,
    pub yaml: PathBuf,
    /// Module path written into the plugin (made absolute); `None` keeps the file's.
    pub wasm: Option<PathBuf>,
    /// Plugin JSON text replacing the file's; `None` keeps the file's.
    pub plugin_config: Option<String>,
    pub ports: PortMap,
    /// `false` removes Envoy's path and header hardening (`overrides::HARDENING`) from the file,
    /// to show what the filter guarantees on its own.
    pub hardened: bool,
    pub concurrency: u32,
    /// `-l`; e.g. `info`, `debug`.
    pub log_level: String,
    /// `--component-log-level`, e.g. `wasm:debug`.
    pub component_log_level: Option<String>,
    /// Log to the terminal instead of a file (`make run`); `log_text()` is then empty.
    pub inherit_output: bool,
    pub ready_timeout: Duration,
    pub extra_args: Vec<String>,
    /// Changes to the bootstrap beyond ports, module and plugin JSON (`overrides::Patch`).
    pub patches: Vec<overrides::Patch>,
}

impl EnvoyOptions {
    pub fn new(envoy: &Path, wasm: &Path) -> Self {
        EnvoyOptions {
            envoy: envoy.to_path_buf(),
            yaml: paths::default_envoy_yaml(),
            wasm: Some(wasm.to_path_buf()),
            plugin_config: None,
            ports: PortMap {
                listen: 0,
                admin: 0,
                ..PortMap::default()
            },
            hardened: true,
            concurrency: 1,
            log_level: "info".into(),
            component_log_level: None,
            inherit_output: false,
            ready_timeout: Duration::from_secs(30),
            extra_args: Vec::new(),
            patches: Vec::new(),
        }
    }

    /// The bootstrap after overrides, as YAML text.
    pub fn render(&self) -> Result<String, HarnessError> {
        let text = std::fs::read_to_string(&self.yaml)
            .map_err(io(format!("reading {}", self.yaml.display())))?;
        let mut doc: Value = serde_norway::from_str(&text)
            .map_err(|e| HarnessError::Config(format!("{}: {e}", self.yaml.display())))?;
        overrides::remap_ports(&mut doc, &self.ports.as_map());
        if !self.hardened {
            overrides::strip_hardening(&mut doc);
        }
        if let Some(wasm) = &self.wasm {
            overrides::set_wasm_filename(&mut doc, &absolute(wasm))?;
        }
        if let Some(json) = &self.plugin_config {
            overrides::set_plugin_config_text(&mut doc, json)?;
        }
        for (i, patch) in self.patches.iter().enumerate() {
            if patch(&mut doc) == 0 {
                return Err(HarnessError::Config(format!(
                    "patch {i} found nothing to change in {}",
                    self.yaml.display()
                )));
            }
        }
        serde_norway::to_string(&doc)
            .map_err(|e| HarnessError::Config(format!("writing YAML: {e}")))
    }
}

/// The plugin JSON of a bootstrap file, to patch in a test and pass back as `plugin_config`.
pub fn plugin_config_of(yaml: &Path) -> Result<serde_json::Value, HarnessError> {
    let text = std::fs::read_to_string(yaml).map_err(io(format!("reading {}", yaml.display())))?;
    let doc: Value = serde_norway::from_str(&text)
        .map_err(|e| HarnessError::Config(format!("{}: {e}", yaml.display())))?;
    overrides::plugin_config(&doc)
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        paths::repo_root().join(p)
    }
}

fn instance_dir() -> Result<PathBuf, HarnessError> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir()
        .join("mesh-authz-e2e")
        .join(format!("{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    Ok(dir)
}

/// One running (or exited) Envoy.
pub struct Envoy {
    child: Child,
    dir: PathBuf,
    log_path: PathBuf,
    admin: Option<SocketAddr>,
    listen: Option<SocketAddr>,
}

impl Envoy {
    /// Starts Envoy and waits until it is ready.
    pub fn start(opts: &EnvoyOptions) -> Result<Envoy, HarnessError> {
        let mut envoy = Self::spawn(opts)?;
        envoy.wait_ready(opts.ready_timeout)?;
        Ok(envoy)
    }

    /// Starts Envoy without waiting (for configs expected to fail).
    pub fn spawn(opts: &EnvoyOptions) -> Result<Envoy, HarnessError> {
        let dir = instance_dir()?;
        let config = dir.join("envoy.yaml");
        std::fs::write(&config, opts.render()?)
            .map_err(io(format!("writing {}", config.display())))?;
        let log_path = dir.join("envoy.log");
        let mut cmd = Command::new(&opts.envoy);
        cmd.current_dir(paths::repo_root())
            .arg("-c")
            .arg(&config)
            .arg("--disable-hot-restart")
            .arg("--concurrency")
            .arg(opts.concurrency.to_string())
            .arg("-l")
            .arg(&opts.log_level)
            .arg("--admin-address-path")
            .arg(dir.join("admin.txt"))
            .stdin(Stdio::null());
        if let Some(levels) = &opts.component_log_level {
            cmd.arg("--component-log-level").arg(levels);
        }
        if !opts.inherit_output {
            let stderr =
                std::fs::File::create(dir.join("stderr.txt")).map_err(io("creating stderr.txt"))?;
            // stdout carries the access log (`/dev/stdout` in the bootstrap); flushed every 100 ms
            // (Envoy's default is 10 s) so tests see log and access log lines quickly.
            let stdout =
                std::fs::File::create(dir.join("stdout.txt")).map_err(io("creating stdout.txt"))?;
            cmd.arg("--log-path")
                .arg(&log_path)
                .arg("--file-flush-interval-msec")
                .arg("100")
                .stdout(stdout)
                .stderr(stderr);
        }
        cmd.args(&opts.extra_args);
        let child = cmd
            .spawn()
            .map_err(io(format!("starting {}", opts.envoy.display())))?;
        Ok(Envoy {
            child,
            dir,
            log_path,
            admin: None,
            listen: None,
        })
    }

    /// Polls the admin endpoint until `/ready` says LIVE and the first listener has a port.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<(), HarnessError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().map_err(io("waiting for envoy"))? {
                return Err(HarnessError::Envoy(format!(
                    "exited with {status} before ready; {}",
                    self.log_hint()
                )));
            }
            if self.poll_ready() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(HarnessError::Envoy(format!(
                    "not ready after {timeout:?}; {}",
                    self.log_hint()
                )));
            }
            std::thread::sleep(POLL);
        }
    }

    fn poll_ready(&mut self) -> bool {
        if self.admin.is_none() {
            self.admin = std::fs::read_to_string(self.dir.join("admin.txt"))
                .ok()
                .and_then(|s| s.trim().parse::<SocketAddr>().ok());
        }
        let Some(admin) = self.admin else {
            return false;
        };
        let live =
            client::get(admin, "/ready").map(|r| r.status == 200 && r.text().trim() == "LIVE");
        if !matches!(live, Ok(true)) {
            return false;
        }
        self.listen = client::get(admin, "/listeners?format=json")
            .ok()
            .and_then(|r| r.json::<serde_json::Value>().ok())
            .and_then(|v| first_listener(&v));
        self.listen.is_some()
    }

    /// Waits for the process to exit; `None` if it still runs at the deadline.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<Option<ExitStatus>, HarnessError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().map_err(io("waiting for envoy"))? {
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(POLL);
        }
    }

    /// The HTTP listener (after `wait_ready`).
    pub fn listen_addr(&self) -> Result<SocketAddr, HarnessError> {
        self.listen
            .ok_or_else(|| HarnessError::Envoy("listener address unknown (not ready)".into()))
    }

    /// The admin endpoint (after `wait_ready`).
    pub fn admin_addr(&self) -> Result<SocketAddr, HarnessError> {
        self.admin
            .ok_or_else(|| HarnessError::Envoy("admin address unknown (not ready)".into()))
    }

    /// Sends `req` to the listener.
    pub fn send(&self, req: &Request) -> Result<Response, HarnessError> {
        req.send(self.listen_addr()?)
    }

    /// GET on the admin endpoint.
    pub fn admin_get(&self, target: &str) -> Result<Response, HarnessError> {
        client::get(self.admin_addr()?, target)
    }

    /// Every counter and gauge from `/stats`.
    pub fn stats(&self) -> Result<BTreeMap<String, u64>, HarnessError> {
        Ok(stats::parse_stats(&self.admin_get("/stats")?.text()))
    }

    /// One counter or gauge by its full `/stats` name. A name Envoy does not list is an error
    /// that names it (`stats::stat`), so an assertion on a misnamed stat fails instead of reading 0.
    pub fn counter(&self, name: &str) -> Result<u64, HarnessError> {
        stats::stat(&self.stats()?, name)
    }

    /// Polls `name` until `done` holds for its value; returns that value. A stat Envoy does not
    /// list is an error at once (as in `counter`); a value that never satisfies `done` is an
    /// error at the deadline that gives the last value read.
    pub fn wait_for_stat(
        &self,
        name: &str,
        timeout: Duration,
        done: impl Fn(u64) -> bool,
    ) -> Result<u64, HarnessError> {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.counter(name)?;
            if done(value) {
                return Ok(value);
            }
            if Instant::now() >= deadline {
                return Err(HarnessError::Envoy(format!(
                    "{name} still {value} after {timeout:?}"
                )));
            }
            std::thread::sleep(STAT_POLL);
        }
    }

    /// Downstream connections each worker accepted so far, from the per-worker listener stats
    /// (one entry per worker, in worker order).
    pub fn connections_per_worker(&self) -> Result<Vec<u64>, HarnessError> {
        Ok(self
            .stats()?
            .iter()
            .filter(|(k, _)| {
                k.starts_with("listener.")
                    && k.contains(".worker_")
                    && k.ends_with(".downstream_cx_total")
            })
            .map(|(_, v)| *v)
            .collect())
    }

    /// `/stats/prometheus` as text.
    pub fn prometheus(&self) -> Result<String, HarnessError> {
        Ok(self.admin_get("/stats/prometheus")?.text())
    }

    /// The log file and anything Envoy wrote to stderr.
    pub fn log_text(&self) -> String {
        let log = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let stderr = std::fs::read_to_string(self.dir.join("stderr.txt")).unwrap_or_default();
        log + &stderr
    }

    /// The access log's JSON lines so far (the checked-in bootstrap writes one per request to
    /// stdout); lines that are not JSON are skipped.
    pub fn access_log(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.join("stdout.txt"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Polls the access log until it has `n` lines (or the deadline passes); returns them.
    pub fn wait_for_access_log(&self, n: usize, timeout: Duration) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let lines = self.access_log();
            if lines.len() >= n || Instant::now() >= deadline {
                return lines;
            }
            std::thread::sleep(POLL);
        }
    }

    /// Polls the log until it contains `needle`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.log_text().contains(needle) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(POLL);
        }
    }

    /// The instance directory (rendered `envoy.yaml`, `envoy.log`, `stderr.txt`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn log_hint(&self) -> String {
        let log = self.log_text();
        let tail: Vec<&str> = log.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!("log {}:\n{}", self.log_path.display(), tail.join("\n"))
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("envoy instance kept for inspection: {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn first_listener(listeners: &serde_json::Value) -> Option<SocketAddr> {
    let first = listeners.get("listener_statuses")?.as_array()?.first()?;
    let sock = first.get("local_address")?.get("socket_address")?;
    let port = u16::try_from(sock.get("port_value")?.as_u64()?).ok()?;
    let ip = sock.get("address")?.as_str()?.parse().ok()?;
    (port != 0).then_some(SocketAddr::new(ip, port))
}

/// Starts Envoy with a plugin configuration it must refuse and waits for it to exit; returns
/// the module's `invalid configuration` line and the whole log. An error says how it was not
/// refused (still running, exit 0, no such line), with the log.
pub fn refusal(opts: &EnvoyOptions) -> Result<(String, String), HarnessError> {
    let mut e = Envoy::spawn(opts)?;
    let status = e.wait_exit(Duration::from_secs(20))?;
    let log = e.log_text();
    let refused = |why: &str| HarnessError::Envoy(format!("{why}:\n{log}"));
    match status {
        None => return Err(refused("Envoy still runs with a bad plugin config")),
        Some(s) if s.success() => return Err(refused("Envoy exited 0")),
        Some(_) => {}
    }
    let line = log
        .lines()
        .find(|l| l.contains("mesh-authz: invalid configuration: "))
        .ok_or_else(|| refused("no 'invalid configuration' line"))?
        .to_string();
    Ok((line, log))
}

/// What `envoy --mode validate` said.
#[derive(Debug, Clone)]
pub struct Validation {
    pub success: bool,
    pub output: String,
}

/// Runs `envoy --mode validate -c yaml` from the repo root (relative module paths resolve there).
pub fn validate(envoy: &Path, yaml: &Path) -> Result<Validation, HarnessError> {
    let out = Command::new(envoy)
        .current_dir(paths::repo_root())
        .args([
            "--mode",
            "validate",
            "--disable-hot-restart",
            "-l",
            "info",
            "-c",
        ])
        .arg(yaml)
        .stdin(Stdio::null())
        .output()
        .map_err(io(format!("running {} --mode validate", envoy.display())))?;
    let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
    output.push_str(&String::from_utf8_lossy(&out.stderr));
    Ok(Validation {
        success: out.status.success(),
        output,
    })
}

/// Renders `opts` to a file in a fresh directory and validates it (the directory is returned so
/// the caller decides when it goes).
pub fn validate_rendered(opts: &EnvoyOptions) -> Result<(Validation, PathBuf), HarnessError> {
    let dir = instance_dir()?;
    let config = dir.join("envoy.yaml");
    std::fs::write(&config, opts.render()?).map_err(io(format!("writing {}", config.display())))?;
    Ok((validate(&opts.envoy, &config)?, dir))
}
