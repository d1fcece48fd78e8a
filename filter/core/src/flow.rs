//! The request flow of one root context, as a state machine with no I/O: the adapter reports what
//! happened (request headers, a callout dispatched or refused, a callout's answer, a request gone)
//! and carries out what comes back (strip these headers, reply, call out, wait, resume these
//! requests). Everything that decides, single flight included, lives here and is tested natively.
//!
//! A request's path through it:
//! - `request_headers`: the identity headers to strip, then `Next::Decided` (bypass, cache hit, bad
//!   request: carry it out now), `Next::Wait` (joined a callout in flight for the same key), or
//!   `Next::CallOut` (dispatch it, then report `dispatched`).
//! - `answered`: the callout's outcome and who gets it: the requests waiting on it, and those that
//!   must ask again because the answer was made for another client (`retry` gives their callout).
//! - `gone`: the request ended; it leaves any flight it waited on, which goes on for the others.

use crate::callout::{CalloutHeaders, Walk};
use crate::config::Config;
use crate::decision::{CalloutError, Outcome, Unreachable};
use crate::engine::{Authorizer, Start};
use crate::flight::{Flights, Opening, Sharing};
use crate::host::{Histogram, Host, Metric};
use crate::identity;
use crate::jwt::Removal;
use crate::request::RequestHead;
use crate::response::{self, Answer};
use crate::throttle::Throttle;
use std::collections::HashMap;
use std::rc::Rc;

/// A request (stream) context id, as the host numbers them.
pub type Ctx = u32;
/// A callout's token, as the host returns it from `dispatch_http_call`.
pub type Token = u32;

/// The flow state of one root context: its current configuration and the callouts in flight.
#[derive(Default)]
pub struct Gate {
    authz: Option<Rc<Authorizer>>,
    /// Each flight keeps the `Authorizer` it was made under: a new configuration never judges an
    /// answer to a callout made under the old one.
    flights: Flights<Rc<Authorizer>>,
    throttle: Throttle,
    /// What to take out of each request before it goes upstream (`forwardToken: false`).
    removals: HashMap<Ctx, Removal>,
    /// JWKS fetches in flight: the configuration and provider each is for.
    key_fetches: HashMap<Token, (Rc<Authorizer>, usize)>,
    /// Requests waiting for a provider's keys (a token with an unknown `kid`).
    key_waiters: Vec<KeyWaiter>,
}

/// What to do at request headers: strip `strip` (every value of each name), then `next`.
pub struct Headers<'r> {
    pub strip: Vec<&'r str>,
    pub next: Next<'r>,
}

pub enum Next<'r> {
    /// Decided without a callout: carry it out now.
    Decided(Rc<Authorizer>, Outcome),
    /// Joined a callout in flight: pause until `answered` names this request.
    Wait,
    /// Dispatch this callout, then report the result to `dispatched`.
    CallOut(CallOut<'r>),
    /// Wait for keys (like `Wait`), and dispatch this JWKS fetch from the root context first,
    /// then report it to `keys_dispatched`.
    FetchKeys(KeyFetch),
}

/// A callout to make, for the request it was walked from.
pub struct CallOut<'r> {
    authz: Rc<Authorizer>,
    walk: Walk<'r>,
    /// Later requests with the same key may wait on it.
    shared: bool,
    /// The clock as the request was looked up, when read then: the callout's start.
    started_ms: Option<u64>,
    /// The decision is not cached past this (the token's `exp`).
    cap_ms: Option<u64>,
}

impl CallOut<'_> {
    pub fn config(&self) -> &Config {
        self.authz.config()
    }

    pub fn headers(&self) -> CalloutHeaders<'_> {
        self.walk.headers(self.authz.config())
    }
}

/// A callout landed: its outcome, the requests that get it, and the requests that must make their
/// own callout (`retry`) because the answer was made for another client.
pub struct Landed {
    pub authz: Rc<Authorizer>,
    pub outcome: Outcome,
    pub answered: Vec<Ctx>,
    pub ask_again: Vec<Waiter>,
}

