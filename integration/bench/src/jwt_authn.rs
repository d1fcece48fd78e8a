//! The jwt_authn variants' bootstrap: `integration/envoy/jwt-authn.yaml` with the run's keys in
//! place of the JWKS it fetches (`local_jwks` inline, as mesh-authz gets `jwks.inline`) and, for
//! the cached variant, `jwt_cache_config`. Done on the parsed YAML, like the harness's overrides;
//! the result is a file the harness then starts as any other bootstrap.

use crate::jwt_variant::JWT_AUTHN_CACHE_SIZE;
use serde_norway::{Mapping, Value};
use std::path::Path;

fn key(k: &str) -> Value {
    Value::String(k.to_string())
}

/// Every jwt_authn provider (a mapping with `issuer` and `remote_jwks`).
fn providers(v: &mut Value, f: &mut dyn FnMut(&mut Mapping)) {
    match v {
        Value::Mapping(m) => {
            if m.contains_key(key("issuer")) && m.contains_key(key("remote_jwks")) {
                f(m);
            }
            for (_, child) in m.iter_mut() {
                providers(child, f);
            }
        }
        Value::Sequence(s) => s.iter_mut().for_each(|c| providers(c, f)),
        Value::Tagged(t) => providers(&mut t.value, f),
        _ => {}
    }
}

/// The template's text with `jwks` inline in every provider (and their token cache when
/// `cached`).
pub fn render(template: &str, jwks: &str, cached: bool) -> Result<String, String> {
    let mut doc: Value = serde_norway::from_str(template).map_err(|e| e.to_string())?;
    let mut n = 0;
    providers(&mut doc, &mut |p| {
        p.remove(key("remote_jwks"));
        let mut local = Mapping::new();
        local.insert(key("inline_string"), key(jwks));
        p.insert(key("local_jwks"), Value::Mapping(local));
        if cached {
            let mut cache = Mapping::new();
            cache.insert(key("jwt_cache_size"), JWT_AUTHN_CACHE_SIZE.into());
            p.insert(key("jwt_cache_config"), Value::Mapping(cache));
        }
        n += 1;
    });
    if n == 0 {
        return Err("no jwt_authn provider with remote_jwks to give the keys to".into());
    }
    serde_norway::to_string(&doc).map_err(|e| e.to_string())
}

/// Writes the rendered bootstrap to `out`.
pub fn write(template: &Path, jwks: &str, cached: bool, out: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(template)
        .map_err(|e| format!("reading {}: {e}", template.display()))?;
    let rendered =
        render(&text, jwks, cached).map_err(|e| format!("{}: {e}", template.display()))?;
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    std::fs::write(out, rendered).map_err(|e| format!("writing {}: {e}", out.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checked_in_template_gets_the_keys_inline() {
        let template =
            mesh_authz_integration::paths::repo_root().join("integration/envoy/jwt-authn.yaml");
        let text = std::fs::read_to_string(template).unwrap();
        let jwks = r#"{"keys":[{"kid":"k"}]}"#;
        for cached in [false, true] {
            let out = render(&text, jwks, cached).unwrap();
            let doc: Value = serde_norway::from_str(&out).unwrap();
            let mut seen = 0;
            let mut check = |v: &Value| {
                if let Some(p) = v.get("providers").and_then(|p| p.get("example")) {
                    seen += 1;
                    assert!(p.get("remote_jwks").is_none());
                    assert_eq!(p["local_jwks"]["inline_string"].as_str(), Some(jwks));
                    assert_eq!(
                        p.get("jwt_cache_config")
                            .map(|c| c["jwt_cache_size"].as_u64()),
                        cached.then_some(Some(u64::from(JWT_AUTHN_CACHE_SIZE)))
                    );
                }
            };
            let filters = &doc["static_resources"]["listeners"][0]["filter_chains"][0]["filters"]
                [0]["typed_config"]["http_filters"];
            for f in filters.as_sequence().unwrap() {
                check(&f["typed_config"]);
            }
            assert_eq!(seen, 1);
        }
        assert!(render("a: 1", jwks, false).is_err());
    }
}
