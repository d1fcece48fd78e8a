//! The revocation rule where the engine reads a cached decision (either level, stale-if-error
//! included) and where an answer lands.

use super::Authorizer;
use crate::cache::DecisionCache;
use crate::decision::Decision;
use crate::host::{Host, Metric};
use crate::key::CacheKey;
use crate::revocation::{self, Follower, Verdict};
use std::cell::RefCell;
use std::rc::Rc;

impl Authorizer {
    /// The feed follower, for the root context: `tick` on the root tick (dispatch the read it
    /// returns), `landed`/`refused` with the answer, `lag_ms` for the gauge.
    pub fn follower(&self) -> Option<&RefCell<Follower>> {
        self.revocation.as_ref()
    }

    /// When a decision that landed `now` was made, at the earliest: its callout was dispatched at
    /// most `authService.timeoutMs` ago, and the service decided after that. An earlier stamp
    /// only drops more; a later one would let an answer made before a revocation outlive it.
    pub(super) fn decided_at(&self, now: u64) -> u64 {
        let timeout = self
            .config
            .auth
            .as_ref()
            .map_or(0, |a| u64::from(a.timeout_ms));
        now.saturating_sub(timeout)
    }

    /// Whether a cached decision made at `decided_ms` may serve at `now` (no feed: always).
    /// A revoked one is counted; one the stale feed holds back is a plain miss.
    pub(super) fn servable(
        &self,
        host: &dyn Host,
        decision: &Decision,
        decided_ms: u64,
        now: u64,
    ) -> Verdict {
        let Some(follower) = &self.revocation else {
            return Verdict::Serve;
        };
        // Borrowed elsewhere (never expected): not served, which costs one callout.
        let Ok(mut f) = follower.try_borrow_mut() else {
            return Verdict::FeedStale;
        };
        let subject = revocation::subject(decision, f.feed().subject_index);
        let verdict = f.verdict(host, subject, decided_ms, now);
        match verdict {
            Verdict::Serve => {}
            Verdict::Revoked => {
                host.count(Metric::RevocationDropped);
                log::debug!("a cached decision made before a revocation of its subject (or a flush) is dropped; asking the auth service");
            }
            Verdict::FeedStale => {
                log::debug!("the revocation feed was not read for revocation.maxStaleSeconds: cached decisions are not served");
            }
        }
        verdict
    }

    /// `servable` for this VM's cache level: a decision that may not serve is dropped from it.
    pub(super) fn servable_or_drop(
        &self,
        host: &dyn Host,
        cache: &RefCell<DecisionCache<Decision>>,
        key: &CacheKey,
        decision: Rc<Decision>,
        decided_ms: u64,
        now: u64,
    ) -> Result<Rc<Decision>, Verdict> {
        let verdict = self.servable(host, &decision, decided_ms, now);
        if verdict == Verdict::Serve {
            return Ok(decision);
        }
        if let Ok(mut c) = cache.try_borrow_mut() {
            c.remove(key);
        }
        Err(verdict)
    }

    /// An answer that lands after a revocation of its subject may have been made before it: it
    /// goes to the request that asked, is not cached, and the requests waiting on it ask again.
    pub(super) fn revoked_at_landing(
        &self,
        host: &dyn Host,
        decision: &Decision,
        decided_ms: u64,
        now: u64,
    ) -> bool {
        let Some(follower) = &self.revocation else {
            return false;
        };
        let Ok(mut f) = follower.try_borrow_mut() else {
            return true;
        };
        let subject = revocation::subject(decision, f.feed().subject_index);
        // A stale feed does not stop caching: the lookup holds such decisions back until it is read.
        let revoked = f.verdict(host, subject, decided_ms, now) == Verdict::Revoked;
        if revoked {
            host.count(Metric::RevocationDropped);
            log::debug!("an answer that may predate a revocation of its subject: not cached, not shared with waiting requests");
        }
        revoked
    }
}

#[cfg(test)]
#[path = "revoke_tests.rs"]
mod tests;
