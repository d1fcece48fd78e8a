//! Overrides applied to a parsed Envoy bootstrap, by walking it rather than templating the file:
//! ports, the module path, the plugin's JSON configuration, and `Patch`es a test asks for.

use crate::HarnessError;
use serde_norway::{Mapping, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// The `root_id` of the mesh-authz plugin in a bootstrap.
pub const ROOT_ID: &str = "mesh_authz";

fn key(k: &str) -> Value {
    Value::String(k.to_string())
}

fn walk_mut(v: &mut Value, f: &mut dyn FnMut(&mut Mapping)) {
    match v {
        Value::Mapping(m) => {
            f(m);
            for (_, child) in m.iter_mut() {
                walk_mut(child, f);
            }
        }
        Value::Sequence(s) => s.iter_mut().for_each(|c| walk_mut(c, f)),
        Value::Tagged(t) => walk_mut(&mut t.value, f),
        _ => {}
    }
}

fn walk(v: &Value, f: &mut dyn FnMut(&Mapping)) {
    match v {
        Value::Mapping(m) => {
            f(m);
            m.iter().for_each(|(_, child)| walk(child, f));
        }
        Value::Sequence(s) => s.iter().for_each(|c| walk(c, f)),
        Value::Tagged(t) => walk(&t.value, f),
        _ => {}
    }
}

/// Replaces every `port_value: FROM` with `port_value: TO`; returns how many were replaced.
pub fn remap_ports(doc: &mut Value, map: &BTreeMap<u16, u16>) -> usize {
    let mut n = 0;
    walk_mut(doc, &mut |m| {
        if let Some(port) = m.get_mut(key("port_value")) {
            let to = port
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .and_then(|p| map.get(&p));
            if let Some(to) = to {
                *port = Value::Number((*to).into());
                n += 1;
            }
        }
    });
    n
}

fn is_plugin(m: &Mapping) -> bool {
    m.get(key("root_id")).and_then(Value::as_str) == Some(ROOT_ID)
}

/// Points every mesh-authz plugin's `vm_config.code.local.filename` at `module`.
pub fn set_wasm_filename(doc: &mut Value, module: &Path) -> Result<usize, HarnessError> {
    let filename = Value::String(module.to_string_lossy().into_owned());
    let mut n = 0;
    walk_mut(doc, &mut |m| {
        if !is_plugin(m) {
            return;
        }
        let local = m
            .get_mut(key("vm_config"))
            .and_then(|v| v.get_mut("code"))
            .and_then(|v| v.get_mut("local"))
            .and_then(Value::as_mapping_mut);
        if let Some(local) = local {
            local.insert(key("filename"), filename.clone());
            n += 1;
        }
    });
    if n == 0 {
        return Err(HarnessError::Config(format!(
            "no plugin with root_id {ROOT_ID} and vm_config.code.local"
        )));
    }
    Ok(n)
}

/// The mesh-authz plugin's JSON configuration (the first plugin's, if several).
pub fn plugin_config(doc: &Value) -> Result<serde_json::Value, HarnessError> {
    let mut found: Option<String> = None;
    walk(doc, &mut |m| {
        if found.is_none() && is_plugin(m) {
            found = m
                .get(key("configuration"))
                .and_then(|c| c.get("value"))
                .and_then(Value::as_str)
                .map(str::to_string);
        }
    });
    let text = found.ok_or_else(|| {
        HarnessError::Config(format!("no {ROOT_ID} plugin with configuration.value"))
    })?;
    serde_json::from_str(&text)
        .map_err(|e| HarnessError::Config(format!("plugin configuration JSON: {e}")))
}

/// Replaces every mesh-authz plugin's `configuration` with `json` (as a StringValue).
/// `json` is written verbatim, so a test can also pass text that is not valid JSON.
pub fn set_plugin_config_text(doc: &mut Value, json: &str) -> Result<usize, HarnessError> {
    let mut configuration = Mapping::new();
    configuration.insert(
        key("@type"),
        key("type.googleapis.com/google.protobuf.StringValue"),
    );
    configuration.insert(key("value"), key(json));
    let mut n = 0;
    walk_mut(doc, &mut |m| {
        if is_plugin(m) {
            m.insert(key("configuration"), Value::Mapping(configuration.clone()));
            n += 1;
        }
    });
    if n == 0 {
        return Err(HarnessError::Config(format!(
            "no plugin with root_id {ROOT_ID}"
        )));
    }
    Ok(n)
}

/// The reload backoff `slow_reload` sets: long enough that a test sees the VM down (every request
/// refused) before the reload, whatever the machine's speed.
pub const SLOW_RELOAD: &str = "5s";

/// Sets every mesh-authz plugin's `reload_config.backoff.base_interval` to `SLOW_RELOAD`; returns
/// how many it changed (0 when no plugin has `failure_policy: FAIL_RELOAD`).
pub fn slow_reload(doc: &mut Value) -> usize {
    let mut n = 0;
    walk_mut(doc, &mut |m| {
        if !is_plugin(m)
            || m.get(key("failure_policy")).and_then(Value::as_str) != Some("FAIL_RELOAD")
        {
            return;
        }
        let backoff = child(m, "reload_config").and_then(|r| child(r, "backoff"));
        if let Some(backoff) = backoff {
            backoff.insert(key("base_interval"), key(SLOW_RELOAD));
            n += 1;
        }
    });
    n
}

/// A change a test makes to the bootstrap (`EnvoyOptions::patches`); returns how many places it
/// changed, and rendering fails when that is 0 (the file no longer has what the test relies on).
pub type Patch = fn(&mut Value) -> usize;

const HCM_TYPE: &str =
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const UPSTREAM_HTTP_OPTIONS: &str = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

/// The mapping under `k`, created empty when absent; `None` when `k` holds something else.
fn child<'a>(m: &'a mut Mapping, k: &str) -> Option<&'a mut Mapping> {
    m.entry(key(k))
        .or_insert_with(|| Value::Mapping(Mapping::new()))
        .as_mapping_mut()
}

