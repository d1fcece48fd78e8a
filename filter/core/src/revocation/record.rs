//! What every VM of an Envoy shares about one feed, in shared data: a small record read on every
//! tick (when the next read is due, the read in flight, the last good read, the set's sequence
//! number) and, apart, the set itself with the cursor it goes with, read only when its sequence
//! number moved. The set is written before the record that names it, and a set is only ever
//! merged into (never replaced), so no VM's write loses another's revocations.

use super::set::{Limits, RevocationSet};
use crate::host::{Host, SharedError};
use crate::key::KeyBuilder;

const RECORD_VERSION: u8 = 1;
const WORDS: usize = 4;
const SET_VERSION: u8 = 1;
pub const PREFIX: &str = "mesh-authz/revocation/v1/";
/// A CAS that only creates (see `jwt::fetch::record`).
pub const CREATE_ONLY: u32 = u32::MAX;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Record {
    /// The next read is due (the lander adds the interval and its jitter; 0: now).
    pub next_ms: u64,
    /// A read started and has not landed (0: none; one that never lands counts until its timeout).
    pub attempt_ms: u64,
    /// The last good read, by any VM of this Envoy.
    pub good_ms: u64,
    /// The sequence number of the shared set.
    pub seq: u64,
}

impl Record {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + WORDS * 8);
        out.push(RECORD_VERSION);
        for v in [self.next_ms, self.attempt_ms, self.good_ms, self.seq] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// `None` for another version or a damaged record: it is rewritten.
    pub fn decode(bytes: &[u8]) -> Option<Record> {
        let (&version, rest) = bytes.split_first()?;
        if version != RECORD_VERSION || rest.len() != WORDS * 8 {
            return None;
        }
        let word = |i: usize| -> Option<u64> {
            Some(u64::from_le_bytes(
                rest.get(i * 8..i * 8 + 8)?.try_into().ok()?,
            ))
        };
        Some(Record {
            next_ms: word(0)?,
            attempt_ms: word(1)?,
            good_ms: word(2)?,
            seq: word(3)?,
        })
    }
}

/// The shared-data key of a feed's record: the same cluster, authority and path share one.
pub fn record_name(cluster: &str, authority: &str, path: &str) -> String {
    let mut k = KeyBuilder::new(&[0; 32]);
    k.field(cluster.as_bytes())
        .field(authority.as_bytes())
        .field(path.as_bytes());
    let hex: String = k
        .finish()
        .0
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{PREFIX}{hex}")
}

pub fn set_name(record_name: &str) -> String {
    format!("{record_name}/set")
}

/// The record and its CAS; a missing one is created first, so that a claim can lose a race.
pub fn read(host: &dyn Host, name: &str) -> Option<(Record, u32)> {
    let get = || match host.shared_get(name) {
        Ok(Some((bytes, cas))) => Some((Record::decode(&bytes).unwrap_or_default(), cas)),
        _ => None,
    };
    if let Some(found) = get() {
        return Some(found);
    }
    let _ = host.shared_set(name, &Record::default().encode(), CREATE_ONLY);
    get()
}

/// Rewrites the record with `f`; a lost race is tried once more, then left.
pub fn update(host: &dyn Host, name: &str, f: impl Fn(Record) -> Record) {
    for _ in 0..2 {
        let (record, cas) = match host.shared_get(name) {
            Ok(Some((bytes, cas))) => (Record::decode(&bytes).unwrap_or_default(), cas),
            Ok(None) => (Record::default(), CREATE_ONLY),
            Err(_) => return,
        };
        if host.shared_set(name, &f(record).encode(), cas).is_ok() {
            return;
        }
    }
}

/// The shared set: version, sequence number (u64), cursor length (u8), cursor, then the set.
pub struct SharedSet {
    pub seq: u64,
    pub cursor: String,
    pub set: RevocationSet,
}

