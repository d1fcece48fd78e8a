//! Fuzzing the plugin configuration parser: whatever bytes an operator (or a broken pipeline) hands
//! Envoy, `Config::parse` accepts or names a field and a reason, never panics; and a value planted
//! where it does not belong never comes back in the error, since the error is logged and such a
//! value is often a secret (an API key in `addHeaders`).

#![cfg(test)]

use mesh_authz_core::Config;
use proptest::collection::vec;
use proptest::prelude::*;

const VALID: &str = r#"{"authService": {"cluster": "auth", "authority": "auth.local", "pathPrefix": "/check",
  "addHeaders": {"x-auth-source": "mesh-authz"}}, "identityHeaders": ["x-user-id"],
  "cache": {"maxEntries": 100}, "onError": {"mode": "deny"}, "bypass": [{"pathPrefix": "/healthz"}]}"#;

/// JSON pointers of the valid document and the places a planted value can go.
const SPOTS: &[&str] = &[
    "/authService/addHeaders",
    "/authService/addHeaders/x-api-key",
    "/authService/timeoutMs",
    "/authService/includeRequestPath",
    "/authService/forwardHeaders",
    "/identityHeaders",
    "/identityHeaders/0",
    "/denyHeaders",
    "/maxDenyBodyBytes",
    "/cache",
    "/cache/enabled",
    "/cache/maxEntries",
    "/cache/maxBytes",
    "/onError",
    "/onError/mode",
    "/onError/status",
    "/bypass",
    "/bypass/0",
    "/bypass/0/method",
];

/// Fields whose values are numbers; their errors may quote the number.
const NUMERIC: &[&str] = &[
    "/authService/timeoutMs",
    "/maxDenyBodyBytes",
    "/cache/maxEntries",
    "/cache/maxBytes",
    "/onError/status",
];

fn plant(doc: &mut serde_json::Value, pointer: &str, value: serde_json::Value) {
    let (parent, last) = pointer.rsplit_once('/').unwrap_or(("", pointer));
    match doc.pointer_mut(parent) {
        Some(serde_json::Value::Object(m)) => {
            m.insert(last.to_string(), value);
        }
        Some(serde_json::Value::Array(a)) => {
            if let Some(slot) = last.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                *slot = value;
            }
        }
        _ => {}
    }
}

/// A secret as an operator would write one: a string, a number, or either inside a list or map.
fn planted(secret: &str, shape: u8) -> serde_json::Value {
    let s = serde_json::Value::String(secret.to_string());
    match shape % 5 {
        0 => s,
        1 => serde_json::json!([s]),
        2 => serde_json::json!({ "k": s }),
        3 => serde_json::json!(true),
        _ => secret
            .bytes()
            .filter(u8::is_ascii_digit)
            .fold(7_u64, |n, d| {
                n.wrapping_mul(10).wrapping_add(u64::from(d - b'0'))
            })
            .into(),
    }
}

proptest! {
    #[test]
    fn any_bytes_are_accepted_or_named(bytes in vec(any::<u8>(), 0..400)) {
        if let Err(e) = Config::parse(&bytes) {
            prop_assert!(!e.field.is_empty() && !e.reason.is_empty(), "{e}");
        }
    }

    #[test]
    fn a_planted_value_is_never_echoed(
        secret in "S3cr3t[A-Za-z0-9]{8,24}",
        spot in prop::sample::select(SPOTS),
        shape in any::<u8>(),
    ) {
        let mut doc: serde_json::Value = serde_json::from_str(VALID).unwrap();
        let value = planted(&secret, shape);
        let number = value.as_u64().map(|n| n.to_string());
        plant(&mut doc, spot, value);
        let text = serde_json::to_string_pretty(&doc).unwrap();
        if let Err(e) = Config::parse(text.as_bytes()) {
            let shown = e.to_string();
            prop_assert!(!shown.contains(&secret), "{spot}: {shown}");
            // A number in a numeric field is a limit, not a secret: saying it helps the operator.
            if let Some(n) = number.filter(|n| n.len() > 3 && !NUMERIC.contains(&spot)) {
                prop_assert!(!shown.contains(&n), "{spot}: {shown}");
            }
        }
    }

    /// Any structure of objects, lists and scalars: accepted or named, never a panic.
    #[test]
    fn any_json_is_accepted_or_named(doc in json(3)) {
        let text = doc.to_string();
        let _ = Config::parse(text.as_bytes());
    }
}

fn json(depth: u32) -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "[ -~]{0,12}".prop_map(serde_json::Value::from),
    ];
    let keys = prop::sample::select(vec![
        "authService",
        "cluster",
        "authority",
        "pathPrefix",
        "timeoutMs",
        "addHeaders",
        "forwardHeaders",
        "identityHeaders",
        "cache",
        "maxEntries",
        "maxBytes",
        "onError",
        "mode",
        "status",
        "bypass",
        "method",
        "corsPreflight",
        "x",
    ]);
    leaf.prop_recursive(depth, 48, 6, move |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            vec((keys.clone(), inner), 0..5).prop_map(|kv| {
                serde_json::Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}
