//! Fuzzing the CheckResponse reader: any bytes, and real answers cut, flipped or spliced, are read
//! without a panic; a decision comes only from a message that says so, and an allow's identity
//! holds only values the message carried for identity names.
//!
//! The answers are written with the wire format's own rules here (tag, length, bytes), not with the
//! module's writer, so a mistake shared by both cannot hide.

#![cfg(test)]

use mesh_authz_core::decision::Decision;
use mesh_authz_core::grpc::response::judge;
use mesh_authz_core::Config;
use proptest::collection::vec;
use proptest::prelude::*;

fn config() -> Config {
    Config::parse(
        br#"{"authService": {"protocol": "grpc", "cluster": "c", "authority": "a"},
             "identityHeaders": ["x-user-id", "x-tenant-id"], "maxDenyBodyBytes": 64}"#,
    )
    .unwrap()
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn field(n: u64, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    varint(n << 3 | 2, &mut out);
    varint(bytes.len() as u64, &mut out);
    out.extend_from_slice(bytes);
    out
}

fn code(c: i64) -> Vec<u8> {
    let mut out = vec![0x08];
    varint(c as u64, &mut out);
    out
}

/// A `HeaderValueOption` holding (key, value).
fn header(key: &str, value: &[u8]) -> Vec<u8> {
    let mut h = field(1, key.as_bytes());
    h.extend(field(2, value));
    field(1, &h)
}

const NAMES: &[&str] = &[
    "x-user-id",
    "X-User-Id",
    "x-tenant-id",
    "x-other",
    "set-cookie",
    "cache-control",
    "www-authenticate",
    "location",
];

fn answer() -> impl Strategy<Value = Vec<u8>> {
    let headers = vec((prop::sample::select(NAMES), vec(any::<u8>(), 0..8)), 0..5);
    (
        any::<bool>(),
        -2i64..20,
        headers,
        0u64..700,
        vec(any::<u8>(), 0..80),
    )
        .prop_map(|(allow, c, headers, status, body)| {
            let mut hs = Vec::new();
            for (k, v) in &headers {
                hs.extend(field(2, &header(k, v)));
            }
            let mut out = field(1, &code(if allow { 0 } else { c }));
            if allow {
                out.extend(field(3, &hs));
            } else {
                let mut d = field(1, &code(status as i64));
                d.extend(hs);
                d.extend(field(3, &body));
                out.extend(field(2, &d));
            }
            out
        })
}

/// Cuts, flips and splices of a real answer.
fn mangled() -> impl Strategy<Value = Vec<u8>> {
    (
        answer(),
        any::<usize>(),
        any::<u8>(),
        vec(any::<u8>(), 0..6),
    )
        .prop_map(|(mut a, at, flip, splice)| {
            if !a.is_empty() {
                let i = at % a.len();
                match flip % 3 {
                    0 => a.truncate(i),
                    1 => a[i] ^= flip | 1,
                    _ => {
                        a.splice(i..i, splice);
                    }
                }
            }
            a
        })
}

proptest! {
    #[test]
    fn any_bytes_are_read_without_panic(bytes in vec(any::<u8>(), 0..256)) {
        let _ = judge(&config(), &bytes);
    }

    #[test]
    fn mangled_answers_are_read_without_panic_and_identity_comes_only_from_the_message(bytes in mangled()) {
        let cfg = config();
        if let Ok(c) = judge(&cfg, &bytes) {
            if let Decision::Allow { identity, .. } = &c.judged.decision {
                for (_, v) in identity.iter() {
                    prop_assert!(bytes.windows(v.len().max(1)).any(|w| v.is_empty() || w == v));
                }
            }
            if let Decision::Deny { body, status, .. } = &c.judged.decision {
                prop_assert!(body.len() <= 64);
                prop_assert!((300..=599).contains(status));
            }
        }
    }

    #[test]
    fn well_formed_answers_always_decide(bytes in answer()) {
        prop_assert!(judge(&config(), &bytes).is_ok());
    }
}