/// Runs `f` on every HttpConnectionManager config; returns how many it changed.
fn each_hcm(doc: &mut Value, f: &dyn Fn(&mut Mapping) -> Option<()>) -> usize {
    let mut n = 0;
    walk_mut(doc, &mut |m| {
        if m.get(key("@type")).and_then(Value::as_str) == Some(HCM_TYPE) && f(m).is_some() {
            n += 1;
        }
    });
    n
}

/// The HTTP connection manager options of Envoy's edge hardening that change what path and
/// headers a filter sees; `strip_hardening` removes them to test the filter without their help.
pub const HARDENING: [&str; 4] = [
    "normalize_path",
    "merge_slashes",
    "path_with_escaped_slashes_action",
    "headers_with_underscores_action",
];

/// Removes every `HARDENING` key wherever it is (the last sits in `common_http_protocol_options`);
/// returns how many were removed.
pub fn strip_hardening(doc: &mut Value) -> usize {
    let mut n = 0;
    walk_mut(doc, &mut |m| {
        for k in HARDENING {
            if m.remove(key(k)).is_some() {
                n += 1;
            }
        }
    });
    n
}

/// Removes every HTTP connection manager's `access_log` (a benchmark compares bootstraps without
/// one); returns how many were removed.
pub fn strip_access_log(doc: &mut Value) -> usize {
    each_hcm(doc, &|hcm| hcm.remove(key("access_log")).map(|_| ()))
}

/// Envoy's default, made explicit on every listener: header names with `_` reach the filters
/// (`headers_with_underscores_action: ALLOW`), so a test sees them whatever the file says.
pub fn allow_underscore_headers(doc: &mut Value) -> usize {
    each_hcm(doc, &|hcm| {
        child(hcm, "common_http_protocol_options")?
            .insert(key("headers_with_underscores_action"), key("ALLOW"));
        Some(())
    })
}

/// HTTP/1.1 trailers proxied: Envoy's HTTP/1 codec drops them unless `enable_trailers` is set, on
/// the listener (decoding the client's) and on every cluster (encoding them upstream).
pub fn enable_http1_trailers(doc: &mut Value) -> usize {
    let mut n = each_hcm(doc, &|hcm| {
        child(hcm, "http_protocol_options")?.insert(key("enable_trailers"), Value::Bool(true));
        Some(())
    });
    let clusters = doc
        .get_mut("static_resources")
        .and_then(|r| r.get_mut("clusters"))
        .and_then(Value::as_sequence_mut);
    for cluster in clusters.into_iter().flatten() {
        let set = cluster.as_mapping_mut().and_then(|c| {
            let options = child(
                child(c, "typed_extension_protocol_options")?,
                UPSTREAM_HTTP_OPTIONS,
            )?;
            options.insert(
                key("@type"),
                key(&format!("type.googleapis.com/{UPSTREAM_HTTP_OPTIONS}")),
            );
            let http1 = child(
                child(options, "explicit_http_config")?,
                "http_protocol_options",
            )?;
            http1.insert(key("enable_trailers"), Value::Bool(true));
            Some(())
        });
        n += usize::from(set.is_some());
    }
    n
}

