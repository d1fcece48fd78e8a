//! Attacks on the flow's promises, each as the adapter would drive it: a decision made for a token
//! never outlives the token whichever path asked (first ask, ask again, stale), a token that could
//! not be checked never skips the auth service, and a refused dispatch is a failure like any other.

use super::drive::{owned, pairs, Driver};
use super::*;
use crate::decision::CalloutError;
use crate::host::fake::FakeHost;
use crate::jwt::testing::{claims, rsa, sign, two_providers, NOW};
use crate::Outcome;
use crate::{request::RequestHead, Config};
use serde_json::{json, Value};

/// Gate mode with every token place in the key (decisions are served before the token checks),
/// allows cached for up to an hour.
fn driver(on_error: Value, cache: Value) -> Driver {
    let text = json!({
        "authService": {"cluster": "c", "authority": "a", "forwardHeaders": ["authorization", "cookie"]},
        "identityHeaders": ["x-user-id", "x-user-roles", "x-tenant-id"],
        "cache": cache,
        "onError": on_error,
        "jwt": two_providers("gate"),
    });
    let host = FakeHost::default();
    host.now.set(NOW * 1000);
    Driver::with(
        Authorizer::new(Config::parse(text.to_string().as_bytes()).unwrap()),
        host,
    )
}

fn long_cache() -> Value {
    json!({"allowTtlSeconds": 3600, "maxTtlSeconds": 3600, "staleIfErrorSeconds": 3600})
}

fn head(bearer: &str) -> drive::Owned {
    owned(&[
        (":method", b"GET"),
        (":path", b"/orders"),
        (":authority", b"app"),
        ("authorization", format!("Bearer {bearer}").as_bytes()),
    ])
}

const ALLOW: &[(&str, &[u8])] = &[(":status", b"200"), ("x-user-id", b"alice")];
const ALLOW_FOR_ONE: &[(&str, &[u8])] = &[
    (":status", b"200"),
    ("x-user-id", b"alice"),
    ("set-cookie", b"session=1"),
];

/// What request `ctx` becomes at its headers: "called" (a callout went out), "wait", "fetch
/// JWKS", "cached", or the outcome it concluded with.
fn arrive(d: &mut Driver, ctx: Ctx, h: &[(&str, &[u8])]) -> String {
    let (calls, jwks, concluded) = (d.calls.len(), d.jwks_calls.len(), d.concluded.len());
    d.arrive(ctx, h, true);
    if let Some(c) = d.concluded.get(concluded) {
        return match &c.outcome {
            Outcome::Decided(_) if c.cached => "cached".into(),
            o => format!("{o:?}"),
        };
    }
    if d.calls.len() > calls {
        "called".into()
    } else if d.jwks_calls.len() > jwks {
        "fetch JWKS".into()
    } else {
        "wait".into()
    }
}

#[test]
fn a_request_that_asks_again_keeps_its_tokens_exp_cap() {
    let exp = NOW + 30;
    let token = sign(rsa(), &claims(json!({"exp": exp})));
    let h = head(&token);
    let h = pairs(&h);
    let mut d = driver(json!({}), long_cache());
    assert_eq!(arrive(&mut d, 1, &h), "called");
    assert_eq!(arrive(&mut d, 2, &h), "wait");
    // The answer was made for request 1 alone: request 2 asks again, on its own callout.
    let first = d.last_call().unwrap();
    d.answer(first, ALLOW_FOR_ONE, b"");
    assert_eq!(d.calls.values().map(|s| s.ctx).collect::<Vec<_>>(), [2]);
    let again = d.last_call().unwrap();
    d.answer(again, ALLOW, b"");
    // Cached (decision first), but only while the token lives.
    d.host.now.set((exp - 1) * 1000);
    assert_eq!(arrive(&mut d, 3, &h), "cached");
    d.host.now.set(exp * 1000);
    assert_eq!(
        arrive(&mut d, 4, &h),
        "called",
        "the decision outlived the token's exp (the token checked again, within its skew)"
    );
    d.host.now.set((exp + 61) * 1000);
    let past = arrive(&mut d, 5, &h);
    assert!(past.starts_with("Unauthenticated"), "{past}");
}

#[test]
fn a_stale_decision_never_outlives_the_token_it_was_made_for() {
    let exp = NOW + 30;
    let token = sign(rsa(), &claims(json!({"exp": exp})));
    let h = head(&token);
    let h = pairs(&h);
    let mut d = driver(json!({}), long_cache());
    arrive(&mut d, 1, &h);
    d.answer(d.last_call().unwrap(), ALLOW, b"");
    assert_eq!(arrive(&mut d, 2, &h), "cached");
    let authz = Rc::clone(&d.concluded[0].authz);
    let host = &d.host;
    let walk = crate::callout::walk(authz.config(), &RequestHead::new(&h)).unwrap();
    let now = Some((exp + 1) * 1000);
    let error = || CalloutError::Timeout;
    // Past the decision's expiry (capped at exp) but inside the stale window.
    assert!(matches!(
        authz.failed(host, &walk.key, error(), now, None),
        Outcome::Stale(..)
    ));
    assert_eq!(
        authz.failed(host, &walk.key, error(), now, Some(exp * 1000)),
        Outcome::Error(CalloutError::Timeout),
        "past the request's token exp, no stale decision serves"
    );
}

#[test]
fn a_refused_dispatch_serves_a_stale_decision_first() {
    let mut d = driver(json!({}), long_cache());
    let h: &[(&str, &[u8])] = &[
        (":method", b"GET"),
        (":path", b"/orders"),
        (":authority", b"app"),
        ("authorization", b"Bearer api-key-1"),
    ];
    arrive(&mut d, 1, h);
    d.answer(d.last_call().unwrap(), ALLOW, b"");
    d.host.now.set((NOW + 3601) * 1000);
    d.refuse = Some("unknown cluster".into());
    let outcome = arrive(&mut d, 2, h);
    assert!(outcome.starts_with("Stale"), "{outcome}");
}

/// A token of the provider whose keys were never fetched.
fn unchecked_token() -> String {
    sign(
        rsa(),
        &claims(json!({"iss": "https://other.example.com", "aud": null})),
    )
}

#[test]
fn a_token_whose_keys_are_missing_never_skips_the_auth_service() {
    let token = unchecked_token();
    let h = head(&token);
    let h = pairs(&h);
    // onError allow: the service decides, and its decision is neither cached nor served stale.
    for on_error in [json!({"mode": "allow"}), json!({"jwks": {"mode": "allow"}})] {
        let mut d = driver(on_error.clone(), long_cache());
        assert_eq!(arrive(&mut d, 1, &h), "called", "{on_error}");
        d.answer(d.last_call().unwrap(), ALLOW, b"");
        assert_eq!(arrive(&mut d, 2, &h), "called", "{on_error}: not cached");
        // Envoy's own 504: the callout timed out.
        d.answer(d.last_call().unwrap(), &[(":status", b"504")], b"");
        let last = d.concluded.last().map(|c| c.outcome.clone());
        assert_eq!(
            last,
            Some(Outcome::Error(CalloutError::Timeout)),
            "{on_error}: nothing stale for an unchecked token"
        );
    }
    // onError deny (the default): 503 without a callout.
    let mut d = driver(json!({}), long_cache());
    assert_eq!(
        arrive(&mut d, 1, &h),
        format!("{:?}", Outcome::Error(CalloutError::NoKeys))
    );
}
