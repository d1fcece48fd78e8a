use super::*;
use crate::jwt::testing::{ec, ed, jwks, jwt_config};
use crate::Config;
use serde_json::{json, Value};

/// The issue's documented example, with the identity headers it names.
const EXAMPLE: &str = r#"{
  "authService": {"cluster": "outbound|8080||auth.svc", "authority": "auth"},
  "identityHeaders": ["x-user-id", "x-user-roles", "x-tenant-id"],
  "jwt": {
    "mode": "authenticate",
    "providers": [{
      "name": "corp",
      "issuer": "https://id.example.com",
      "audiences": ["orders-api"],
      "jwks": {"cluster": "outbound|443||id.example.com", "authority": "id.example.com",
               "path": "/.well-known/jwks.json", "refreshSeconds": 300, "timeoutMs": 2000},
      "algorithms": ["RS256", "ES256", "EdDSA"],
      "from": [{"header": "authorization", "prefix": "Bearer "}, {"cookie": "id_token"}, {"query": "access_token"}],
      "claimHeaders": {"sub": "x-user-id", "roles": "x-user-roles", "org.tenant": "x-tenant-id"},
      "forwardToken": true,
      "clockSkewSeconds": 60
    }]
  }
}"#;

#[test]
fn the_documented_example_loads() {
    let c = Config::parse(EXAMPLE.as_bytes()).unwrap().jwt.unwrap();
    assert_eq!(c.mode, Mode::Authenticate);
    let p = &c.providers[0];
    assert_eq!(p.algorithms, [Alg::Rs256, Alg::Es256, Alg::EdDsa]);
    assert_eq!(p.from, [0, 1, 2]);
    assert_eq!(c.sources[1], Source::Cookie("id_token".into()));
    let headers: Vec<(&str, u8)> = p
        .claim_headers
        .iter()
        .map(|c| (c.claim.as_str(), c.header))
        .collect();
    assert_eq!(headers, [("sub", 0), ("roles", 1), ("org.tenant", 2)]);
    assert!(matches!(&p.jwks, Jwks::Remote(r) if r.authority == "id.example.com"));
}

#[test]
fn defaults() {
    let c = jwt_config(
        &json!({"mode": "gate", "providers": [{"name": "p", "issuer": "i",
        "jwks": {"cluster": "outbound|443||id.example.com", "path": "/jwks"}}]}),
    );
    assert!(!c.require_token);
    let p = &c.providers[0];
    assert_eq!(
        p.algorithms,
        [Alg::Rs256, Alg::Rs384, Alg::Rs512, Alg::Es256, Alg::Es384]
    );
    assert!(c.warnings().is_empty());
    assert_eq!(
        c.sources,
        [Source::Header {
            name: "authorization".into(),
            prefix: "Bearer ".into()
        }]
    );
    assert!(p.forward_token && p.audiences.is_none() && p.claim_headers.is_empty());
    assert_eq!(p.clock_skew_secs, 60);
    let Jwks::Remote(r) = &p.jwks else {
        panic!("remote")
    };
    assert_eq!(
        (r.authority.as_str(), r.refresh_secs, r.timeout_ms),
        ("id.example.com", 300, 2000)
    );
}

#[test]
fn providers_share_places() {
    let remote = json!({"cluster": "outbound|443||a.example.com", "path": "/jwks"});
    let c = jwt_config(&json!({"mode": "gate", "providers": [
        {"name": "a", "issuer": "a", "jwks": remote, "from": [{"cookie": "t"}, {"header": "authorization", "prefix": "Bearer "}]},
        {"name": "b", "issuer": "b", "jwks": remote},
    ]}));
    assert_eq!(c.sources.len(), 2);
    assert_eq!(
        (c.providers[0].from.clone(), c.providers[1].from.clone()),
        (vec![0, 1], vec![1])
    );
}

/// `patch` merged into a valid one-provider gate config (`provider.x` members into the provider).
fn with(patch: Value) -> String {
    let mut jwt = json!({"mode": "gate", "providers": [{"name": "p", "issuer": "i",
        "jwks": {"cluster": "outbound|443||id.example.com", "path": "/jwks"}}]});
    for (k, v) in patch.as_object().unwrap() {
        match k.strip_prefix("provider.") {
            Some(field) => {
                jwt["providers"][0][field] = v.clone();
            }
            None => jwt[k] = v.clone(),
        }
    }
    json!({
        "authService": {"cluster": "c", "authority": "a"},
        "identityHeaders": ["x-user-id", "x_tenant_id"],
        "jwt": jwt,
    })
    .to_string()
}

