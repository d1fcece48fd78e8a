//! The request flow of one root context, as one state machine with no I/O. The adapter feeds it
//! every event it sees through one entry point, [`Flow::handle`], and carries out the actions that
//! come back, in order, without deciding anything itself (rustls' `ConnectionCommon` and hyper's h1
//! `Conn` have the same shape: the protocol is a value, the I/O is the caller's).
//!
//! The names, used the same way in code, tests, logs and the README:
//! - a **request** is one HTTP stream, numbered by its context id ([`Ctx`]);
//! - a **callout** is one HTTP call the root context makes, to the auth service or to fetch a
//!   JWKS or read the revocation **feed**, numbered by the host's call id ([`CallId`]); a callout
//!   to the auth service that others may wait on is a **flight** (`flight.rs`);
//! - a **decision** is what the auth service said (cached at two levels); an **outcome** is how a
//!   request's authorization ended (a decision, a bypass, an error under `onError`, ...); a
//!   **conclusion** is an outcome applied to one request: what Envoy does with it;
//! - a **token** is a JWT in a request; its issuer's **JWKS** are fetched by the root context.
//!
//! The events, and what comes back:
//! - `RequestHeaders`: strip client-sent identity, then conclude (bypass, cache hit, bad request),
//!   call out, wait on a flight, or wait for a JWKS (fetching it);
//! - `CalledOut` / `JwksDispatched` / `FeedDispatched`: the host's answer to a dispatch: a refused
//!   callout concludes under `onError`; a refused feed read counts as a failed one;
//! - `AnswerHead`, then `AnswerBody` when asked (`ReadBody`): a callout's answer; its waiters
//!   conclude, and those it was not made for read their headers again (`ReadHeaders`,
//!   `HeadersReread`) and make their own callout;
//! - `GrpcReceived`, then `GrpcRead` when asked (`ReadGrpc`): a gRPC callout's CheckResponse;
//!   `GrpcClosed`: its failure, with its status; either lands as an HTTP answer does;
//! - `RequestBody` / `RequestTrailers`: held while the request waits (trailers stripped first);
//! - `Tick`: JWKS fetches and the revocation feed read due, requests whose keys came in another
//!   VM, and the gauges;
//! - `HostFailed`: a hostcall that carried out an action failed: the request fails closed;
//! - `Gone`: the request ended; it leaves any flight it waited on, which goes on for the others.

use crate::engine::Authorizer;
use crate::flight::Flights;
use crate::ids::IdMap;
use crate::jwt::Removal;
use crate::throttle::Throttle;
use std::rc::Rc;

mod action;
mod answer;
mod arrive;
mod call;
mod event;
mod explain;
mod feed;
mod grpc;
mod jwks;

pub use action::{Action, CallOut, Conclusion, FeedRead, Gauges, JwksFetch, Part, Verdict};
pub use call::{GrpcCall, Request};
pub use event::{Event, Output};
pub use jwks::FetchRequest;

/// A request (stream) context id, as the host numbers them.
pub type Ctx = u32;
/// A callout's id, as the host returns it from `dispatch_http_call`.
pub type CallId = u32;

/// The flow state of one root context: its configuration, the callouts in flight and the
/// requests that wait.
#[derive(Default)]
pub struct Flow {
    authz: Option<Rc<Authorizer>>,
    /// Each flight keeps the `Authorizer` it was made under: a new configuration never judges an
    /// answer to a callout made under the old one.
    flights: Flights<Rc<Authorizer>>,
    /// What the flow keeps of requests beyond the flights: only those that wait for something
    /// other than a flight, or carry a token to remove. A cache hit leaves nothing here.
    requests: IdMap<Held>,
    /// JWKS fetches in flight: the configuration and provider each is for.
    jwks_fetches: IdMap<(Rc<Authorizer>, usize)>,
    /// The revocation feed read in flight (one at a time per VM): its call and the
    /// configuration whose follower asked.
    feed_read: Option<(CallId, Rc<Authorizer>)>,
    throttle: Throttle,
}

/// A request the flow keeps between events.
#[derive(Default)]
struct Held {
    /// What to take out of the request before it goes upstream (`forwardToken: false`).
    removal: Option<Removal>,
    /// Why it waits, when not on a flight.
    waits: Option<Waits>,
    /// Its cached decision was revoked: it was asked again because of a revocation.
    revoked: bool,
}

