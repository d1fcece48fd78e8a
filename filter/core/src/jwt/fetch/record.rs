//! The shared-data record of one JWKS source, which every VM of an Envoy reads and writes: a few
//! timestamps under the source's name (read on every tick, and by a request whose token needs
//! keys, so it stays small) and the last good document apart (`document_name`), stamped with its
//! `fetched_ms` and read only when it is newer than the VM's copy.

use super::super::config::RemoteJwks;
use super::super::jwks::MAX_JWKS_BYTES;
use crate::host::Host;
use crate::key::KeyBuilder;

const RECORD_VERSION: u8 = 2;
const WORDS: usize = 4;
const RECORD_BYTES: usize = 1 + WORDS * 8;
pub(super) const RECORD_PREFIX: &str = "mesh-authz/jwks/v2/";
/// A CAS for a write that must only create: Envoy writes a key that does not exist whatever the
/// CAS, and an existing key only if the CAS is 0 or its own (Envoy counts CAS values up from 1,
/// one per write of the whole shared-data store: this one is never reached in practice).
pub(super) const CREATE_ONLY: u32 = u32::MAX;

/// The shared record of one JWKS source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// When the document was fetched (0: never).
    pub fetched_ms: u64,
    /// When the attempt in flight started (0: none; one that never lands counts until its timeout).
    pub attempt_ms: u64,
    /// When the last attempt failed (the next waits `RETRY_MS`).
    pub failed_ms: u64,
    /// When the last unknown-`kid` refetch started.
    pub refetch_ms: u64,
}

impl Record {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(RECORD_BYTES);
        out.push(RECORD_VERSION);
        for v in [
            self.fetched_ms,
            self.attempt_ms,
            self.failed_ms,
            self.refetch_ms,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// `None` for a record of another version or a damaged one: then it is rewritten.
    pub fn decode(bytes: &[u8]) -> Option<Record> {
        let (&version, rest) = bytes.split_first()?;
        if version != RECORD_VERSION || rest.len() != WORDS * 8 {
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
        })
    }
}

/// The shared-data key of a source's last good document.
pub fn document_name(record_name: &str) -> String {
    format!("{record_name}/keys")
}

/// The document entry: the `fetched_ms` it was fetched at, then the document.
pub fn encode_document(fetched_ms: u64, document: &[u8]) -> Vec<u8> {
    [&fetched_ms.to_le_bytes()[..], document].concat()
}

fn decode_document(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let stamp = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    Some((stamp, bytes.get(8..)?))
}

/// The document entry, if it holds the one the record names or a newer one (the document is
/// written before the record, so a writer may be between the two: its document is good already).
/// With its stamp, which is what a VM has then adopted.
pub fn read_document(
    host: &dyn Host,
    record_name: &str,
    fetched_ms: u64,
) -> Option<(u64, Vec<u8>)> {
    let (bytes, _) = host.shared_get(&document_name(record_name)).ok()??;
    let (stamp, document) = decode_document(&bytes)?;
    (stamp >= fetched_ms && !document.is_empty() && document.len() <= MAX_JWKS_BYTES)
        .then(|| (stamp, document.to_vec()))
}

/// Publishes a document fetched at `fetched_ms`, unless a newer one is there: the entry's stamp
/// only moves forward, so a VM whose fetch landed late never replaces a newer document. The stamp
/// the entry holds afterwards (`None`: the write failed, and the record must not name it).
pub fn publish_document(
    host: &dyn Host,
    record_name: &str,
    fetched_ms: u64,
    document: &[u8],
) -> Option<u64> {
    let name = document_name(record_name);
    for _ in 0..3 {
        let (stamp, cas) = match host.shared_get(&name) {
            Ok(Some((bytes, cas))) => (decode_document(&bytes).map_or(0, |(s, _)| s), cas),
            // CAS 0 would write unconditionally, over a document another VM may have created
            // since: a CAS that no entry has creates the entry if it is still absent, else fails.
            Ok(None) => (0, CREATE_ONLY),
            Err(_) => return None,
        };
        if stamp >= fetched_ms {
            return Some(stamp);
        }
        match host.shared_set(&name, &encode_document(fetched_ms, document), cas) {
            Ok(()) => return Some(fetched_ms),
            Err(crate::host::SharedError::CasMismatch) => continue,
            Err(crate::host::SharedError::Host(_)) => return None,
        }
    }
    None
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
            Ok(None) => (Record::default(), CREATE_ONLY),
            Err(_) => return,
        };
        if host.shared_set(name, &f(record).encode(), cas).is_ok() {
            return;
        }
    }
}
