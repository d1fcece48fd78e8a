//! Attacks on the flow's promises, each as the adapter would drive it: a decision made for a token
//! never outlives the token whichever path asked (first ask, ask again, stale), a token that could
//! not be checked never skips the auth service, and a refused dispatch is a failure like any other.

use super::*;
use crate::flight::Waiter;
use crate::host::fake::FakeHost;
use crate::jwt::testing::{claims, rsa, sign, two_providers, NOW};
use serde_json::{json, Value};

/// Gate mode with every token place in the key (decisions are served before the token checks),
/// allows cached for up to an hour.
fn gate(on_error: Value, cache: Value) -> Gate {
    let text = json!({
        "authService": {"cluster": "c", "authority": "a", "forwardHeaders": ["authorization", "cookie"]},
        "identityHeaders": ["x-user-id", "x-user-roles", "x-tenant-id"],
        "cache": cache,
        "onError": on_error,
        "jwt": two_providers("gate"),
    });
    let mut g = Gate::default();
    g.configure(Authorizer::new(
        Config::parse(text.to_string().as_bytes()).unwrap(),
    ));
    g
}

fn long_cache() -> Value {
    json!({"allowTtlSeconds": 3600, "maxTtlSeconds": 3600, "staleIfErrorSeconds": 3600})
}

fn at(secs: u64) -> FakeHost {
    let host = FakeHost::default();
    host.now.set(secs * 1000);
    host
}

fn head(bearer: &str) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (":method", b"GET".to_vec()),
        (":path", b"/orders".to_vec()),
        (":authority", b"app".to_vec()),
        ("authorization", format!("Bearer {bearer}").into_bytes()),
    ]
}

fn pairs<'h>(h: &'h [(&'static str, Vec<u8>)]) -> Vec<(&'static str, &'h [u8])> {
    h.iter().map(|(n, v)| (*n, v.as_slice())).collect()
}

const ALLOW: &[(&str, &[u8])] = &[(":status", b"200"), ("x-user-id", b"alice")];
const ALLOW_FOR_ONE: &[(&str, &[u8])] = &[
    (":status", b"200"),
    ("x-user-id", b"alice"),
    ("set-cookie", b"session=1"),
];

fn answer<'a>(headers: &'a [(&'a str, &'a [u8])]) -> Result<Answer<'a>, CalloutError> {
    Ok(Answer { headers, body: b"" })
}

/// What request `ctx` becomes at its headers; a callout is dispatched as `token`.
fn arrive(g: &mut Gate, host: &FakeHost, ctx: Ctx, h: &[(&str, &[u8])], token: Token) -> String {
    let head = RequestHead::new(h).ending(true);
    match g.request_headers(host, ctx, &head).unwrap().next {
        Next::Decided(_, Outcome::Decided(_)) => "cached".into(),
        Next::Decided(_, o) => format!("{o:?}"),
        Next::Wait => "wait".into(),
        Next::FetchKeys(_) => "fetch keys".into(),
        Next::CallOut(call) => match g.dispatched(host, ctx, call, Ok(token)) {
            None => "called".into(),
            Some((_, o)) => format!("{o:?}"),
        },
    }
}

