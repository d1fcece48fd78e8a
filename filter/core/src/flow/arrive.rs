//! A request's headers and trailers through the flow: stripped of client-sent identity, then
//! concluded now, sent to the auth service, or held until an answer or a JWKS comes.

use super::event::Pairs;
use super::{Action, CallOut, Conclusion, Ctx, Flow, Held, JwksFetch, Output, Part, Waits};
use crate::engine::{Authorizer, Start};
use crate::flight::Waiter;
use crate::host::Host;
use crate::identity;
use crate::request::RequestHead;
use crate::Outcome;
use std::rc::Rc;

impl Flow {
    /// Request headers: at arrival, or again once the JWKS it waited for came (`again`).
    pub(super) fn arrive<'e>(
        &mut self,
        host: &dyn Host,
        out: &mut Output<'e>,
        ctx: Ctx,
        headers: Pairs<'e>,
        end_of_stream: bool,
        again: bool,
    ) {
        let Some(authz) = self.authz.clone() else {
            return self.fail_closed(
                host,
                out,
                ctx,
                "request arrived before a valid configuration",
            );
        };
        // A client can never bring its own identity, under any spelling: stripped before anything
        // else, whatever the request turns out to be (bypassed too).
        let names = identity::forged(
            headers.iter().map(|(n, _)| *n),
            &authz.config().identity_headers,
        );
        if !names.is_empty() {
            out.actions.push(Action::Strip {
                ctx,
                part: Part::Headers,
                names,
            });
        }
        let req = RequestHead::new(headers).ending(end_of_stream);
        let (start, removal) = authz.start_with(host, &req);
        match removal {
            Some(r) => self.requests.entry(ctx).or_default().removal = Some(r),
            // A request decided again (after its JWKS came) drops what an earlier pass planned.
            None if again => {
                if let Some(held) = self.requests.get_mut(&ctx) {
                    held.removal = None;
                }
            }
            None => {}
        }
        let (walk, looked_up_ms, cap_ms) = match start {
            Start::Done(outcome) => {
                super::explain::bad_request(&mut self.throttle, host, &outcome);
                // Decided at request headers: a decision here came from a cache level.
                let cached = matches!(outcome, Outcome::Decided(_));
                return self.conclude(host, out, ctx, authz, outcome, cached, again);
            }
            Start::Miss(walk, looked_up_ms, cap_ms, revoked) => {
                if revoked {
                    self.requests.entry(ctx).or_default().revoked = true;
                }
                (walk, looked_up_ms, cap_ms)
            }
            Start::AwaitKeys { provider, fetch } => {
                self.requests.entry(ctx).or_default().waits = Some(Waits::Jwks {
                    provider,
                    end_of_stream,
                });
                if let Some(f) = fetch {
                    out.actions.push(Action::FetchJwks(JwksFetch {
                        authz,
                        provider: f.provider,
                    }));
                }
                return;
            }
        };
        if again {
            if let Some(held) = self.requests.get_mut(&ctx) {
                held.waits = None;
            }
        }
        let shared = authz.coalesces();
        if shared {
            if let Some(call) = self.flights.find(&walk.key) {
                if self.flights.join(call, Waiter { ctx, cap_ms }) {
                    log::debug!("{:?} waits on the callout in flight for it", walk.key);
                    return;
                }
            }
        }
        out.actions.push(Action::CallOut(CallOut {
            ctx,
            authz,
            walk,
            shared,
            started_ms: looked_up_ms,
            cap_ms,
            paused: again,
        }));
    }

    /// A waiting request's headers, read again: decided again on the JWKS there are now, or its
    /// own callout when the answer it waited on was made for another client. A request the flow
    /// no longer holds (gone meanwhile) gets nothing.
    pub(super) fn reread<'e>(
        &mut self,
        host: &dyn Host,
        out: &mut Output<'e>,
        ctx: Ctx,
        headers: Pairs<'e>,
    ) {
        let Some(waits) = self.requests.get(&ctx).and_then(|h| h.waits.clone()) else {
            return;
        };
        match waits {
            Waits::Jwks { end_of_stream, .. } => {
                self.arrive(host, out, ctx, headers, end_of_stream, true)
            }
            Waits::AskAgain { authz, cap_ms } => {
                if let Some(held) = self.requests.get_mut(&ctx) {
                    held.waits = None;
                }
                self.ask_again(host, out, ctx, authz, cap_ms, headers);
            }
        }
    }

    /// The callout of a request that must ask again: its own, which nobody else can join, so
    /// that its answer cannot be handed round either. It carries the request's own cap: its
    /// decision is cached no longer than its token's `exp`, like a first ask's.
    fn ask_again<'e>(
        &mut self,
        host: &dyn Host,
        out: &mut Output<'e>,
        ctx: Ctx,
        authz: Rc<Authorizer>,
        cap_ms: Option<u64>,
        headers: Pairs<'e>,
    ) {
        match authz.walk(host, &RequestHead::new(headers)) {
            Ok(walk) => out.actions.push(Action::CallOut(CallOut {
                ctx,
                authz,
                walk,
                shared: false,
                started_ms: None,
                cap_ms,
                paused: true,
            })),
            Err(bad) => {
                let outcome = Outcome::BadRequest(bad);
                super::explain::bad_request(&mut self.throttle, host, &outcome);
                self.conclude(host, out, ctx, authz, outcome, false, true);
            }
        }
    }

    /// Trailers lose any client-sent identity (a trailer can reach an upstream that merges
    /// trailers into headers), then are held like the body while the request waits.
    pub(super) fn trailers<'e>(&mut self, out: &mut Output<'e>, ctx: Ctx, trailers: Pairs<'e>) {
        if let Some(a) = &self.authz {
            let names = identity::forged(
                trailers.iter().map(|(n, _)| *n),
                &a.config().identity_headers,
            );
            if !names.is_empty() {
                out.actions.push(Action::Strip {
                    ctx,
                    part: Part::Trailers,
                    names,
                });
            }
        }
        out.proceed = !self.is_waiting(ctx);
    }

    /// Ends request `ctx` with `outcome`: counted now, carried out by the adapter. `resume`: the
    /// request was paused. One not paused that goes on is let go by its own callback's answer
    /// (the conclusion's verdict), not resumed.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn conclude(
        &mut self,
        host: &dyn Host,
        out: &mut Output<'_>,
        ctx: Ctx,
        authz: Rc<Authorizer>,
        outcome: Outcome,
        cached: bool,
        resume: bool,
    ) {
        // `out.proceed` stays as it is: the verdict says whether the request goes on.
        authz.count(host, &outcome);
        let held = if self.requests.is_empty() {
            None
        } else {
            self.requests.remove(&ctx)
        };
        let (removal, revoked) = held.map_or((None, false), |h: Held| (h.removal, h.revoked));
        let conclusion = Conclusion {
            ctx,
            authz,
            outcome,
            cached,
            removal,
            resume,
            revoked,
        };
        out.actions.push(Action::Conclude(conclusion));
    }
}
