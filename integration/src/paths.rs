//! Where things are. Tests skip with one line when Envoy or the module is missing, except under
//! `CI=true`, where a missing prerequisite is a failure (a green CI must mean the tests ran).

use crate::HarnessError;
use std::path::{Path, PathBuf};

/// The repository root (Envoy is started from here, as `make run` does).
pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| manifest.to_path_buf())
}

/// The checked-in bootstrap: `integration/envoy/envoy.yaml`.
pub fn default_envoy_yaml() -> PathBuf {
    repo_root().join("integration/envoy/envoy.yaml")
}

/// The example tokens file: `integration/example/tokens.json`.
pub fn default_tokens() -> PathBuf {
    repo_root().join("integration/example/tokens.json")
}

/// `ENVOY_BIN`, else `<repo>/.venv/bin/envoy`.
pub fn envoy_bin() -> PathBuf {
    match std::env::var_os("ENVOY_BIN") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => repo_root().join(".venv/bin/envoy"),
    }
}

/// `MESH_AUTHZ_WASM`, else `<repo>/dist/mesh_authz.wasm`.
pub fn wasm_module() -> PathBuf {
    match std::env::var_os("MESH_AUTHZ_WASM") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => repo_root().join("dist/mesh_authz.wasm"),
    }
}

fn under_ci() -> bool {
    std::env::var("CI").map(|v| v == "true").unwrap_or(false)
}

/// What an end-to-end test needs.
#[derive(Debug, Clone)]
pub struct Prerequisites {
    pub envoy: PathBuf,
    pub wasm: PathBuf,
}

/// `Ok(Some)` when Envoy and the module exist; `Ok(None)` after printing one skip line when
/// one is missing; `Err` when one is missing under `CI=true`.
pub fn prerequisites() -> Result<Option<Prerequisites>, HarnessError> {
    let envoy = envoy_bin();
    let wasm = wasm_module();
    let missing = if !envoy.is_file() {
        Some("envoy not found (run make venv)")
    } else if !wasm.is_file() {
        Some("dist/mesh_authz.wasm not found (run make build)")
    } else {
        None
    };
    match missing {
        None => Ok(Some(Prerequisites { envoy, wasm })),
        Some(what) if under_ci() => Err(HarnessError::Missing(format!(
            "{what}: failing under CI=true"
        ))),
        Some(what) => {
            println!("{what}: skipping");
            Ok(None)
        }
    }
}

/// `Ok(Some(envoy))` or the same skip/fail rule, for tests that need Envoy but not the module.
pub fn envoy_prerequisite() -> Result<Option<PathBuf>, HarnessError> {
    let envoy = envoy_bin();
    if envoy.is_file() {
        Ok(Some(envoy))
    } else if under_ci() {
        Err(HarnessError::Missing(
            "envoy not found (run make venv): failing under CI=true".into(),
        ))
    } else {
        println!("envoy not found (run make venv): skipping");
        Ok(None)
    }
}

/// `MESH_AUTHZ_CRASH_WASM`: the module built with the `crash-test` feature (`make
/// crash-test-module`), which traps on request. `Ok(None)` after one skip line when it is unset
/// or missing; `Err` then under `CI=true`.
pub fn crash_module() -> Result<Option<PathBuf>, HarnessError> {
    let path = std::env::var_os("MESH_AUTHZ_CRASH_WASM")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);
    match path {
        Some(p) if p.is_file() => Ok(Some(p)),
        _ if under_ci() => Err(HarnessError::Missing(
            "MESH_AUTHZ_CRASH_WASM is not a module (make crash-test-module): failing under CI=true"
                .into(),
        )),
        _ => {
            println!("MESH_AUTHZ_CRASH_WASM is not a module (make crash-test-module builds it): skipping");
            Ok(None)
        }
    }
}

/// For test bodies: the prerequisites, or `return` after the skip line, or panic under CI.
#[macro_export]
macro_rules! require_prerequisites {
    () => {
        match $crate::paths::prerequisites() {
            Ok(Some(p)) => p,
            Ok(None) => return,
            Err(e) => panic!("{e}"),
        }
    };
}