/// The `auth` cluster speaks HTTP/2 (gRPC needs it): `authService.protocol: grpc` against the
/// test gRPC auth service. Returns 1 when the cluster was found.
pub fn auth_cluster_http2(doc: &mut Value) -> usize {
    let clusters = doc
        .get_mut("static_resources")
        .and_then(|r| r.get_mut("clusters"))
        .and_then(Value::as_sequence_mut);
    let mut n = 0;
    for cluster in clusters.into_iter().flatten() {
        let set = cluster.as_mapping_mut().and_then(|c| {
            if c.get(key("name")).and_then(Value::as_str) != Some("auth") {
                return None;
            }
            let options = child(
                child(c, "typed_extension_protocol_options")?,
                UPSTREAM_HTTP_OPTIONS,
            )?;
            options.insert(
                key("@type"),
                key(&format!("type.googleapis.com/{UPSTREAM_HTTP_OPTIONS}")),
            );
            let explicit = child(options, "explicit_http_config")?;
            explicit.remove(key("http_protocol_options"));
            child(explicit, "http2_protocol_options")?;
            Some(())
        });
        n += usize::from(set.is_some());
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_auth_cluster_is_made_http2_and_no_other() {
        let mut doc = checked_in();
        assert_eq!(auth_cluster_http2(&mut doc), 1);
        let text = serde_norway::to_string(&doc).unwrap();
        assert_eq!(text.matches("http2_protocol_options").count(), 1);
    }

    fn checked_in() -> Value {
        let text = std::fs::read_to_string(crate::paths::default_envoy_yaml()).unwrap();
        serde_norway::from_str(&text).unwrap()
    }

    #[test]
    fn ports_are_remapped_everywhere() {
        let mut doc = checked_in();
        let map = BTreeMap::from([(10000, 1), (9901, 2), (8081, 3), (8082, 4)]);
        assert_eq!(remap_ports(&mut doc, &map), 4);
        let text = serde_norway::to_string(&doc).unwrap();
        for old in ["10000", "9901", "8081", "8082"] {
            assert!(
                !text.contains(&format!("port_value: {old}")),
                "{old} left in {text}"
            );
        }
    }

    #[test]
    fn module_and_config_are_replaced() {
        let mut doc = checked_in();
        assert_eq!(
            set_wasm_filename(&mut doc, Path::new("/abs/m.wasm")).unwrap(),
            1
        );
        let mut cfg = plugin_config(&doc).unwrap();
        assert_eq!(cfg["authService"]["cluster"], "auth");
        cfg["onError"]["mode"] = "allow".into();
        set_plugin_config_text(&mut doc, &cfg.to_string()).unwrap();
        assert_eq!(plugin_config(&doc).unwrap()["onError"]["mode"], "allow");
        assert!(serde_norway::to_string(&doc)
            .unwrap()
            .contains("/abs/m.wasm"));
    }

    #[test]
    fn patches_reach_every_listener_and_cluster() {
        let mut doc = checked_in();
        assert_eq!(allow_underscore_headers(&mut doc), 1);
        assert_eq!(
            enable_http1_trailers(&mut doc),
            3,
            "one listener, two clusters"
        );
        let text = serde_norway::to_string(&doc).unwrap();
        assert!(
            text.contains("headers_with_underscores_action: ALLOW"),
            "{text}"
        );
        assert_eq!(text.matches("enable_trailers: true").count(), 3, "{text}");
        assert!(enable_http1_trailers(&mut serde_norway::from_str("a: 1").unwrap()) == 0);
    }

    #[test]
    fn the_access_log_can_be_stripped() {
        let mut doc = checked_in();
        assert!(serde_norway::to_string(&doc)
            .unwrap()
            .contains("access_log"));
        assert_eq!(strip_access_log(&mut doc), 1);
        assert!(!serde_norway::to_string(&doc)
            .unwrap()
            .contains("access_log"));
    }

    #[test]
    fn hardening_is_in_the_file_and_can_be_stripped() {
        let mut doc = checked_in();
        let before = serde_norway::to_string(&doc).unwrap();
        for k in HARDENING {
            assert!(before.contains(&format!("{k}:")), "{k} not in envoy.yaml");
        }
        assert_eq!(strip_hardening(&mut doc), HARDENING.len());
        let after = serde_norway::to_string(&doc).unwrap();
        for k in HARDENING {
            assert!(!after.contains(k), "{k} left");
        }
    }

    #[test]
    fn missing_plugin_is_an_error() {
        let mut doc: Value = serde_norway::from_str("a: {root_id: other}").unwrap();
        assert!(set_wasm_filename(&mut doc, Path::new("x")).is_err());
        assert!(plugin_config(&doc).is_err());
    }
}
