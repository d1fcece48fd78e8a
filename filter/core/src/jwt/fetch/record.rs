//! The shared-data record of one JWKS source, which every VM of an Envoy reads and writes.

use super::super::config::RemoteJwks;
use super::super::jwks::MAX_JWKS_BYTES;
use crate::host::Host;
use crate::key::KeyBuilder;

const RECORD_VERSION: u8 = 1;
const WORDS: usize = 4;
const RECORD_HEAD: usize = 1 + WORDS * 8;
pub(super) const RECORD_PREFIX: &str = "mesh-authz/jwks/v1/";

/// The shared record of one JWKS source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// When `body` was fetched (0: never).
    pub fetched_ms: u64,
    /// When the attempt in flight started (0: none; one that never lands counts until its timeout).
    pub attempt_ms: u64,
    /// When the last attempt failed (the next waits `RETRY_MS`).
    pub failed_ms: u64,
    /// When the last unknown-`kid` refetch started.
    pub refetch_ms: u64,
    pub body: Vec<u8>,
}

impl Record {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(RECORD_HEAD + self.body.len());
        out.push(RECORD_VERSION);
        for v in [
            self.fetched_ms,
            self.attempt_ms,
            self.failed_ms,
            self.refetch_ms,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&self.body);
        out
    }

    /// `None` for a record of another version or a damaged one: then it is rewritten.
    pub fn decode(bytes: &[u8]) -> Option<Record> {
        let (&version, rest) = bytes.split_first()?;
        let head = WORDS * 8;
        if version != RECORD_VERSION || rest.len() < head || rest.len() - head > MAX_JWKS_BYTES {
            return None;
        }
        let word = |i: usize| -> Option<u64> {
            let b: [u8; 8] = rest.get(i * 8..i * 8 + 8)?.try_into().ok()?;
            Some(u64::from_le_bytes(b))
        };
        Some(Record {
            fetched_ms: word(0)?,
            attempt_ms: word(1)?,
            failed_ms: word(2)?,
            refetch_ms: word(3)?,
            body: rest.get(head..)?.to_vec(),
        })
    }
}

/// The shared-data key of a source: the same cluster, authority and path share one record.
pub fn record_name(remote: &RemoteJwks) -> String {
    let mut k = KeyBuilder::new(&[0; 32]);
    k.field(remote.cluster.as_bytes())
        .field(remote.authority.as_bytes())
        .field(remote.path.as_bytes());
    let d = k.finish().0;
    let hex: String = d.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("{RECORD_PREFIX}{hex}")
}

/// Rewrites the shared record with `f`; a lost race is tried once more, then left: the winner's
/// record is as fresh.
pub(super) fn update(host: &dyn Host, name: &str, f: impl Fn(Record) -> Record) {
    for _ in 0..2 {
        let (record, cas) = match host.shared_get(name) {
            Ok(Some((bytes, cas))) => (Record::decode(&bytes).unwrap_or_default(), cas),
            Ok(None) => (Record::default(), 0),
            Err(_) => return,
        };
        if host.shared_set(name, &f(record).encode(), cas).is_ok() {
            return;
        }
    }
}