#[test]
fn a_request_that_asks_again_keeps_its_tokens_exp_cap() {
    let exp = NOW + 30;
    let token = sign(rsa(), &claims(json!({"exp": exp})));
    let h = head(&token);
    let h = pairs(&h);
    let mut g = gate(json!({}), long_cache());
    let host = at(NOW);
    assert_eq!(arrive(&mut g, &host, 1, &h, 7), "called");
    assert_eq!(arrive(&mut g, &host, 2, &h, 8), "wait");
    // The answer was made for request 1 alone: request 2 asks again, on its own.
    let landed = g.answered(&host, 7, answer(ALLOW_FOR_ONE)).unwrap();
    assert_eq!(
        landed.ask_again,
        [Waiter {
            ctx: 2,
            cap_ms: Some(exp * 1000)
        }]
    );
    let Next::CallOut(call) = g.retry(
        &host,
        &landed.authz,
        landed.ask_again[0],
        &RequestHead::new(&h),
    ) else {
        panic!("asking again calls out")
    };
    assert!(g.dispatched(&host, 2, call, Ok(9)).is_none());
    g.answered(&host, 9, answer(ALLOW)).unwrap();
    // Cached (decision first), but only while the token lives.
    host.now.set((exp - 1) * 1000);
    assert_eq!(arrive(&mut g, &host, 3, &h, 10), "cached");
    host.now.set(exp * 1000);
    assert_eq!(
        arrive(&mut g, &host, 4, &h, 11),
        "called",
        "the decision outlived the token's exp (the token checked again, within its skew)"
    );
    host.now.set((exp + 61) * 1000);
    let past = arrive(&mut g, &host, 5, &h, 12);
    assert!(past.starts_with("Unauthenticated"), "{past}");
}

#[test]
fn a_stale_decision_never_outlives_the_token_it_was_made_for() {
    let exp = NOW + 30;
    let token = sign(rsa(), &claims(json!({"exp": exp})));
    let h = head(&token);
    let h = pairs(&h);
    let mut g = gate(json!({}), long_cache());
    let host = at(NOW);
    arrive(&mut g, &host, 1, &h, 7);
    let authz = g.answered(&host, 7, answer(ALLOW)).unwrap().authz;
    assert_eq!(arrive(&mut g, &host, 2, &h, 8), "cached");
    let walk = crate::callout::walk(authz.config(), &RequestHead::new(&h)).unwrap();
    let now = Some((exp + 1) * 1000);
    let error = || CalloutError::Timeout;
    // Past the decision's expiry (capped at exp) but inside the stale window.
    assert!(matches!(
        authz.failed(&host, &walk.key, error(), now, None),
        Outcome::Stale(..)
    ));
    assert_eq!(
        authz.failed(&host, &walk.key, error(), now, Some(exp * 1000)),
        Outcome::Error(CalloutError::Timeout),
        "past the request's token exp, no stale decision serves"
    );
}

#[test]
fn a_refused_dispatch_serves_a_stale_decision_first() {
    let mut g = gate(json!({}), long_cache());
    let host = at(NOW);
    let h: &[(&str, &[u8])] = &[
        (":method", b"GET"),
        (":path", b"/orders"),
        (":authority", b"app"),
        ("authorization", b"Bearer api-key-1"),
    ];
    arrive(&mut g, &host, 1, h, 7);
    g.answered(&host, 7, answer(ALLOW)).unwrap();
    host.now.set((NOW + 3601) * 1000);
    let Next::CallOut(call) = g
        .request_headers(&host, 2, &RequestHead::new(h))
        .unwrap()
        .next
    else {
        panic!("expired: a callout")
    };
    let (_, outcome) = g
        .dispatched(&host, 2, call, Err("unknown cluster".into()))
        .unwrap();
    assert!(matches!(outcome, Outcome::Stale(..)), "{outcome:?}");
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
        let mut g = gate(on_error.clone(), long_cache());
        let host = at(NOW);
        assert_eq!(arrive(&mut g, &host, 1, &h, 7), "called", "{on_error}");
        g.answered(&host, 7, answer(ALLOW)).unwrap();
        assert_eq!(
            arrive(&mut g, &host, 2, &h, 8),
            "called",
            "{on_error}: not cached"
        );
        let landed = g.answered(&host, 8, Err(CalloutError::Timeout)).unwrap();
        assert!(
            !matches!(landed.outcome, Outcome::Stale(..)),
            "{on_error}: nothing stale for an unchecked token"
        );
    }
    // onError deny (the default): 503 without a callout.
    let mut g = gate(json!({}), long_cache());
    assert_eq!(
        arrive(&mut g, &at(NOW), 1, &h, 7),
        format!("{:?}", Outcome::Error(CalloutError::NoKeys))
    );
}