fn encode_set(seq: u64, cursor: &str, set: &RevocationSet) -> Vec<u8> {
    let body = set.encode();
    let mut out = Vec::with_capacity(10 + cursor.len() + body.len());
    out.push(SET_VERSION);
    out.extend_from_slice(&seq.to_le_bytes());
    // A cursor is checked to be at most `MAX_CURSOR_BYTES` (128) long; a longer one is left out.
    let cursor = u8::try_from(cursor.len()).map_or("", |_| cursor);
    out.push(cursor.len() as u8);
    out.extend_from_slice(cursor.as_bytes());
    out.extend_from_slice(&body);
    out
}

pub fn decode_set(bytes: &[u8], limits: Limits, now: u64) -> Option<SharedSet> {
    let (&version, rest) = bytes.split_first()?;
    if version != SET_VERSION {
        return None;
    }
    let seq = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?);
    let len = usize::from(*rest.get(8)?);
    let cursor = std::str::from_utf8(rest.get(9..9 + len)?).ok()?;
    if !super::feed::cursor_ok(cursor) {
        return None;
    }
    let set = RevocationSet::decode(rest.get(9 + len..)?, limits, now)?;
    Some(SharedSet {
        seq,
        cursor: cursor.to_string(),
        set,
    })
}

pub fn read_set(host: &dyn Host, name: &str, limits: Limits, now: u64) -> Option<SharedSet> {
    let (bytes, _) = host.shared_get(&set_name(name)).ok()??;
    decode_set(&bytes, limits, now)
}

/// Merges `set` into the shared one (and the shared one into `set`) and writes it with the next
/// sequence number and `cursor`. The sequence number written, `None` when it could not be.
pub fn publish_set(
    host: &dyn Host,
    name: &str,
    set: &mut RevocationSet,
    cursor: &str,
    limits: Limits,
    now: u64,
) -> Option<u64> {
    let key = set_name(name);
    for _ in 0..3 {
        let (seq, cas) = match host.shared_get(&key) {
            Ok(Some((bytes, cas))) => {
                let seq = match decode_set(&bytes, limits, now) {
                    Some(shared) => {
                        set.merge(&shared.set, now);
                        shared.seq
                    }
                    None => 0,
                };
                (seq, cas)
            }
            Ok(None) => (0, CREATE_ONLY),
            Err(_) => return None,
        };
        let next = seq.saturating_add(1);
        match host.shared_set(&key, &encode_set(next, cursor, set), cas) {
            Ok(()) => return Some(next),
            Err(SharedError::CasMismatch) => continue,
            Err(SharedError::Host(_)) => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_entries: 10,
        max_bytes: 1 << 20,
        keep_ms: 60_000,
    };

    #[test]
    fn record_and_set_round_trip_and_garbage_is_refused() {
        let r = Record {
            next_ms: 1,
            attempt_ms: 2,
            good_ms: 3,
            seq: 4,
        };
        assert_eq!(Record::decode(&r.encode()), Some(r));
        assert_eq!(Record::decode(&r.encode()[..9]), None);
        let mut set = RevocationSet::new(LIMITS);
        set.revoke(b"alice", 10);
        let bytes = encode_set(7, "c-1", &set);
        let back = decode_set(&bytes, LIMITS, 20).unwrap();
        assert_eq!((back.seq, back.cursor.as_str(), back.set), (7, "c-1", set));
        for cut in 0..bytes.len() {
            assert!(decode_set(&bytes[..cut], LIMITS, 20).is_none());
        }
        let mut bad_cursor = bytes;
        bad_cursor[10] = b'&';
        assert!(decode_set(&bad_cursor, LIMITS, 20).is_none());
    }

    #[test]
    fn names_are_per_feed() {
        let a = record_name("auth", "auth.local", "/revocations");
        assert!(a.starts_with(PREFIX));
        assert_ne!(a, record_name("auth", "auth.local", "/other"));
        assert_eq!(set_name(&a), format!("{a}/set"));
    }
}