#[derive(Clone)]
enum Waits {
    /// For a provider's JWKS; its headers are decided again when they come. `end_of_stream`: the
    /// headers ended the stream, which a second read of them cannot tell.
    Jwks {
        provider: usize,
        end_of_stream: bool,
    },
    /// Its flight's answer was made for another client: it makes its own callout on its own
    /// headers, with its own cap (its token's `exp`).
    AskAgain {
        authz: Rc<Authorizer>,
        cap_ms: Option<u64>,
    },
}

impl Flow {
    /// The one entry point: what happened, and what to do now.
    pub fn handle<'e>(&mut self, host: &dyn crate::host::Host, event: Event<'e>) -> Output<'e> {
        let mut out = Output::default();
        match event {
            Event::Configure(authz) => {
                // A new configuration: new requests use it (with an empty cache); callouts in
                // flight are still judged by the one they were made under. Its JWKS are fetched
                // now, not a tick later: until they land, tokens get onError.
                self.authz = Some(Rc::from(authz));
                self.tick(host, &mut out, false);
            }
            Event::RequestHeaders {
                ctx,
                headers,
                end_of_stream,
            } => self.arrive(host, &mut out, ctx, headers, end_of_stream, false),
            Event::HeadersReread { ctx, headers } => self.reread(host, &mut out, ctx, headers),
            Event::RequestBody { ctx } => out.proceed = !self.is_waiting(ctx),
            Event::RequestTrailers { ctx, trailers } => self.trailers(&mut out, ctx, trailers),
            Event::CalledOut { call, result } => self.called_out(host, &mut out, call, result),
            Event::JwksDispatched { fetch, result } => self.jwks_dispatched(fetch, result),
            Event::FeedDispatched { read, result } => self.feed_dispatched(host, read, result),
            Event::AnswerHead {
                call,
                headers,
                body_size,
            } => self.answer_head(host, &mut out, call, headers, body_size),
            Event::AnswerBody {
                call,
                headers,
                body,
            } => self.answer_body(host, &mut out, call, headers, body),
            Event::GrpcReceived { call, size } => self.grpc_received(&mut out, call, size),
            Event::GrpcRead { call, message } => self.grpc_read(host, &mut out, call, message),
            Event::GrpcClosed {
                call,
                code,
                message,
            } => self.grpc_closed(host, &mut out, call, code, message),
            Event::Tick => self.tick(host, &mut out, true),
            Event::HostFailed { ctx, what } => self.fail_closed(host, &mut out, ctx, &what),
            Event::Gone { ctx } => self.gone(ctx),
        }
        out
    }

    /// The request ended (answered, or its client gone).
    fn gone(&mut self, ctx: Ctx) {
        self.flights.leave(ctx);
        if !self.requests.is_empty() {
            self.requests.remove(&ctx);
        }
    }

    /// Whether `ctx` waits on a callout: its body and trailers must be held meanwhile.
    fn is_waiting(&self, ctx: Ctx) -> bool {
        self.flights.is_waiting(ctx)
            || self
                .requests
                .get(&ctx)
                .is_some_and(|held| held.waits.is_some())
    }

    /// Answers 500 when the filter cannot do its job safely: fail closed, never open. The request
    /// leaves whatever it waited on, so that no answer acts on it again.
    fn fail_closed(
        &mut self,
        host: &dyn crate::host::Host,
        out: &mut Output<'_>,
        ctx: Ctx,
        what: &str,
    ) {
        use crate::throttle::{held_back, Topic};
        // Once per window: every request could say it (one that arrives before any configuration).
        let now = host.now_ms().unwrap_or(0);
        if let Some(held) = self.throttle.admit(Topic::FailClosed, now) {
            log::error!("{what}; answering 500{}", held_back(held));
        }
        self.gone(ctx);
        out.proceed = false;
        out.actions.push(Action::FailClosed { ctx });
    }

    /// The current configuration's decisions cached at the worker level.
    fn cached_entries(&self) -> usize {
        self.authz.as_ref().map_or(0, |a| a.cached_entries())
    }
}

#[cfg(test)]
mod drive;
#[cfg(test)]
mod grpc_tests;
#[cfg(test)]
mod invariants;
#[cfg(test)]
mod revoke_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod trust_tests;
