//! The executor: an event goes to the root's `Flow`, and the actions that come back are carried
//! out with hostcalls, in order. Nothing here decides; where a hostcall fails, the flow is told
//! (`Event::HostFailed`) and says what happens to the request.
//!
//! The VM state is borrowed only to hand the flow an event; hostcalls that act on a request
//! (strip, reply, dispatch, resume) happen outside that borrow.

use crate::abi::{REQUEST_HEADERS, REQUEST_TRAILERS};
use crate::hostcalls::Hostcalls;
use crate::vm;
use mesh_authz_core::flow::{
    Action, CallId, Conclusion, Ctx, Event, Output, Part, Request, Verdict,
};
use mesh_authz_core::reply;
use std::borrow::Cow;

/// Context id 0 is never a context (the host numbers them from 1): a root not looked up yet.
const NO_ROOT: u32 = 0;

/// The answer whose events are being carried out: its body is read only when the flow asks.
#[derive(Clone, Copy)]
pub struct Reading<'a> {
    pub call: CallId,
    pub headers: &'a [(&'a str, &'a [u8])],
}

/// One host callback's worth of work for one root context.
pub struct Executor<'h, H: Hostcalls> {
    h: &'h H,
    /// The root context; for a request's callback, found with its first event.
    root: u32,
    /// The host's effective context now.
    current: u32,
    /// Requests whose actions failed: they have failed closed, nothing more is done for them.
    failed: Vec<Ctx>,
}

impl<'h, H: Hostcalls> Executor<'h, H> {
    /// For a callback the host made on context `current` (a request's, or the root's).
    pub fn new(h: &'h H, root: u32, current: u32) -> Self {
        Executor {
            h,
            root,
            current,
            failed: Vec::new(),
        }
    }

    /// For a callback the host made on request `ctx`, whose root is looked up with the first
    /// event (in the same borrow of the VM state).
    pub fn for_request(h: &'h H, ctx: u32) -> Self {
        Executor::new(h, NO_ROOT, ctx)
    }

    /// Hands `event` to the flow and carries out what comes back; whether the callback's own
    /// request goes on now. `None`: the flow could not be reached (no root, or the VM state is
    /// busy).
    pub fn run(&mut self, event: Event<'_>, reading: Option<Reading<'_>>) -> Option<bool> {
        let out = self.feed(event)?;
        Some(self.carry_out(out, reading))
    }

