//! Configurations each release accepted keep loading: a sidecar upgraded to this module with the
//! configuration it already has must not stop. `golden/<release>/*.json` are the configurations
//! of that release's README, docs and manifests; beside each, `<name>.warnings` holds the warnings
//! it loads with today, one a line. `golden/refused/` holds the deliberate exceptions (security
//! fixes, listed in CHANGELOG.md as breaking), each with the field its refusal names.

// Native only: they read files, and the wasm32 test runner (Node's WASI) opens no directory.
#![cfg(test)]
#![cfg(not(target_family = "wasm"))]

use mesh_authz_core::Config;
use std::path::{Path, PathBuf};

const UPDATE: &str = "UPDATE_GOLDEN=1 cargo test -p mesh-authz-core --test golden";

fn golden() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn configs(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    out.sort();
    out
}

fn releases() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(golden())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && !p.ends_with("refused"))
        .collect();
    out.sort();
    out
}

#[test]
fn every_release_s_configurations_still_load_with_the_warnings_recorded() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut problems = Vec::new();
    let mut loaded = 0;
    for release in releases() {
        for path in configs(&release) {
            let text = std::fs::read(&path).unwrap();
            let config = match Config::parse(&text) {
                Ok(c) => c,
                Err(e) => {
                    problems.push(format!("{}: refused: {e}", path.display()));
                    continue;
                }
            };
            loaded += 1;
            let mut got = config.warnings().join("\n");
            if !got.is_empty() {
                got.push('\n');
            }
            let beside = path.with_extension("warnings");
            if update {
                std::fs::write(&beside, &got).unwrap();
            }
            let want = std::fs::read_to_string(&beside).unwrap_or_else(|_| "(missing)".into());
            if got != want {
                problems.push(format!(
                    "{}: warnings differ\n  recorded: {want:?}\n  now:      {got:?}",
                    path.display()
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{}\n(if the new warnings are meant, record them with: {UPDATE})",
        problems.join("\n")
    );
    assert!(loaded >= 20, "only {loaded} golden configurations found");
}

#[test]
fn the_deliberate_refusals_name_their_field() {
    let dir = golden().join("refused");
    let mut seen = 0;
    for path in configs(&dir) {
        let text = std::fs::read(&path).unwrap();
        let field = std::fs::read_to_string(path.with_extension("refused")).unwrap();
        let e = Config::parse(&text).map(|_| ()).unwrap_err();
        assert_eq!(e.field, field.trim(), "{}: {e}", path.display());
        seen += 1;
    }
    assert!(seen >= 5, "only {seen} refused configurations found");
}
