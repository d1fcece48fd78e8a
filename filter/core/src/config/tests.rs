use super::*;

const FULL: &str = r#"{
  "authService": {
    "cluster": "outbound|8080||auth.auth-system.svc.cluster.local",
    "authority": "auth.auth-system.svc.cluster.local",
    "pathPrefix": "/check",
    "includeRequestPath": true,
    "timeoutMs": 200,
    "forwardHeaders": ["authorization", "cookie"],
    "traceHeaders": ["x-request-id", "traceparent", "tracestate", "x-b3-traceid", "x-b3-spanid", "x-b3-sampled"],
    "addHeaders": {"x-auth-source": "mesh-authz"}
  },
  "identityHeaders": ["x-user-id", "x-user-roles", "x-tenant-id"],
  "denyHeaders": ["www-authenticate", "location", "set-cookie", "content-type"],
  "cache": {"enabled": true, "maxEntries": 10000, "allowTtlSeconds": 60, "denyTtlSeconds": 5, "maxTtlSeconds": 300},
  "onError": {"mode": "deny", "status": 503},
  "bypass": [{"pathPrefix": "/healthz"}, {"corsPreflight": true}]
}"#;

fn reject(text: &str) -> ConfigError {
    Config::parse(text.as_bytes()).expect_err("config should be rejected")
}

#[test]
fn the_documented_example_loads() {
    let c = Config::parse(FULL.as_bytes()).unwrap();
    assert_eq!(
        c.auth.as_ref().unwrap().cluster,
        "outbound|8080||auth.auth-system.svc.cluster.local"
    );
    assert_eq!(c.auth.as_ref().unwrap().timeout_ms, 200);
    assert_eq!(
        c.identity_headers,
        ["x-user-id", "x-user-roles", "x-tenant-id"]
    );
    assert_eq!(
        c.auth.as_ref().unwrap().add_headers,
        [("x-auth-source".to_string(), "mesh-authz".to_string())]
    );
    assert_eq!(c.cache.map(|p| p.max_entries), Some(10_000));
    assert_eq!(
        c.on_error,
        OnError::uniform(ErrorPolicy::Deny { status: 503 })
    );
    assert_eq!(c.bypass.len(), 2);
    assert!(c.warnings().is_empty());
}

#[test]
fn a_rule_bypassing_every_options_loads_with_a_warning() {
    let c = Config::parse(
        br#"{"authService": {"cluster": "c", "authority": "a"},
             "bypass": [{"pathPrefix": "/healthz"}, {"method": "OPTIONS"}, {"method": "options", "pathPrefix": "/api"}]}"#,
    )
    .unwrap();
    let w = c.warnings();
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(w[0].starts_with("bypass[1]: ") && w[0].contains("corsPreflight"));
    assert!(w[1].starts_with("bypass[2]: "));
}