    fn feed<'e>(&mut self, event: Event<'e>) -> Option<Output<'e>> {
        let h = self.h;
        vm::with(|vm| {
            if self.root == NO_ROOT {
                self.root = *vm.streams.get(&self.current)?;
            }
            let root = vm.roots.get_mut(&self.root)?;
            let host = root.host(h);
            Some(root.flow.handle(&host, event))
        })
        .flatten()
    }

    fn carry_out(&mut self, out: Output<'_>, reading: Option<Reading<'_>>) -> bool {
        let mut proceed = out.proceed;
        for action in out.actions {
            proceed |= self.act(action, reading);
        }
        proceed
    }

    /// Whether the callback's request goes on, after `proceed` from the flow: not when it failed.
    pub fn proceeds(&self, ctx: Ctx, proceed: bool) -> bool {
        proceed && !self.failed.contains(&ctx)
    }

    fn act(&mut self, action: Action<'_>, reading: Option<Reading<'_>>) -> bool {
        match action {
            Action::Strip { ctx, part, names } => {
                if !self.enter(ctx) {
                    return false;
                }
                let map = match part {
                    Part::Headers => REQUEST_HEADERS,
                    Part::Trailers => REQUEST_TRAILERS,
                };
                for name in names {
                    if let Err(s) = self.h.remove_header(map, name) {
                        let what = match part {
                            Part::Headers => format!("could not remove client-sent {name} ({s})"),
                            Part::Trailers => {
                                format!("could not remove client-sent trailer {name} ({s})")
                            }
                        };
                        return self.fail(ctx, what);
                    }
                }
                false
            }
            Action::CallOut(call) => {
                let ctx = call.ctx;
                if self.failed.contains(&ctx) {
                    return false;
                }
                let result = match call.request() {
                    Some(request) => self
                        .h
                        .set_effective_context(self.root)
                        .and_then(|()| self.dispatch(request))
                        .map_err(|s| s.to_string()),
                    None => Err("no authService".to_string()),
                };
                self.current = self.root;
                self.enter(ctx);
                self.run(Event::CalledOut { call, result }, None)
                    .unwrap_or(false)
            }
            Action::FetchJwks(fetch) => {
                let back = self.current;
                let result = match fetch.request() {
                    Some(r) => {
                        let headers: Vec<(&str, Cow<'_, [u8]>)> = r
                            .headers
                            .into_iter()
                            .map(|(n, v)| (n, Cow::Borrowed(v)))
                            .collect();
                        self.h
                            .set_effective_context(self.root)
                            .and_then(|()| self.h.http_call(r.cluster, &headers, r.timeout_ms))
                            .map_err(|s| s.to_string())
                    }
                    None => Err("no remote JWKS for this provider".to_string()),
                };
                self.current = self.root;
                if back != self.root {
                    self.enter(back);
                }
                self.run(Event::JwksDispatched { fetch, result }, None);
                false
            }
            Action::FetchFeed(read) => {
                let back = self.current;
                let headers: Vec<(&str, Cow<'_, [u8]>)> = read
                    .headers()
                    .into_iter()
                    .map(|(n, v)| (n, Cow::Borrowed(v)))
                    .collect();
                let result = self
                    .h
                    .set_effective_context(self.root)
                    .and_then(|()| {
                        self.h
                            .http_call(&read.fetch.cluster, &headers, read.fetch.timeout_ms)
                    })
                    .map_err(|s| s.to_string());
                drop(headers);
                self.current = self.root;
                if back != self.root {
                    self.enter(back);
                }
                self.run(Event::FeedDispatched { read, result }, None);
                false
            }
            Action::ReadBody { bytes } => {
                let Some(r) = reading else {
                    log::debug!("a body read outside an answer ignored");
                    return false;
                };
                let body = self
                    .h
                    .buffer(crate::abi::CALL_RESPONSE_BODY, bytes)
                    .map_err(|s| log::debug!("answer body unreadable ({s})"))
                    .ok();
                let event = Event::AnswerBody {
                    call: r.call,
                    headers: r.headers,
                    body: body.as_deref(),
                };
                self.run(event, None).unwrap_or(false)
            }
            Action::ReadGrpc { call, bytes } => {
                let message = self
                    .h
                    .buffer(crate::abi::GRPC_RECEIVE_BUFFER, bytes)
                    .map_err(|s| log::debug!("gRPC message unreadable ({s})"))
                    .ok();
                let message = message.as_deref();
                self.run(Event::GrpcRead { call, message }, None)
                    .unwrap_or(false)
            }
            Action::ReadHeaders { ctx } => {
                if !self.enter(ctx) {
                    return false;
                }
                let raw = match self.h.header_map(REQUEST_HEADERS) {
                    Ok(raw) => raw,
                    Err(s) => {
                        return self.fail(ctx, format!("could not read request headers ({s})"))
                    }
                };
                match crate::abi::pairs(&raw) {
                    Ok(headers) => self
                        .run(
                            Event::HeadersReread {
                                ctx,
                                headers: &headers,
                            },
                            None,
                        )
                        .unwrap_or(false),
                    Err(e) => self.fail(ctx, format!("could not parse request headers ({e})")),
                }
            }
            Action::Conclude(c) => {
                // Not resumed and going on: the callback's own answer lets the request go on.
                self.enter(c.ctx) && self.conclude(&c) && !c.resume
            }
            Action::FailClosed { ctx } => {
                if self.enter(ctx) {
                    fail_closed_reply(self.h);
                }
                self.failed.push(ctx);
                false
            }
            Action::Gauges(g) => {
                let h = self.h;
                vm::with(|vm| {
                    if let Some(root) = vm.roots.get_mut(&self.root) {
                        root.gauges.record(h, &g);
                    }
                });
                false
            }
        }
    }

    /// Makes the call the flow planned, from the effective (root) context.
    fn dispatch(&self, request: Request<'_>) -> Result<CallId, crate::abi::HostStatus> {
        match request {
            Request::Http {
                cluster,
                headers,
                timeout_ms,
            } => self.h.http_call(cluster, &headers, timeout_ms),
            Request::Grpc(g) => self.h.grpc_call(
                &g.upstream,
                g.service,
                g.method,
                &g.metadata,
                &g.message,
                g.timeout_ms,
            ),
        }
    }

    /// Makes `ctx` the effective context; false (with nothing done) when the host no longer
    /// knows it or its actions failed before.
    fn enter(&mut self, ctx: Ctx) -> bool {
        if self.failed.contains(&ctx) {
            return false;
        }
        if self.current == ctx {
            return true;
        }
        crate::log::context(ctx);
        match self.h.set_effective_context(ctx) {
            Ok(()) => {
                self.current = ctx;
                true
            }
            Err(s) => {
                // Debug: any client can cause this line by going away.
                log::debug!("request gone before its answer ({s})");
                false
            }
        }
    }

    /// A hostcall for request `ctx` failed: the flow fails it closed.
    fn fail(&mut self, ctx: Ctx, what: String) -> bool {
        if self.run(Event::HostFailed { ctx, what }, None).is_none() {
            // The flow is out of reach (the VM state is busy): closed all the same.
            log::error!("a hostcall failed and the flow is busy; answering 500");
            fail_closed_reply(self.h);
        }
        self.failed.push(ctx);
        false
    }

    /// Carries out a conclusion for the effective request; whether it goes on.
    fn conclude(&mut self, c: &Conclusion) -> bool {
        let h = self.h;
        for (path, value) in c.properties() {
            let Some(value) = value else { continue };
            if let Err(s) = h.set_property(path, &value) {
                log::debug!("could not set {path} for the access log ({s})");
            }
        }
        match c.verdict() {
            Verdict::Continue { identity } => {
                if let Some(removal) = c.removal() {
                    if crate::removal::remove(h, removal).is_err() {
                        return self.fail(
                            c.ctx,
                            "could not remove the token before the upstream".to_string(),
                        );
                    }
                }
                for (name, value) in identity {
                    if let Err(s) = h.add_header(REQUEST_HEADERS, name, value) {
                        return self.fail(c.ctx, format!("could not set {name} upstream ({s})"));
                    }
                }
                if c.resume {
                    if let Err(s) = h.resume_request() {
                        // Debug: any client can cause this line by going away.
                        log::debug!("could not resume the request ({s}); the client may have gone");
                    }
                }
                true
            }
            Verdict::Respond {
                status,
                headers,
                body,
            } => {
                if let Err(s) = h.send_local_response(status, &headers, body, "mesh_authz_denied") {
                    log::debug!(
                        "could not send the {status} reply ({s}); the client may have gone"
                    );
                }
                false
            }
        }
    }
}

/// The 500 of a request that fails closed (`reply::fail_closed`), to the effective request.
pub fn fail_closed_reply(h: &impl Hostcalls) {
    if let Verdict::Respond {
        status,
        headers,
        body,
    } = reply::fail_closed()
    {
        let _ = h.send_local_response(status, &headers, body, "mesh_authz_internal_error");
    }
}
