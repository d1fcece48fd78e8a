//! The checked-in JSON Schema of the plugin configuration is the one the raw configuration types
//! derive: a field added, renamed or documented in `config/raw.rs` or `jwt/raw.rs` fails here
//! until the file is regenerated.

// Native only: they read files, and the wasm32 test runner (Node's WASI) opens no directory.
#![cfg(test)]
#![cfg(not(target_family = "wasm"))]

use std::path::PathBuf;

const UPDATE: &str = "UPDATE_SCHEMA=1 cargo test -p mesh-authz-core --test schema";

fn checked_in() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../envoyfilter-manifests/schema/mesh-authz.schema.json")
}

#[test]
fn the_checked_in_schema_is_the_one_the_types_derive() {
    let derived = mesh_authz_core::config::json_schema();
    let path = checked_in();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &derived).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == derived,
        "{} is not the schema the configuration types derive; regenerate it with:\n  {UPDATE}",
        path.display()
    );
}