/// The request arrived before any configuration: answered 500 by the adapter, never let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotConfigured;

impl Gate {
    /// A new configuration: new requests use it (with an empty cache); callouts in flight are still
    /// judged by the one they were made under.
    pub fn configure(&mut self, authz: Authorizer) {
        self.authz = Some(Rc::new(authz));
    }

    pub fn request_headers<'r>(
        &mut self,
        host: &dyn Host,
        ctx: Ctx,
        req: &RequestHead<'r>,
    ) -> Result<Headers<'r>, NotConfigured> {
        let authz = self.authz.clone().ok_or(NotConfigured)?;
        // A client can never bring its own identity, under any spelling: stripped before anything
        // else, whatever the request turns out to be (bypassed too).
        let strip = identity::forged(
            req.pairs().map(|(n, _)| n),
            &authz.config().identity_headers,
        );
        let (start, removal) = authz.start_with(host, req);
        match removal {
            Some(r) => {
                self.removals.insert(ctx, r);
            }
            // A request decided again (after keys came) drops what an earlier pass planned.
            None if !self.removals.is_empty() => {
                self.removals.remove(&ctx);
            }
            None => {}
        }
        let (walk, looked_up_ms, cap_ms) = match start {
            Start::Done(outcome) => {
                explain::bad_request(&mut self.throttle, host, &outcome);
                return Ok(Headers {
                    strip,
                    next: Next::Decided(authz, outcome),
                });
            }
            Start::Miss(walk, looked_up_ms, cap_ms) => (walk, looked_up_ms, cap_ms),
            Start::AwaitKeys { provider, fetch } => {
                self.key_waiters.push(KeyWaiter {
                    rerun: Rerun {
                        ctx,
                        headers_only: req.headers_only(),
                    },
                    provider,
                });
                let next = match fetch {
                    Some(f) => Next::FetchKeys(KeyFetch {
                        authz,
                        provider: f.provider,
                        why: f.why,
                    }),
                    None => Next::Wait,
                };
                return Ok(Headers { strip, next });
            }
        };
        let shared = authz.coalesces();
        if shared {
            if let Some(token) = self.flights.find(&walk.key) {
                let waiter = Waiter { ctx, cap_ms };
                if self.flights.join(token, waiter) {
                    log::debug!("{:?} waits on the callout in flight for it", walk.key);
                    return Ok(Headers {
                        strip,
                        next: Next::Wait,
                    });
                }
            }
        }
        Ok(Headers {
            strip,
            next: Next::CallOut(CallOut {
                authz,
                walk,
                shared,
                started_ms: looked_up_ms,
                cap_ms,
            }),
        })
    }

    /// What to take out of request `ctx` before it goes upstream, once (`forwardToken: false`).
    pub fn take_removal(&mut self, ctx: Ctx) -> Option<Removal> {
        self.removals.remove(&ctx)
    }

    /// The names among request trailers `names` to strip: identity arrives in trailers too.
    pub fn trailers_to_strip<'t>(&self, names: impl IntoIterator<Item = &'t str>) -> Vec<&'t str> {
        match &self.authz {
            Some(a) => identity::forged(names, &a.config().identity_headers),
            None => Vec::new(),
        }
    }

    /// The callout of `ctx` was dispatched (`Ok(token)`: the request waits) or refused (`Err`:
    /// the outcome to carry out now, under `onError`).
    pub fn dispatched(
        &mut self,
        host: &dyn Host,
        ctx: Ctx,
        call: CallOut<'_>,
        result: Result<Token, String>,
    ) -> Option<(Rc<Authorizer>, Outcome)> {
        match result {
            Ok(token) => {
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
                self.flights.open(token, opening);
                None
            }
            Err(status) => {
                // Like a callout that failed: a stale decision first, then onError.
                let error = CalloutError::Unreachable(Unreachable::Dispatch(status));
                explain::explain(call.config(), &mut self.throttle, host, &error);
                let now = call.started_ms.or_else(|| host.now_ms().ok());
                let outcome = call
                    .authz
                    .failed(host, &call.walk.key, error, now, call.cap_ms);
                Some((call.authz, outcome))
            }
        }
    }

    /// How many bytes of the answer's body the adapter should read for callout `token`: only a deny
    /// passes its body on, and only `maxDenyBodyBytes` of it.
    pub fn body_wanted(&self, token: Token, headers: &[(&str, &[u8])], body_size: usize) -> usize {
        match self.flights.owner(token) {
            Some(a) if response::body_wanted(headers) => {
                body_size.min(a.config().max_deny_body_bytes)
            }
            _ => 0,
        }
    }

    /// The auth service answered (or the call failed) for `token`. `None` for a token that is not in
    /// flight (an answer after a reconfiguration dropped it, or a duplicate).
    pub fn answered(
        &mut self,
        host: &dyn Host,
        token: Token,
        answer: Result<Answer<'_>, CalloutError>,
    ) -> Option<Landed> {
        let flight = self.flights.land(token)?;
        let now = host.now_ms().ok();
        if let (Some(start), Some(now)) = (flight.started_ms, now) {
            host.observe(Histogram::CalloutDurationMs, now.saturating_sub(start));
        }
        let (outcome, sharing) =
            flight
                .owner
                .finish_at(host, &flight.key, answer, now, flight.cap_ms);
        // Explained even when a stale decision serves: the service is failing all the same.
        if let Outcome::Error(e) | Outcome::Stale(_, e) = &outcome {
            explain::explain(flight.owner.config(), &mut self.throttle, host, e);
        }
        if sharing == Sharing::OpenerOnly {
            log::debug!(
                "{:?}: the answer was made for one client (set-cookie, private, no-store or no-cache); the other waiters ask again",
                flight.key
            );
        }
        let (answered, ask_again) = flight.recipients(sharing);
        Some(Landed {
            authz: flight.owner,
            outcome,
            answered,
            ask_again,
        })
    }

    /// The callout of a request that must ask again (`Landed::ask_again`): its own, which nobody
    /// else can join, so that its answer cannot be handed round either. It carries the request's
    /// own cap: its decision is cached no longer than its token's `exp`, like a first ask's.
    pub fn retry<'r>(
        &mut self,
        host: &dyn Host,
        authz: &Rc<Authorizer>,
        waiter: Waiter,
        req: &RequestHead<'r>,
    ) -> Next<'r> {
        match crate::callout::walk(authz.config(), req) {
            Ok(walk) => Next::CallOut(CallOut {
                authz: Rc::clone(authz),
                walk,
                shared: false,
                started_ms: None,
                cap_ms: waiter.cap_ms,
            }),
            Err(bad) => {
                let outcome = Outcome::BadRequest(bad);
                explain::bad_request(&mut self.throttle, host, &outcome);
                Next::Decided(Rc::clone(authz), outcome)
            }
        }
    }

    /// The request ended (answered, or its client gone).
    pub fn gone(&mut self, ctx: Ctx) {
        self.flights.leave(ctx);
        self.removals.remove(&ctx);
        self.key_waiters.retain(|w| w.rerun.ctx != ctx);
    }

    /// Whether `ctx` waits on a callout: its body and trailers must be held meanwhile.
    pub fn is_waiting(&self, ctx: Ctx) -> bool {
        self.flights.is_waiting(ctx) || self.key_waiters.iter().any(|w| w.rerun.ctx == ctx)
    }

    pub fn in_flight(&self) -> usize {
        self.flights.in_flight()
    }

    pub fn waiting(&self) -> usize {
        self.flights.waiting()
    }

    pub fn cached_entries(&self) -> usize {
        self.authz.as_ref().map_or(0, |a| a.cached_entries())
    }
}

mod explain;
mod keys;

pub use crate::flight::Waiter;
use keys::KeyWaiter;
pub use keys::{FetchRequest, KeyFetch, KeysLanded, Rerun};

#[cfg(test)]
mod invariants;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod trust_tests;