#[test]
fn a_minimal_config_takes_defaults() {
    let c =
        Config::parse(br#"{"authService": {"cluster": "outbound|80||auth.ns.svc.cluster.local"}}"#)
            .unwrap();
    assert_eq!(
        c.auth.as_ref().unwrap().authority,
        "auth.ns.svc.cluster.local",
        "authority derived from the Istio cluster name"
    );
    assert_eq!(c.auth.as_ref().unwrap().path_prefix, "");
    assert!(c.auth.as_ref().unwrap().include_request_path);
    assert_eq!(
        c.auth.as_ref().unwrap().forward_headers,
        ["authorization", "cookie"]
    );
    assert!(c
        .auth
        .as_ref()
        .unwrap()
        .trace_headers
        .contains(&"traceparent".to_string()));
    assert_eq!(
        c.deny_headers,
        ["www-authenticate", "location", "set-cookie", "content-type"]
    );
    assert_eq!(
        c.cache,
        Some(CachePolicy {
            max_entries: 10_000,
            allow_ttl_secs: 60,
            deny_ttl_secs: 5,
            max_ttl_secs: 300,
            max_bytes: 32 << 20,
            shared_slots: 10_000,
            stale_ms: 0,
        })
    );
    assert_eq!(
        c.on_error,
        OnError::uniform(ErrorPolicy::Deny { status: 503 })
    );
    assert_eq!(c.mode, Mode::Enforce);
}

#[test]
fn a_different_text_is_a_different_generation() {
    let a = Config::parse(br#"{"authService": {"cluster": "c", "authority": "a"}}"#).unwrap();
    let b = Config::parse(br#"{"authService": {"cluster": "c", "authority": "b"}}"#).unwrap();
    let a2 = Config::parse(br#"{"authService": {"cluster": "c", "authority": "a"}}"#).unwrap();
    assert_ne!(a.generation, b.generation);
    assert_eq!(a.generation, a2.generation);
}

#[test]
fn bad_configs_name_the_field_and_the_reason() {
    let cases: &[(&str, &str, &str)] = &[
        ("", "(config)", "no configuration"),
        ("{", "(config)", "EOF"),
        (
            r#"{"authService": {"cluster": "c", "authority": "a"}, "cache": {"maxEntries": "many"}}"#,
            "cache.maxEntries",
            "invalid type",
        ),
        (
            r#"{"authService": {"cluster": "c", "authority": "a", "timeout": 5}}"#,
            "authService.timeout",
            "unknown field `timeout`",
        ),
        (
            r#"{"authService": {"cluster": "c", "authority": "a"}, "extra": 1}"#,
            "extra",
            "unknown field `extra`",
        ),
        (r#"{"identityHeaders": []}"#, "authService", "is missing"),
        (
            r#"{"authService": {"cluster": " "}}"#,
            "authService.cluster",
            "is empty",
        ),
        (
            r#"{"authService": {"cluster": "auth"}}"#,
            "authService.authority",
            "is required",
        ),
        (
            r#"{"authService": {"cluster": "c", "authority": "a", "timeoutMs": 0}}"#,
            "authService.timeoutMs",
            "1 to",
        ),
        (
            r#"{"authService": {"cluster": "c", "authority": "a", "timeoutMs": -5}}"#,
            "authService.timeoutMs",
            "invalid value",
        ),
        (
            r#"{"authService": {"cluster": "c", "authority": "a", "pathPrefix": "check"}}"#,
            "authService.pathPrefix",
            "start with '/'",
        ),
        (
            r#"{"authService": {"cluster": "c", "authority": "a", "pathPrefix": "/check/"}}"#,
            "authService.pathPrefix",
            "must not end",
        ),
        (
            r#"{"authService": {"cluster": "c", "authority": "a", "forwardHeaders": ["x y"]}}"#,
            "authService.forwardHeaders[0]",
            "not a valid header name",
        ),
        (
            r#"{"authService": {"cluster": "c", "authority": "a", "addHeaders": {"x-a": "b\nc"}}}"#,
            "authService.addHeaders.x-a",
            "visible ASCII",
        ),
        (
            r#"{"authService": {"cluster": "c", "authority": "a"}, "cache": {"maxEntries": 0}}"#,
            "cache.maxEntries",
            "1 to",
        ),
        (
            r#"{"authService": {"cluster": "c", "authority": "a"}, "cache": {"maxBytes": 65535}}"#,
            "cache.maxBytes",
            "65536 (64 KiB) to 1073741824 (1 GiB)",
        ),
        (
            r#"{"authService": {"cluster": "c", "authority": "a"}, "cache": {"maxBytes": 1073741825}}"#,
            "cache.maxBytes",
            "to 1073741824",
        ),
        (
            r#"{"authService": {"cluster": "c", "authority": "a"}, "cache": {"maxBytes": -1}}"#,
            "cache.maxBytes",
            "",
        ),
        (
            r#"{"authService": {"cluster": "c", "authority": "a"}, "cache": {"allowTtlSeconds": 600}}"#,
            "cache.allowTtlSeconds",
            "above cache.maxTtlSeconds",
        ),
        (
            r#"{"authService": {"cluster": "c", "authority": "a"}, "onError": {"mode": "deny", "status": 200}}"#,
            "onError.status",
            "not an error status",
        ),
        (
            r#"{"authService": {"cluster": "c", "authority": "a"}, "onError": {"mode": "maybe"}}"#,
            "onError.mode",
            "unknown variant",
        ),
        (
            r#"{"authService": {"cluster": "c", "authority": "a"}, "bypass": [{}]}"#,
            "bypass[0]",
            "pathPrefix, method or corsPreflight",
        ),
        (
            r#"{"authService": {"cluster": "c", "authority": "a"}, "bypass": [{"corsPreflight": false}]}"#,
            "bypass[0]",
            "pathPrefix, method or corsPreflight",
        ),
        (
            r#"{"authService": {"cluster": "c", "authority": "a"}, "bypass": [{"method": "OPTIONS", "corsPreflight": true}]}"#,
            "bypass[0].method",
            "cannot be combined with corsPreflight",
        ),
        (
            r#"{"authService": {"cluster": "c", "authority": "a"}, "bypass": [{"pathPrefix": "/healthz/.."}]}"#,
            "bypass[0].pathPrefix",
            "'..' segment",
        ),
        (
            r#"{"authService": {"cluster": "c", "authority": "a", "pathPrefix": "/check/.."}}"#,
            "authService.pathPrefix",
            "'..' segment",
        ),
        (
            r#"{"authService": {"cluster": "c", "authority": "a"}, "bypass": [{"pathPrefix": "healthz"}]}"#,
            "bypass[0].pathPrefix",
            "start with '/'",
        ),
        (
            r#"{"authService": {"cluster": "c", "authority": "a"}, "maxDenyBodyBytes": 99999999}"#,
            "maxDenyBodyBytes",
            "at most",
        ),
    ];
    for (text, field, reason) in cases {
        let err = reject(text);
        assert_eq!(&err.field, field, "{text}: {err}");
        assert!(err.reason.contains(reason), "{text}: {err}");
    }
}

#[test]
fn json_errors_carry_line_and_column() {
    let err = reject("{\n  \"authService\": {\"cluster\": 5}\n}");
    assert_eq!(err.field, "authService.cluster");
    assert!(err.reason.contains("line 2"), "{err}");
}

#[test]
fn an_error_never_echoes_header_values() {
    // addHeaders may carry a shared secret; its value must not appear in the message.
    let err = reject(
        r#"{"authService": {"cluster": "c", "authority": "a", "addHeaders": {"x-key": " s3cret"}}}"#,
    );
    assert!(!err.to_string().contains("s3cret"), "{err}");
}
