use super::*;
use crate::host::fake::{FakeHost, SharedData};
use crate::jwt::testing::{claims, ec, jwks, jwt_config, rsa, sign, two_providers, NOW};
use serde_json::json;
use std::rc::Rc;

const GENERATION: [u8; 32] = [7; 32];

/// One VM's token checks on a host whose shared data other VMs may share.
fn vm(config: &JwtConfig, shared: &SharedData) -> (TokenChecks, FakeHost) {
    let host = FakeHost {
        shared: Rc::clone(shared),
        ..FakeHost::default()
    };
    (TokenChecks::new(config, false, 64), host)
}

fn step(checks: &TokenChecks, host: &FakeHost, config: &JwtConfig, token: &str) -> Step {
    let bearer = format!("Bearer {token}");
    let h: &[(&str, &[u8])] = &[("authorization", bearer.as_bytes())];
    checks.step(host, config, &GENERATION, &RequestHead::new(h), NOW * 1000)
}

#[test]
fn a_token_verified_on_one_worker_is_not_verified_again_on_another() {
    let config = jwt_config(&two_providers("authenticate"));
    let shared = SharedData::default();
    let (a, host_a) = vm(&config, &shared);
    let (b, host_b) = vm(&config, &shared);
    let t = sign(rsa(), &claims(json!({})));
    assert!(matches!(step(&a, &host_a, &config, &t), Step::Valid { .. }));
    assert_eq!(host_a.count_of(Metric::JwtVerified), 1);
    let Step::Valid {
        identity, exp_ms, ..
    } = step(&b, &host_b, &config, &t)
    else {
        panic!("not valid on b");
    };
    assert_eq!(
        host_b.count_of(Metric::JwtVerified),
        0,
        "b read a's verdict"
    );
    assert_eq!(host_b.count_of(Metric::JwtCacheHits), 1);
    assert_eq!(exp_ms, (NOW + 600) * 1000);
    assert_eq!(
        identity.iter().next().map(|(_, v)| v),
        Some(b"alice".as_slice())
    );
    // A third request on b: its own level now.
    step(&b, &host_b, &config, &t);
    assert_eq!(host_b.count_of(Metric::JwtCacheHits), 2);
}

#[test]
fn a_shared_verdict_is_never_read_with_other_keys_nor_for_a_failure() {
    let config = jwt_config(&two_providers("authenticate"));
    let shared = SharedData::default();
    let (a, host_a) = vm(&config, &shared);
    let t = sign(rsa(), &claims(json!({})));
    step(&a, &host_a, &config, &t);
    // Another VM whose key set differs (here: it adopted a rotation that dropped the RSA key).
    let (b, host_b) = vm(&config, &shared);
    let only_ec = crate::jwt::KeySet::parse(jwks(&[ec(0)]).as_bytes())
        .unwrap()
        .0;
    b.keys.borrow_mut().replace(0, only_ec);
    assert!(matches!(
        step(&b, &host_b, &config, &t),
        Step::Rejected {
            presented: true,
            ..
        }
    ));
    assert_eq!(host_b.count_of(Metric::JwtCacheHits), 0, "not a's verdict");
    // Failures stay in their VM.
    let expired = sign(rsa(), &claims(json!({"exp": NOW - 3600})));
    let (c, host_c) = vm(&config, &shared);
    step(&c, &host_c, &config, &expired);
    let (d, host_d) = vm(&config, &shared);
    step(&d, &host_d, &config, &expired);
    assert_eq!(host_d.count_of(Metric::JwtCacheHits), 0);
}