#[test]
fn load_time_rules() {
    let remote = |extra: Value| {
        let mut r = json!({"cluster": "outbound|443||id.example.com", "path": "/jwks"});
        for (k, v) in extra.as_object().unwrap() {
            r[k] = v.clone();
        }
        r
    };
    let secret = "s3cret";
    let p0 = "jwt.providers[0]";
    let cases: Vec<(Value, String, &str)> = vec![
        (
            json!({"mode": "both"}),
            "jwt.mode".into(),
            "unknown variant",
        ),
        (
            json!({"extra": 1}),
            "jwt.extra".into(),
            "unknown field `extra`",
        ),
        (
            json!({"provider.extra": 1}),
            format!("{p0}.extra"),
            "unknown field `extra`",
        ),
        (json!({"providers": []}), "jwt.providers".into(), "is empty"),
        (
            json!({"mode": "authenticate", "requireToken": false}),
            "jwt.requireToken".into(),
            "belongs to gate mode",
        ),
        (
            json!({"provider.claimHeaders": {"sub": "x-user-id"}}),
            format!("{p0}.claimHeaders"),
            "authenticate mode",
        ),
        (
            json!({"mode": "authenticate", "provider.claimHeaders": {"sub": "x-other"}}),
            format!("{p0}.claimHeaders.sub"),
            "no identityHeaders entry",
        ),
        (
            json!({"mode": "authenticate", "provider.claimHeaders": {"a": "x-user-id", "b": "X_User_Id"}}),
            format!("{p0}.claimHeaders.b"),
            "same identity header",
        ),
        (
            json!({"mode": "authenticate", "provider.claimHeaders": {"a..b": "x-user-id"}}),
            format!("{p0}.claimHeaders.a..b"),
            "empty part",
        ),
        (
            json!({"provider.issuer": ""}),
            format!("{p0}.issuer"),
            "is empty",
        ),
        (
            json!({"provider.name": " "}),
            format!("{p0}.name"),
            "is empty",
        ),
        (
            json!({"provider.audiences": []}),
            format!("{p0}.audiences"),
            "leave it out",
        ),
        (
            json!({"provider.audiences": ["a", "a"]}),
            format!("{p0}.audiences[1]"),
            "twice",
        ),
        (
            json!({"provider.algorithms": ["none"]}),
            format!("{p0}.algorithms[0]"),
            "never accepted",
        ),
        (
            json!({"provider.algorithms": ["RS256", "HS256"]}),
            format!("{p0}.algorithms[1]"),
            "shared secret",
        ),
        (
            json!({"provider.algorithms": [secret]}),
            format!("{p0}.algorithms[0]"),
            "not a supported",
        ),
        (
            json!({"provider.algorithms": ["RS256", "RS256"]}),
            format!("{p0}.algorithms[1]"),
            "twice",
        ),
        (
            json!({"provider.algorithms": []}),
            format!("{p0}.algorithms"),
            "is empty",
        ),
        (
            json!({"provider.from": []}),
            format!("{p0}.from"),
            "is empty",
        ),
        (
            json!({"provider.from": [{"header": "a", "cookie": "b"}]}),
            format!("{p0}.from[0]"),
            "exactly one",
        ),
        (
            json!({"provider.from": [{}]}),
            format!("{p0}.from[0]"),
            "exactly one",
        ),
        (
            json!({"provider.from": [{"cookie": "b", "prefix": "x"}]}),
            format!("{p0}.from[0].prefix"),
            "belongs to a header",
        ),
        (
            json!({"provider.from": [{"header": ":path"}]}),
            format!("{p0}.from[0].header"),
            "pseudo-header",
        ),
        (
            json!({"provider.from": [{"header": "x-tenant-id"}]}),
            format!("{p0}.from[0].header"),
            "identity header",
        ),
        (
            json!({"provider.from": [{"cookie": "a b"}]}),
            format!("{p0}.from[0].cookie"),
            "not a cookie name",
        ),
        (
            json!({"provider.from": [{"query": "a&b"}]}),
            format!("{p0}.from[0].query"),
            "plain query",
        ),
        (
            json!({"provider.from": [{"header": "x-t", "prefix": "a\u{7f}"}]}),
            format!("{p0}.from[0].prefix"),
            "printable",
        ),
        (
            json!({"provider.from": [{"cookie": "t"}, {"cookie": "t"}]}),
            format!("{p0}.from[1]"),
            "twice",
        ),
        (
            json!({"provider.from": [{"header": "x-t", "prefix": "A "}, {"header": "X-T", "prefix": "B "}]}),
            format!("{p0}.from[1]"),
            "one prefix",
        ),
        (
            json!({"provider.clockSkewSeconds": 601}),
            format!("{p0}.clockSkewSeconds"),
            "0 to 600",
        ),
        (
            json!({"provider.jwks": {"path": "/jwks"}}),
            format!("{p0}.jwks.cluster"),
            "is required",
        ),
        (
            json!({"provider.jwks": remote(json!({"cluster": "plain"}))}),
            format!("{p0}.jwks.authority"),
            "Istio name",
        ),
        (
            json!({"provider.jwks": remote(json!({"authority": "a b"}))}),
            format!("{p0}.jwks.authority"),
            "without spaces",
        ),
        (
            json!({"provider.jwks": remote(json!({"path": "jwks"}))}),
            format!("{p0}.jwks.path"),
            "starting with '/'",
        ),
        (
            json!({"provider.jwks": {"cluster": "outbound|443||id.example.com"}}),
            format!("{p0}.jwks.path"),
            "is required",
        ),
        (
            json!({"provider.jwks": remote(json!({"refreshSeconds": 9}))}),
            format!("{p0}.jwks.refreshSeconds"),
            "10 to 86400",
        ),
        (
            json!({"provider.jwks": remote(json!({"refreshSeconds": 86401}))}),
            format!("{p0}.jwks.refreshSeconds"),
            "10 to 86400",
        ),
        (
            json!({"provider.jwks": remote(json!({"timeoutMs": 0}))}),
            format!("{p0}.jwks.timeoutMs"),
            "1 to 60000",
        ),
        (
            json!({"provider.jwks": remote(json!({"timeoutMs": 60001}))}),
            format!("{p0}.jwks.timeoutMs"),
            "1 to 60000",
        ),
        (
            json!({"provider.jwks": remote(json!({"extra": 1}))}),
            format!("{p0}.jwks.extra"),
            "unknown field",
        ),
        (
            json!({"provider.jwks": {"inline": secret}}),
            format!("{p0}.jwks.inline"),
            "not a usable JWKS",
        ),
        (
            json!({"provider.jwks": {"inline": r#"{"keys": []}"#}}),
            format!("{p0}.jwks.inline"),
            "no key",
        ),
        (
            json!({"provider.jwks": {"inline": r#"{"keys": [{"kty": "oct", "k": "czNjcmV0"}]}"#}}),
            format!("{p0}.jwks.inline.keys[0]"),
            "symmetric",
        ),
        (
            json!({"provider.jwks": {"inline": jwks(&[ec(0)]), "path": "/x"}}),
            format!("{p0}.jwks.path"),
            "belongs to a remote",
        ),
        (
            json!({"provider.jwks": {"inline": jwks(&[ec(0)])}, "provider.algorithms": ["RS256"]}),
            format!("{p0}.jwks.inline"),
            "no key for any",
        ),
    ];
    for (patch, field, reason) in cases {
        let text = with(patch.clone());
        let err = Config::parse(text.as_bytes()).unwrap_err();
        assert_eq!(err.field, field, "{patch}: {err}");
        assert!(err.reason.contains(reason), "{patch}: {err}");
        assert!(!err.to_string().contains(secret), "{patch}: {err}");
    }
}

#[test]
fn an_inline_set_the_default_fits_no_key_of_keeps_loading_with_a_warning() {
    // Loaded before the default narrowed to what Envoy checks: an upgrade must not refuse it.
    let text = json!({
        "authService": {"cluster": "c", "authority": "a"},
        "jwt": {"mode": "gate", "providers": [{"name": "p", "issuer": "i",
                "jwks": {"inline": jwks(&[ed()])}}]},
    });
    let config = Config::parse(text.to_string().as_bytes()).unwrap();
    let jwt = config.jwt.as_ref().unwrap();
    assert_eq!(jwt.providers[0].algorithms, [Alg::EdDsa]);
    assert!(
        config.warnings().iter().any(|w| w.contains("EdDSA")),
        "{:?}",
        config.warnings()
    );
    // Listed, the list is what holds.
    let mut listed = text.clone();
    listed["jwt"]["providers"][0]["algorithms"] = json!(["RS256"]);
    assert!(Config::parse(listed.to_string().as_bytes()).is_err());
}

#[test]
fn two_providers_need_two_names_and_two_issuers() {
    let remote = json!({"cluster": "outbound|443||id.example.com", "path": "/jwks"});
    for (second, field) in [
        (
            json!({"name": "p", "issuer": "j", "jwks": remote}),
            "jwt.providers[1].name",
        ),
        (
            json!({"name": "q", "issuer": "i", "jwks": remote}),
            "jwt.providers[1].issuer",
        ),
    ] {
        let text = json!({"authService": {"cluster": "c", "authority": "a"}, "jwt": {"mode": "gate",
            "providers": [{"name": "p", "issuer": "i", "jwks": remote}, second]}});
        let err = Config::parse(text.to_string().as_bytes()).unwrap_err();
        assert_eq!(err.field, field, "{err}");
    }
}

#[test]
fn gate_mode_needs_an_auth_service() {
    let raw: crate::jwt::raw::RawJwt =
        serde_json::from_value(json!({"mode": "gate", "providers": [{"name": "p",
        "issuer": "i", "jwks": {"cluster": "outbound|443||id.example.com", "path": "/jwks"}}]}))
        .unwrap();
    let err = validate(raw, &[], false).unwrap_err();
    assert_eq!(err.field, "jwt.mode");
    let raw: crate::jwt::raw::RawJwt =
        serde_json::from_value(json!({"mode": "authenticate", "providers": [{"name": "p",
        "issuer": "i", "jwks": {"cluster": "outbound|443||id.example.com", "path": "/jwks"}}]}))
        .unwrap();
    assert!(validate(raw, &[], false).is_ok());
}

/// Algorithms checked in the VM load, with a warning that names them and their cost; so does an
/// inline set where a token without `kid` would meet more keys than it is tried against.
#[test]
fn costly_choices_load_with_a_warning() {
    let provider = |extra: Value| {
        let mut p = json!({"name": "p", "issuer": "i",
            "jwks": {"cluster": "outbound|443||id.example.com", "path": "/jwks"}});
        for (k, v) in extra.as_object().into_iter().flatten() {
            p[k] = v.clone();
        }
        json!({"mode": "gate", "providers": [p]})
    };
    let three_ec = jwks(&[ec(0), ec(1), ec(2)]);
    let two_ec = jwks(&[ec(0), ec(1)]);
    let cases: Vec<(Value, &[&str])> = vec![
        (json!({}), &[]),
        (json!({"algorithms": ["RS256", "ES384"]}), &[]),
        (
            json!({"algorithms": ["RS256", "PS256", "EdDSA"]}),
            &["jwt.providers[0].algorithms: PS256, EdDSA ", "inside the Wasm VM", "1 ms"],
        ),
        (json!({"algorithms": ["PS512"]}), &["algorithms: PS512 "]),
        (json!({"jwks": {"inline": two_ec}}), &[]),
        (
            json!({"jwks": {"inline": three_ec}}),
            &["jwt.providers[0].jwks.inline: more than 2 keys fit ES256: a token without kid is refused"],
        ),
    ];
    for (extra, want) in cases {
        let w = jwt_config(&provider(extra.clone())).warnings();
        assert_eq!(w.len(), usize::from(!want.is_empty()), "{extra}: {w:?}");
        for part in want {
            assert!(w[0].contains(part), "{extra}: {w:?}");
        }
    }
    // And the configuration's own warnings, which the adapter logs at load, carry them.
    let text = json!({"authService": {"cluster": "c", "authority": "a"},
        "jwt": provider(json!({"algorithms": ["EdDSA"]}))});
    let w = Config::parse(text.to_string().as_bytes())
        .unwrap()
        .warnings();
    assert!(
        w.iter()
            .any(|w| w.contains("EdDSA signatures are checked inside")),
        "{w:?}"
    );
}
