//! What an anonymous client's forged tokens can cost, on a real Envoy: the algorithms checked
//! inside the VM (PS*, EdDSA) are refused unless a provider lists them, without a callout and
//! before any key is looked at; a provider that lists them says what they cost when it loads; and
//! a token is tried against at most 2 keys, so a token without `kid` meeting 3 keys of its type
//! is refused before any check, while the same key named by its `kid` is accepted.

#![cfg(test)]

use mesh_authz_integration::client::Request;
use mesh_authz_integration::jwt::{forge, parts, Algorithm, Claims, Issuer, KeyKind};
use mesh_authz_integration::require_prerequisites;
use mesh_authz_integration::stack::{Stack, StackBuilder};
use mesh_authz_integration::wait::eventually;
use serde_json::{json, Value};
use std::time::Duration;

const ISS: &str = "https://id.example.com";
/// The issuer of the second provider, whose two keys are inline.
const ISS_TWO: &str = "https://two.example.com";
const INVALID: &str = "Bearer error=\"invalid_token\"";

fn claims() -> Claims {
    Claims::new().sub("jwt-user").exp_in(600)
}

/// A gate-mode provider of `ISS` whose keys the example auth service serves.
fn provider(extra: Value) -> Value {
    let mut p = json!({
        "name": "corp",
        "issuer": ISS,
        "jwks": {"cluster": "auth", "authority": "auth.local", "path": "/.well-known/jwks.json",
                 "refreshSeconds": 300, "timeoutMs": 1000},
    });
    for (k, v) in extra.as_object().into_iter().flatten() {
        p[k] = v.clone();
    }
    p
}

fn start(builder: StackBuilder, jwks: &str, providers: Value) -> Stack {
    builder
        .jwks(jwks)
        .config(|c| c["jwt"] = json!({"mode": "gate", "providers": providers}))
        .start()
        .unwrap()
}

fn debug_builder(p: &mesh_authz_integration::paths::Prerequisites) -> StackBuilder {
    let mut builder = Stack::builder(p).unwrap();
    builder.options.component_log_level = Some("wasm:debug".into());
    builder
}

/// 401 `invalid_token`, and the auth service never asked.
fn refused(s: &Stack, what: &str, token: &str) {
    let calls = s.auth.calls();
    let r = s.send(&Request::get("/orders").bearer(token)).unwrap();
    assert_eq!(r.status, 401, "{what}: {}", r.text());
    assert_eq!(
        r.header("www-authenticate").as_deref(),
        Some(INVALID),
        "{what}"
    );
    assert_eq!(s.auth.calls(), calls, "{what}: no callout");
}

fn allowed(s: &Stack, what: &str, token: &str) {
    let r = s.send(&Request::get("/orders").bearer(token)).unwrap();
    assert_eq!(r.status, 200, "{what}: {}", r.text());
}

/// The issuer's JWKS with no key pinned to one `alg` (the test issuer pins RS256 on its RSA key,
/// which would refuse PS256 before any check whatever `algorithms` says): many issuers leave
/// `alg` out, and then every algorithm of the key's type reaches the signature check.
fn unpinned(i: &Issuer) -> String {
    let mut doc: Value = serde_json::from_str(&i.jwks()).unwrap();
    for key in doc["keys"].as_array_mut().unwrap() {
        key.as_object_mut().unwrap().remove("alg");
    }
    doc.to_string()
}

/// One JWKS document holding the keys of both.
fn merged(a: &str, b: &str) -> String {
    let mut doc: Value = serde_json::from_str(a).unwrap();
    let more: Value = serde_json::from_str(b).unwrap();
    let keys = doc["keys"].as_array_mut().unwrap();
    keys.extend(more["keys"].as_array().unwrap().iter().cloned());
    doc.to_string()
}

/// `token` with its signature replaced by `signature`: a forgery costs the attacker nothing.
fn with_signature(token: &str, signature: &[u8]) -> String {
    let p = parts(token).unwrap();
    forge(&p.header, &p.payload, signature)
}

