//! A configuration error never echoes a configured value: a secret put where it does not belong
//! (the wrong type in `addHeaders`, an `onError.mode` that is not a mode) stops Envoy with a line
//! that names the field, the expected type and the position, and nowhere in Envoy's log is the
//! secret. A header the filter sets itself on the callout cannot be configured.

#![cfg(test)]

use mesh_authz_integration::envoy::{self, EnvoyOptions};
use mesh_authz_integration::require_prerequisites;
use serde_json::{json, Value};

const SECRET: &str = "s3cret-Zq9";
const SECRET_NUMBER: u64 = 987_654_321_123;

fn base() -> Value {
    envoy::plugin_config_of(&mesh_authz_integration::paths::default_envoy_yaml()).unwrap()
}

/// Starts Envoy with `config`, expects it refused; returns the mesh-authz line and the whole log.
fn refused(
    p: &mesh_authz_integration::paths::Prerequisites,
    what: &str,
    config: &Value,
) -> (String, String) {
    let mut opts = EnvoyOptions::new(&p.envoy, &p.wasm);
    opts.plugin_config = Some(config.to_string());
    envoy::refusal(&opts).unwrap_or_else(|e| panic!("{what}: {e}"))
}

#[test]
fn a_misplaced_secret_is_never_echoed() {
    let p = require_prerequisites!();
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "addHeaders as a string",
            json!(SECRET),
            "authService.addHeaders: invalid type: expected a map, found string at line 1 column",
        ),
        (
            "a number as a header value",
            json!({"x-api-key": SECRET_NUMBER}),
            "authService.addHeaders.x-api-key: invalid type: expected a string, found integer at line 1 column",
        ),
        (
            "a list as a header value",
            json!({"x-api-key": [SECRET]}),
            "authService.addHeaders.x-api-key: invalid type: expected a string, found sequence",
        ),
    ];
    for (what, add_headers, want) in cases {
        let mut c = base();
        c["authService"]["addHeaders"] = add_headers;
        let (line, log) = refused(&p, what, &c);
        assert!(line.contains(want), "{what}: {line}");
        for secret in [SECRET.to_string(), SECRET_NUMBER.to_string()] {
            assert!(
                !log.contains(&secret),
                "{what}: the secret is in Envoy's log:\n{log}"
            );
        }
    }
    let mut c = base();
    c["onError"]["mode"] = json!(SECRET);
    let (line, log) = refused(&p, "a secret as onError.mode", &c);
    assert!(
        line.contains("onError.mode: unknown variant: expected `deny` or `allow` at line 1"),
        "{line}"
    );
    assert!(
        !log.contains(SECRET),
        "the secret is in Envoy's log:\n{log}"
    );
}

#[test]
fn a_header_the_filter_sets_on_the_callout_is_refused() {
    let p = require_prerequisites!();
    let mut c = base();
    c["authService"]["addHeaders"]["X-Forwarded-Host"] = json!("spoofed.example");
    let (line, _) = refused(&p, "x-forwarded-host in addHeaders", &c);
    assert!(
        line.contains("authService.addHeaders.X-Forwarded-Host: 'X-Forwarded-Host' cannot be set from configuration: mesh-authz sets it on the callout"),
        "{line}"
    );
    let mut c = base();
    c["authService"]["forwardHeaders"] = json!(["authorization", "x-forwarded-host"]);
    let (line, _) = refused(&p, "x-forwarded-host in forwardHeaders", &c);
    assert!(
        line.contains("authService.forwardHeaders[1]: 'x-forwarded-host' cannot be set"),
        "{line}"
    );
}
