//! Configuration as Envoy 1.40 really treats it: a bad plugin JSON makes `on_configure` fail,
//! Envoy logs the field, and the process exits (fail-closed plugin in a static listener);
//! `envoy --mode validate` runs `on_configure` too and exits non-zero. Plus the options that
//! change the callout and the cache.

#![cfg(test)]

use mesh_authz_integration::client::Request;
use mesh_authz_integration::echo::Echoed;
use mesh_authz_integration::envoy::{self, EnvoyOptions};
use mesh_authz_integration::paths::Prerequisites;
use mesh_authz_integration::require_prerequisites;
use mesh_authz_integration::stack::Stack;
use serde_json::{json, Value};

fn base() -> Value {
    envoy::plugin_config_of(&mesh_authz_integration::paths::default_envoy_yaml()).unwrap()
}

/// (what is wrong, the plugin JSON text, what Envoy's log must name)
fn bad_configs() -> Vec<(&'static str, String, &'static str)> {
    let mut cases = Vec::new();
    let mut c = base();
    c["cache"]["maxEntries"] = 0.into();
    cases.push((
        "maxEntries 0",
        c.to_string(),
        "cache.maxEntries: must be 1 to 10000000",
    ));
    let mut c = base();
    c["authService"]["timeoutMs"] = 0.into();
    cases.push(("timeout 0", c.to_string(), "authService.timeoutMs"));
    let mut c = base();
    c["authService"]["pathPrefix"] = "check".into();
    cases.push((
        "relative pathPrefix",
        c.to_string(),
        "authService.pathPrefix",
    ));
    let mut c = base();
    c["cahce"] = json!({});
    cases.push(("unknown field", c.to_string(), "cahce"));
    let mut c = base();
    c["authService"].as_object_mut().unwrap().remove("cluster");
    cases.push(("no cluster", c.to_string(), "cluster"));
    let mut c = base();
    c["authService"]
        .as_object_mut()
        .unwrap()
        .remove("authority");
    cases.push((
        "no authority for a plain cluster",
        c.to_string(),
        "authService.authority",
    ));
    let mut c = base();
    c["onError"]["mode"] = "maybe".into();
    cases.push(("unknown onError mode", c.to_string(), "onError.mode"));
    cases.push((
        "not JSON",
        "{\"authService\": ".to_string(),
        "line 1 column",
    ));
    cases
}

fn options(p: &Prerequisites, json: &str) -> EnvoyOptions {
    let mut opts = EnvoyOptions::new(&p.envoy, &p.wasm);
    opts.plugin_config = Some(json.to_string());
    opts
}

#[test]
fn bad_configs_stop_envoy_and_name_the_field() {
    let p = require_prerequisites!();
    for (what, json, field) in bad_configs() {
        let (line, log) =
            envoy::refusal(&options(&p, &json)).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(
            line.contains(field),
            "{what}: line does not name {field:?}: {line}"
        );
        assert!(
            log.contains("Unable to create Wasm plugin mesh_authz"),
            "{what}:\n{log}"
        );
    }
}

#[test]
fn validate_mode_runs_on_configure() {
    let p = require_prerequisites!();
    let (good, dir) = envoy::validate_rendered(&EnvoyOptions::new(&p.envoy, &p.wasm)).unwrap();
    assert!(good.success, "{}", good.output);
    let configured = format!("mesh-authz {} configured", env!("CARGO_PKG_VERSION"));
    assert!(good.output.contains(&configured), "{}", good.output);
    let _ = std::fs::remove_dir_all(dir);
    for (what, json, field) in bad_configs().into_iter().take(2) {
        let (bad, dir) = envoy::validate_rendered(&options(&p, &json)).unwrap();
        assert!(
            !bad.success,
            "{what}: validate accepted a bad plugin config:\n{}",
            bad.output
        );
        assert!(
            bad.output.contains(field),
            "{what}: {field:?} not named:\n{}",
            bad.output
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[test]
fn include_request_path_false_calls_the_bare_prefix() {
    let p = require_prerequisites!();
    let s = Stack::builder(&p)
        .unwrap()
        .config(|c| c["authService"]["includeRequestPath"] = false.into())
        .start()
        .unwrap();
    let r = s
        .send(&Request::get("/deep/path?q=1").bearer("alice-token"))
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json::<Echoed>().unwrap().path, "/deep/path?q=1");
    assert_eq!(s.auth.callouts()[0].path, "/check");
}

#[test]
fn cache_disabled_asks_every_time() {
    let p = require_prerequisites!();
    let s = Stack::builder(&p)
        .unwrap()
        .config(|c| c["cache"] = json!({"enabled": false}))
        .start()
        .unwrap();
    for _ in 0..3 {
        assert_eq!(
            s.send(&Request::get("/nc").bearer("alice-token"))
                .unwrap()
                .status,
            200
        );
    }
    assert_eq!(s.auth.calls(), 3);
}

#[test]
fn deny_body_is_truncated_to_max_deny_body_bytes() {
    let p = require_prerequisites!();
    let s = Stack::builder(&p)
        .unwrap()
        .config(|c| c["maxDenyBodyBytes"] = 5.into())
        .start()
        .unwrap();
    let r = s.get("/t").unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(r.text(), "unaut");
}
