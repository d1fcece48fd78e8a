//! Callouts to the auth service: dispatched or refused, and their answers handed to the requests
//! that waited on them.

use super::event::Pairs;
use super::{Action, CallId, CallOut, Flow, Output, Waits};
use crate::decision::{CalloutError, Outcome, Unreachable};
use crate::flight::{Opening, Sharing, Waiter};
use crate::host::{Histogram, Host, Metric};
use crate::response::{self, Answer};

/// What ended a callout: an HTTP answer (or its failure), a gRPC call's CheckResponse
/// (`None`: unreadable), or a gRPC call's failure with its status.
pub(super) enum Reply<'a> {
    Http(Result<Answer<'a>, CalloutError>),
    GrpcMessage(Option<&'a [u8]>),
    GrpcStatus { code: u32, message: &'a [u8] },
}

impl Flow {
    /// The host took the callout (the request waits on it) or refused it (an error under
    /// `onError`, after a stale decision).
    pub(super) fn called_out(
        &mut self,
        host: &dyn Host,
        out: &mut Output<'_>,
        call: CallOut<'_>,
        result: Result<CallId, String>,
    ) {
        let ctx = call.ctx;
        match result {
            Ok(id) => {
                host.count(Metric::Callouts);
                let opening = Opening {
                    key: call.walk.key,
                    owner: call.authz,
                    opener: Waiter {
                        ctx,
                        cap_ms: call.cap_ms,
                    },
                    started_ms: call.started_ms.or_else(|| host.now_ms().ok()),
                    shared: call.shared,
                };
                self.flights.open(id, opening);
            }
            Err(status) => {
                // Like a callout that failed: a stale decision first, then onError.
                let error = CalloutError::Unreachable(Unreachable::Dispatch(status));
                super::explain::explain(call.config(), &mut self.throttle, host, &error);
                let now = call.started_ms.or_else(|| host.now_ms().ok());
                let outcome = call
                    .authz
                    .failed(host, &call.walk.key, error, now, call.cap_ms);
                self.conclude(host, out, ctx, call.authz, outcome, false, call.paused);
            }
        }
    }

    /// An answer's headers: a JWKS fetch's or a callout's. Only what is used is read of the body:
    /// a deny passes its body on, and only `maxDenyBodyBytes` of it.
    pub(super) fn answer_head<'e>(
        &mut self,
        host: &dyn Host,
        out: &mut Output<'e>,
        call: CallId,
        headers: Option<Pairs<'e>>,
        body_size: usize,
    ) {
        if self.jwks_fetches.contains_key(&call) {
            return self.jwks_head(host, out, call, headers, body_size);
        }
        if self.is_feed_read(call) {
            return self.feed_head(host, out, call, headers, body_size);
        }
        let Some(headers) = headers else {
            return self.land(host, out, call, Reply::Http(Err(CalloutError::Malformed)));
        };
        let wanted = match self.flights.owner(call) {
            Some(a) if response::body_wanted(headers) => {
                body_size.min(a.config().max_deny_body_bytes)
            }
            _ => 0,
        };
        if wanted > 0 {
            out.actions.push(Action::ReadBody { bytes: wanted });
            return;
        }
        let answer = Ok(Answer { headers, body: b"" });
        self.land(host, out, call, Reply::Http(answer));
    }

    pub(super) fn answer_body<'e>(
        &mut self,
        host: &dyn Host,
        out: &mut Output<'e>,
        call: CallId,
        headers: Pairs<'e>,
        body: Option<&'e [u8]>,
    ) {
        if self.jwks_fetches.contains_key(&call) {
            return self.jwks_landed(host, out, call, body.ok_or("body unreadable".to_string()));
        }
        if self.is_feed_read(call) {
            return self.feed_landed(host, call, body.ok_or("body unreadable".to_string()));
        }
        let answer = body
            .map(|body| Answer { headers, body })
            .ok_or(CalloutError::Malformed);
        self.land(host, out, call, Reply::Http(answer));
    }

    /// The auth service answered (or the call failed) for callout `call`: its outcome to the
    /// requests that get it; those it was not made for read their headers again to ask
    /// themselves. An answer to a callout not in flight (dropped by a reconfiguration, or a
    /// duplicate) does nothing.
    pub(super) fn land(
        &mut self,
        host: &dyn Host,
        out: &mut Output<'_>,
        call: CallId,
        reply: Reply<'_>,
    ) {
        let Some(flight) = self.flights.land(call) else {
            log::debug!("answer to unknown callout {call} ignored");
            return;
        };
        let now = host.now_ms().ok();
        if let (Some(start), Some(now)) = (flight.started_ms, now) {
            host.observe(Histogram::CalloutDurationMs, now.saturating_sub(start));
        }
        let config = flight.owner.config();
        let judged = match reply {
            Reply::Http(a) => a.and_then(|a| response::judge(config, a.headers, a.body)),
            Reply::GrpcMessage(m) => super::grpc::judge(host, config, m),
            Reply::GrpcStatus { code, message } => Err(crate::grpc::status::error(code, message)),
        };
        let (outcome, sharing) =
            flight
                .owner
                .finish_judged(host, &flight.key, judged, now, flight.cap_ms);
        // Explained even when a stale decision serves: the service is failing all the same.
        if let Outcome::Error(e) | Outcome::Stale(_, e) = &outcome {
            super::explain::explain(flight.owner.config(), &mut self.throttle, host, e);
        }
        if sharing == Sharing::OpenerOnly {
            log::debug!(
                "{:?}: the answer was made for one client (set-cookie, private, no-store or no-cache); the other waiters ask again",
                flight.key
            );
        }
        let (answered, ask_again) = flight.recipients(sharing);
        for ctx in answered {
            let owner = std::rc::Rc::clone(&flight.owner);
            self.conclude(host, out, ctx, owner, outcome.clone(), false, true);
        }
        for Waiter { ctx, cap_ms } in ask_again {
            self.requests.entry(ctx).or_default().waits = Some(Waits::AskAgain {
                authz: std::rc::Rc::clone(&flight.owner),
                cap_ms,
            });
            out.actions.push(Action::ReadHeaders { ctx });
        }
    }
}
