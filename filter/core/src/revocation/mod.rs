//! Revocation across the mesh: the auth service publishes a feed of revoked subjects (and
//! flushes), every Envoy follows it, and no VM serves a cached decision made before a
//! revocation of its subject. Format and guarantees: `docs/revocation.md`.
//!
//! - `config`: the `revocation` block, checked.
//! - `feed`: one answer of the feed, parsed within bounds.
//! - `set`: the revoked subjects a VM keeps (bounded; a flush on overflow) and the rule.
//! - `record`: what the VMs of one Envoy share about the feed (shared data, CAS).
//! - `follower`: when to read, what an answer or a failure does, and staleness.

pub mod config;
pub mod feed;
pub mod follower;
pub mod record;
pub mod set;

pub use config::Feed;
pub use follower::{FeedFetch, Follower, Verdict};

use crate::decision::Decision;

/// The subject a decision names: the value of `subjectHeader` in an allow (`None` for a deny,
/// or an allow that does not set it: only a flush drops those).
pub fn subject(decision: &Decision, subject_index: u8) -> Option<&[u8]> {
    match decision {
        Decision::Allow { identity, .. } => identity
            .iter()
            .find(|(i, _)| *i == subject_index)
            .map(|(_, v)| v),
        Decision::Deny { .. } => None,
    }
}

/// How much of a feed answer to read (its `:status`, `None` when none came): the whole body of a
/// 200 within `feed::MAX_PAGE_BYTES`, or why the answer is no page.
pub fn body_to_read(status: Option<&[u8]>, body_size: usize) -> Result<usize, String> {
    let Some(status) = status else {
        return Err("no answer (connection failed or timed out)".into());
    };
    if status != b"200" {
        return Err(format!("answered {}", String::from_utf8_lossy(status)));
    }
    if body_size > feed::MAX_PAGE_BYTES {
        return Err(format!(
            "answer of {body_size} bytes is over the {}-byte limit",
            feed::MAX_PAGE_BYTES
        ));
    }
    Ok(body_size)
}
