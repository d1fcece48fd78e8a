//! The revocation feed, read from the root context: the follower of the current configuration
//! says when a read is due (at `Configure` and on the tick), the adapter dispatches it, and its
//! answer is routed here by call id, read only as far as the feed's page limit allows.

use super::event::Pairs;
use super::{Action, CallId, FeedRead, Flow, Output};
use crate::host::Host;
use crate::revocation;
use std::rc::Rc;

impl Flow {
    /// The feed read the current configuration's follower wants now, if any.
    pub(super) fn feed_tick(&mut self, host: &dyn Host, out: &mut Output<'_>) {
        let Some(authz) = self.authz.clone() else {
            return;
        };
        let Some(follower) = authz.follower() else {
            return;
        };
        let Ok(now) = host.now_ms() else {
            return;
        };
        let due = match follower.try_borrow_mut() {
            Ok(mut f) => f.tick(host, now),
            Err(_) => return,
        };
        if let Some(fetch) = due {
            out.actions.push(Action::FetchFeed(FeedRead {
                authz: Rc::clone(&authz),
                fetch,
            }));
        }
    }

    /// The host took the read (its answer comes by call id) or refused it: a failed read.
    pub(super) fn feed_dispatched(
        &mut self,
        host: &dyn Host,
        read: FeedRead,
        result: Result<CallId, String>,
    ) {
        match result {
            Ok(call) => {
                // A read of an older configuration still in flight is forgotten: its answer is
                // ignored, and the new follower reads for itself.
                self.feed_read = Some((call, read.authz));
            }
            Err(why) => {
                let now = host.now_ms().unwrap_or(0);
                let why = format!(
                    "{why}: check that cluster '{}' exists in Envoy's configuration",
                    read.fetch.cluster
                );
                if let Ok(mut f) = feed_follower(&read.authz) {
                    f.refused(host, &why, now);
                }
            }
        }
    }

    pub(super) fn is_feed_read(&self, call: CallId) -> bool {
        self.feed_read.as_ref().is_some_and(|(c, _)| *c == call)
    }

    /// The feed answer's headers: its body is read only for a 200, and only within the page limit.
    pub(super) fn feed_head(
        &mut self,
        host: &dyn Host,
        out: &mut Output<'_>,
        call: CallId,
        headers: Option<Pairs<'_>>,
        body_size: usize,
    ) {
        let status = match super::event::fetch_status(headers) {
            Ok(status) => status,
            Err(why) => return self.feed_landed(host, call, Err(why)),
        };
        match revocation::body_to_read(status, body_size) {
            Ok(bytes) => out.actions.push(Action::ReadBody {
                bytes: bytes.max(1),
            }),
            Err(why) => self.feed_landed(host, call, Err(why)),
        }
    }

    /// The feed read landed (`Ok(body)` for a 200, else why not): its revocations apply to this
    /// VM's lookups from now on; the follower logs failures.
    pub(super) fn feed_landed(
        &mut self,
        host: &dyn Host,
        call: CallId,
        body: Result<&[u8], String>,
    ) {
        let Some((_, authz)) = self.feed_read.take_if(|(c, _)| *c == call) else {
            return;
        };
        let now = host.now_ms().unwrap_or(0);
        let Ok(mut f) = feed_follower(&authz) else {
            return;
        };
        if let Ok(applied) = f.landed(host, body, now) {
            if applied > 0 {
                log::info!("revocation feed: {applied} revocation(s) applied; cached decisions made before them are no longer served");
            }
        }
    }

    /// This VM's view of the feed's lag, for the gauge.
    pub(super) fn revocation_lag_ms(&self, host: &dyn Host) -> Option<u64> {
        let follower = self.authz.as_ref()?.follower()?;
        let now = host.now_ms().ok()?;
        follower.try_borrow().ok().map(|f| f.lag_ms(now))
    }
}

fn feed_follower(
    authz: &crate::engine::Authorizer,
) -> Result<std::cell::RefMut<'_, revocation::Follower>, ()> {
    authz
        .follower()
        .ok_or(())
        .and_then(|f| f.try_borrow_mut().map_err(|_| ()))
}
