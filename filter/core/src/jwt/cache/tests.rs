use super::*;
use crate::jwt::testing::{jwt_config, two_providers, NOW};
use crate::tagged::TaggedHeaders;

fn token(value: &str, source: usize) -> Token<'_> {
    Token {
        value: value.into(),
        source,
    }
}

#[test]
fn keys_are_digests_of_token_place_and_config() {
    let t = "aaa.bbb.ccc";
    let k = token_key(&[0; 32], &token(t, 0));
    assert_eq!(k, token_key(&[0; 32], &token(t, 0)));
    assert_ne!(k, token_key(&[1; 32], &token(t, 0)));
    assert_ne!(k, token_key(&[0; 32], &token(t, 1)));
    assert_ne!(k, token_key(&[0; 32], &token("aaa.bbb.ccd", 0)));
    assert!(!format!("{k:?}").contains(t));
}

#[test]
fn verdicts_live_until_exp_or_briefly_and_only_with_their_keys() {
    let config = jwt_config(&two_providers("authenticate"));
    let skew_ms = 60_000;
    let now_ms = NOW * 1000;
    let ok: Result<Verified, JwtError> = Ok(Verified {
        provider: 0,
        identity: TaggedHeaders::from_pairs([(0, b"alice".as_slice())]),
        exp: NOW + 100,
    });
    let k = |n: u8| CacheKey([n; 32]);
    let mut c = TokenCache::new(100, 1 << 20);
    c.put(&config, k(1), &ok, 7, now_ms);
    assert_eq!(c.get(&k(1), now_ms, 7), Some(ok.clone()));
    assert_eq!(
        c.get(&k(1), now_ms + 100_000 + skew_ms - 1, 7),
        Some(ok.clone())
    );
    assert_eq!(c.get(&k(1), now_ms, 8), None, "other keys: a miss");
    assert_eq!(
        c.get(&k(1), now_ms + 100_000 + skew_ms, 7),
        None,
        "past exp and skew"
    );

    let bad: Result<Verified, JwtError> = Err(JwtError::BadSignature);
    c.put(&config, k(2), &bad, 7, now_ms);
    assert_eq!(
        c.get(&k(2), now_ms + FAILURE_TTL_SECS * 1000 - 1, 7),
        Some(bad)
    );
    assert_eq!(c.get(&k(2), now_ms + FAILURE_TTL_SECS * 1000, 7), None);
    let unknown: Result<Verified, JwtError> = Err(JwtError::UnknownKid { provider: 0 });
    c.put(&config, k(3), &unknown, 7, now_ms);
    assert_eq!(
        c.get(&k(3), now_ms, 8),
        None,
        "a fetch that changed the keys ends it"
    );

    for own in [
        JwtError::KeysMissing { provider: 1 },
        JwtError::CheckUnavailable,
    ] {
        c.put(&config, k(4), &Err(own), 7, now_ms);
        assert_eq!(
            c.get(&k(4), now_ms, 7),
            None,
            "{own:?} is not the token's fault"
        );
    }
    let expired = Ok(Verified {
        exp: NOW - 61,
        ..ok.clone().unwrap()
    });
    c.put(&config, k(5), &expired, 7, now_ms);
    assert_eq!(c.get(&k(5), now_ms, 7), None);
}

#[test]
fn bounded_in_entries_and_bytes() {
    let config = jwt_config(&two_providers("authenticate"));
    let value = vec![b'x'; 1000];
    let ok = Ok(Verified {
        provider: 0,
        identity: TaggedHeaders::from_pairs([(0, value.as_slice())]),
        exp: NOW + 100,
    });
    let mut c = TokenCache::new(10, 64 << 10);
    for n in 0..200u32 {
        let mut key = [0u8; 32];
        key[..4].copy_from_slice(&n.to_le_bytes());
        c.put(&config, CacheKey(key), &ok, 0, NOW * 1000);
    }
    assert_eq!(c.len(), 10);
    let mut c = TokenCache::new(1000, 64 << 10);
    for n in 0..200u32 {
        let mut key = [0u8; 32];
        key[..4].copy_from_slice(&n.to_le_bytes());
        c.put(&config, CacheKey(key), &ok, 0, NOW * 1000);
    }
    assert!(
        c.bytes() <= 64 << 10 && c.len() < 200,
        "{} entries, {} bytes",
        c.len(),
        c.bytes()
    );
}

#[test]
fn a_flood_of_refused_tokens_never_pushes_a_verified_one_out() {
    let config = jwt_config(&two_providers("authenticate"));
    let now_ms = NOW * 1000;
    let ok: Result<Verified, JwtError> = Ok(Verified {
        provider: 0,
        identity: TaggedHeaders::from_pairs([(0, b"alice".as_slice())]),
        exp: NOW + 100,
    });
    let mut c = TokenCache::new(100, 1 << 20);
    let k = |n: u32| {
        let mut b = [0; 32];
        b[..4].copy_from_slice(&n.to_le_bytes());
        CacheKey(b)
    };
    c.put(&config, k(0), &ok, 7, now_ms);
    for n in 1..10_000 {
        c.put(&config, k(n), &Err(JwtError::BadSignature), 7, now_ms);
    }
    assert_eq!(
        c.get(&k(0), now_ms, 7),
        Some(ok),
        "the verified token stays"
    );
    assert_eq!(
        c.get(&k(9_999), now_ms, 7),
        Some(Err(JwtError::BadSignature)),
        "the latest refusal is kept"
    );
    assert!(c.len() <= 100 + FAILURE_ENTRIES);
}
