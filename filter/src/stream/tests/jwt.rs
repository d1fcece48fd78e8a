//! Token checks through the adapter: what a request with a token costs in hostcalls, the JWKS
//! fetched by the root context, requests waiting for a refetch, the token taken out upstream.

use super::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

const NOW_SECS: u64 = 1_800_000_000;
const ISS: &str = "https://id.example.com";

struct Key {
    kid: String,
    jwk: Value,
    encoding: EncodingKey,
}

fn key(kid: &str) -> Key {
    let signing = ed25519_dalek::SigningKey::generate(&mut rand::thread_rng());
    Key {
        kid: kid.into(),
        jwk: json!({"kty": "OKP", "crv": "Ed25519", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes())}),
        encoding: EncodingKey::from_ed_der(signing.to_pkcs8_der().unwrap().as_bytes()),
    }
}

fn jwks(keys: &[&Key]) -> String {
    json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()}).to_string()
}

fn token(key: &Key, exp: u64) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(key.kid.clone());
    let claims = json!({"iss": ISS, "sub": "jwt-user", "exp": exp});
    jsonwebtoken::encode(&header, &claims, &key.encoding).unwrap()
}

fn at_now(h: FakeHost) -> FakeHost {
    h.now_ms.set(NOW_SECS * 1000);
    h
}

fn authenticate(key: &Key) -> String {
    json!({
        "identityHeaders": ["x-user-id"],
        "jwt": {"mode": "authenticate", "providers": [{
            "name": "corp", "issuer": ISS, "jwks": {"inline": jwks(&[key])},
            "algorithms": ["EdDSA"],
            "claimHeaders": {"sub": "x-user-id"}, "forwardToken": false,
        }]},
    })
    .to_string()
}

fn gate_remote() -> String {
    json!({
        "authService": {"cluster": "auth", "authority": "auth.local", "pathPrefix": "/check"},
        "identityHeaders": ["x-user-id"],
        "jwt": {"mode": "gate", "providers": [{
            "name": "corp", "issuer": ISS,
            "jwks": {"cluster": "idp", "authority": "id.example.com", "path": "/jwks.json"},
            "algorithms": ["EdDSA"],
        }]},
    })
    .to_string()
}

fn configured_at_now(config: &str) -> FakeHost {
    vm::reset();
    let h = at_now(FakeHost::with_config(config));
    on_context_create(ROOT, 0);
    h.enter(ROOT);
    assert!(on_configure(&h, ROOT, config.len()));
    h
}

#[test]
fn authenticate_mode_allows_a_valid_token_with_its_claims_and_no_callout() {
    let k = key("k1");
    let h = configured_at_now(&authenticate(&k));
    h.take();
    let t = token(&k, NOW_SECS + 600);
    let owned = get("/x", &t);
    let mut req = borrowed(&owned);
    req.push(("x-user-id", "mallory"));
    assert_eq!(arrive(&h, 10, &req), Status::Continue);
    assert_eq!(
        h.take(),
        [
            Call::Remove(10, "x-user-id".into()),
            Call::Remove(10, "authorization".into()),
            Call::Add(10, "x-user-id".into(), "jwt-user".into()),
        ],
        "forged identity out, the token out (forwardToken false), the claim in"
    );
}

#[test]
fn authenticate_mode_answers_401_to_a_bad_or_missing_token() {
    let k = key("k1");
    let other = key("k1");
    let h = configured_at_now(&authenticate(&k));
    h.take();
    let cases = [
        ("expired", token(&k, NOW_SECS - 120)),
        ("signed by another key", token(&other, NOW_SECS + 600)),
        ("not a JWT", "api-key".to_string()),
    ];
    for (i, (what, t)) in cases.iter().enumerate() {
        let ctx = 20 + i as u32;
        assert_eq!(
            arrive(&h, ctx, &borrowed(&get("/x", t))),
            Status::Pause,
            "{what}"
        );
        assert_eq!(h.take(), [Call::Reply(ctx, 401)], "{what}");
    }
    let bare = [(":method", "GET"), (":path", "/x"), (":authority", "app")];
    assert_eq!(arrive(&h, 30, &bare), Status::Pause);
    assert_eq!(h.take(), [Call::Reply(30, 401)], "no token");
}