#[test]
fn algorithms_checked_in_the_vm_are_refused_unless_listed() {
    let p = require_prerequisites!();
    let mut i = Issuer::new(ISS);
    i.add_key(KeyKind::Rsa, "rsa-1").unwrap();
    i.add_key(KeyKind::Ed25519, "ed-1").unwrap();
    let rs256 = i.token(&claims().signed_by("rsa-1")).unwrap();
    let ps256 = i
        .token(&claims().signed_by("rsa-1").alg(Algorithm::PS256))
        .unwrap();
    let ps256_no_kid = i
        .token(&claims().signed_by("rsa-1").alg(Algorithm::PS256).no_kid())
        .unwrap();
    let eddsa = i.token(&claims().signed_by("ed-1")).unwrap();

    // The default: what Envoy's verify_signature checks. PS256 and EdDSA tokens, validly signed,
    // are refused like forged ones, before a key is looked at.
    let jwks = unpinned(&i);
    let s = start(debug_builder(&p), &jwks, json!([provider(json!({}))]));
    s.until_allowed(&rs256).unwrap();
    s.auth.reset();
    refused(&s, "PS256, not listed", &ps256);
    refused(&s, "PS256 without kid, not listed", &ps256_no_kid);
    refused(&s, "EdDSA, not listed", &eddsa);
    allowed(&s, "RS256", &rs256);
    eventually("the debug log", Duration::from_secs(5), || {
        s.envoy
            .log_text()
            .contains("token refused: alg not accepted")
    })
    .unwrap();
    let log = s.envoy.log_text();
    assert!(
        !log.contains("checked inside the Wasm VM"),
        "no cost warning for the default"
    );
    assert!(
        !log.contains("no key of the issuer fits the alg"),
        "refused for the alg, not for the key"
    );
    drop(s);

    // Listed: accepted, a forged one refused, and the cost named at load.
    let listed = provider(json!({"algorithms": ["RS256", "PS256", "EdDSA"]}));
    let s = start(debug_builder(&p), &jwks, json!([listed]));
    s.until_allowed(&rs256).unwrap();
    allowed(&s, "PS256, listed", &ps256);
    allowed(&s, "PS256 without kid, listed", &ps256_no_kid);
    allowed(&s, "EdDSA, listed", &eddsa);
    let forged = with_signature(&ps256_no_kid, &[0x3f; 256]);
    refused(&s, "forged PS256 without kid", &forged);
    // The warning at load names the algorithms and their cost.
    eventually("the cost warning", Duration::from_secs(5), || {
        s.envoy.log_text().contains(
            "jwt.providers[0].algorithms: PS256, EdDSA signatures are checked inside the Wasm VM",
        )
    })
    .unwrap();
}

#[test]
fn a_token_is_tried_against_at_most_two_keys_of_its_type() {
    let p = require_prerequisites!();
    // Three P-256 keys served for `ISS`; two more, inline, for `ISS_TWO`.
    let mut three = Issuer::new(ISS);
    let mut two = Issuer::new(ISS_TWO);
    for kid in ["ec-1", "ec-2", "ec-3"] {
        three.add_key(KeyKind::P256, kid).unwrap();
    }
    for kid in ["two-1", "two-2"] {
        two.add_key(KeyKind::P256, kid).unwrap();
    }
    let inline = provider(json!({"name": "two", "issuer": ISS_TWO,
        "jwks": {"inline": two.jwks()}}));
    // The example auth service verifies every JWT it is shown against the keys it serves: it
    // serves both issuers' keys (the filter's remote provider for `ISS` meets `ISS_TWO`'s two as
    // well: five P-256 keys, still more than 2 for a token without kid).
    let served = merged(&three.jwks(), &two.jwks());
    let s = start(
        debug_builder(&p),
        &served,
        json!([provider(json!({})), inline]),
    );
    let first_with_kid = three.token(&claims().signed_by("ec-1")).unwrap();
    s.until_allowed(&first_with_kid).unwrap();
    s.auth.reset();

    let no_kid = |i: &Issuer, kid: &str| i.token(&claims().signed_by(kid).no_kid()).unwrap();
    // Three keys fit ES256: without a kid, none is tried, whichever signed.
    refused(
        &s,
        "3 keys, no kid, the 3rd signed",
        &no_kid(&three, "ec-3"),
    );
    refused(
        &s,
        "3 keys, no kid, the 1st signed",
        &no_kid(&three, "ec-1"),
    );
    let forged = with_signature(&no_kid(&three, "ec-1"), &[7; 64]);
    refused(&s, "3 keys, no kid, forged", &forged);
    // Named by its kid, the same key is the one tried, and it verifies.
    let third_with_kid = three.token(&claims().signed_by("ec-3")).unwrap();
    allowed(&s, "3 keys, the 3rd's kid", &third_with_kid);
    let forged_kid = with_signature(&third_with_kid, &[7; 64]);
    refused(&s, "3 keys, the 3rd's kid, forged", &forged_kid);
    // Two keys of a type: a token without kid is tried against both.
    allowed(&s, "2 keys, no kid, the 2nd signed", &no_kid(&two, "two-2"));
    allowed(&s, "2 keys, no kid, the 1st signed", &no_kid(&two, "two-1"));
    assert_eq!(
        s.auth.calls(),
        3,
        "only the allowed tokens reach the auth service"
    );

    // The refusals were the bound's, not a failed signature, and the forged token with a kid was
    // checked against its key: the debug log says which (the file is flushed asynchronously).
    eventually("the debug log", Duration::from_secs(5), || {
        let log = s.envoy.log_text();
        log.contains("token refused: no kid, and more than 2 of the issuer's keys fit the alg")
            && log.contains("token refused: signature does not verify")
    })
    .unwrap();
}