#[test]
fn the_root_fetches_the_jwks_at_start_and_tokens_get_on_error_until_it_lands() {
    let k = key("k1");
    let h = configured_at_now(&gate_remote());
    assert_eq!(
        h.take(),
        [
            Call::Foreign("verify_signature".into()),
            Call::Enter(ROOT),
            Call::Dispatch(ROOT, 1, "/jwks.json".into())
        ],
        "the host probed for verify_signature, the JWKS fetched by the root context at configure"
    );
    let t = token(&k, NOW_SECS + 600);
    assert_eq!(arrive(&h, 10, &borrowed(&get("/x", &t))), Status::Pause);
    assert_eq!(
        h.take(),
        [Call::Reply(10, 503)],
        "no keys yet: onError, not 401"
    );
    deliver(&h, 1, &[(":status", "200")], &jwks(&[&k]));
    assert_eq!(h.take(), [], "nobody waited");
    assert_eq!(arrive(&h, 11, &borrowed(&get("/x", &t))), Status::Pause);
    assert_eq!(
        h.take(),
        dispatch(11, 2, "/check/x"),
        "a valid token goes on to the service"
    );
    let expired = token(&k, NOW_SECS - 120);
    assert_eq!(
        arrive(&h, 12, &borrowed(&get("/x", &expired))),
        Status::Pause
    );
    assert_eq!(
        h.take(),
        [Call::Reply(12, 401)],
        "a bad token never reaches it"
    );
    assert_eq!(
        arrive(&h, 13, &borrowed(&get("/x", "api-key"))),
        Status::Pause
    );
    assert_eq!(
        h.take(),
        dispatch(13, 3, "/check/x"),
        "an API key goes on as before"
    );
}

#[test]
fn an_unknown_kid_waits_for_one_refetch_and_is_decided_when_it_lands() {
    let (k1, k2) = (key("k1"), key("k2"));
    let h = configured_at_now(&gate_remote());
    deliver(&h, 1, &[(":status", "200")], &jwks(&[&k1]));
    h.take();
    let t = token(&k2, NOW_SECS + 600);
    assert_eq!(arrive(&h, 10, &borrowed(&get("/x", &t))), Status::Pause);
    assert_eq!(
        h.take(),
        [
            Call::Enter(ROOT),
            Call::Dispatch(ROOT, 2, "/jwks.json".into()),
            Call::Enter(10)
        ]
    );
    assert_eq!(
        on_request_body(&h, 10),
        Status::Pause,
        "its body waits with it"
    );
    assert_eq!(arrive(&h, 11, &borrowed(&get("/y", &t))), Status::Pause);
    assert_eq!(h.take(), [], "joins the refetch in flight");
    deliver(&h, 2, &[(":status", "200")], &jwks(&[&k1, &k2]));
    let mut want = vec![Call::Enter(10)];
    want.extend(dispatch(10, 3, "/check/x"));
    want.push(Call::Enter(11));
    want.extend(dispatch(11, 4, "/check/y"));
    assert_eq!(h.take(), want, "both decided on the new keys");
    // Rotated again within 30 s: no second refetch, the kid is unknown.
    let k3 = key("k3");
    let t3 = token(&k3, NOW_SECS + 600);
    assert_eq!(arrive(&h, 12, &borrowed(&get("/x", &t3))), Status::Pause);
    assert_eq!(h.take(), [Call::Reply(12, 401)]);
}

#[test]
fn verify_signature_is_probed_only_when_tokens_are_checked() {
    let h = configured(CONFIG);
    assert!(!h.take().iter().any(|c| matches!(c, Call::Foreign(_))));
    let k = key("k1");
    vm::reset();
    let config = authenticate(&k);
    let h = at_now(FakeHost::with_config(&config));
    h.foreign.borrow_mut().insert(
        "verify_signature".into(),
        Box::new(|_| Err(crate::fake::BAD_ARGUMENT)),
    );
    on_context_create(ROOT, 0);
    h.enter(ROOT);
    assert!(on_configure(&h, ROOT, config.len()));
    assert_eq!(h.take(), [Call::Foreign("verify_signature".into())]);
    // Ed25519 is checked in the VM whatever the host has: no foreign call per request.
    let t = token(&k, NOW_SECS + 600);
    assert_eq!(arrive(&h, 10, &borrowed(&get("/x", &t))), Status::Continue);
    assert!(!h.take().iter().any(|c| matches!(c, Call::Foreign(_))));
}
