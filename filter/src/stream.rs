//! Request events: each is read from the host, handed to the core's `Gate`, and the plan that comes
//! back is carried out with hostcalls. Every decision is the core's; this file only translates.
//!
//! The VM state is borrowed only to ask the `Gate`; hostcalls that act on a request (strip, reply,
//! dispatch, resume) happen outside that borrow.

use crate::abi::{
    pairs, Flow, CALL_RESPONSE_BODY, CALL_RESPONSE_HEADERS, REQUEST_HEADERS, REQUEST_TRAILERS,
};
use crate::host::Metrics;
use crate::hostcalls::Hostcalls;
use crate::root::Root;
use crate::vm;
use mesh_authz_core::decision::CalloutError;
use mesh_authz_core::flow::{CallOut, Landed, Next, Rerun, Waiter};
use mesh_authz_core::host::Host;
use mesh_authz_core::jwt::Removal;
use mesh_authz_core::reply;
use mesh_authz_core::request::RequestHead;
use mesh_authz_core::response::Answer;
use mesh_authz_core::throttle::{held_back, Topic};
use mesh_authz_core::{Action, Authorizer, Outcome};
use std::rc::Rc;

/// Answers 500 when the filter cannot do its job safely: fail closed, never open. The request
/// leaves any callout it waited on, so that the answer never acts on it again.
fn fail_closed(h: &impl Hostcalls, ctx: u32, what: std::fmt::Arguments<'_>) -> Flow {
    // Once per window: every request would say it (one that arrives before any configuration).
    let now = crate::host::ProxyHost {
        calls: h,
        metrics: Metrics::default(),
    }
    .now_ms()
    .unwrap_or(0);
    match vm::with(|vm| vm.log_throttle.admit(Topic::FailClosed, now)) {
        Some(None) => {}
        Some(Some(held)) => log::error!("{what}; answering 500{}", held_back(held)),
        // The VM state is busy (a re-entrant call): say it unthrottled rather than not at all.
        None => log::error!("{what}; answering 500"),
    }
    with_root(ctx, |_, root| root.gate.gone(ctx));
    if let Action::Respond {
        status,
        headers,
        body,
    } = reply::fail_closed()
    {
        let _ = h.send_local_response(status, &headers, body, "mesh_authz_internal_error");
    }
    Flow::Pause
}

/// Runs `f` on the root of request `ctx`, with the root's id.
fn with_root<R>(ctx: u32, f: impl FnOnce(u32, &mut Root) -> R) -> Option<R> {
    vm::with(|vm| {
        let root_id = *vm.streams.get(&ctx)?;
        let root = vm.roots.get_mut(&root_id)?;
        Some(f(root_id, root))
    })
    .flatten()
}

/// `headers_only`: the host said the headers end the stream.
pub fn on_request_headers(h: &impl Hostcalls, ctx: u32, headers_only: bool) -> Flow {
    crate::log::context(ctx);
    run_headers(h, ctx, headers_only, false)
}

/// Requests that waited for keys (the effective context is moved to each): decided again on the
/// keys there are now. The effective context is left on the last of them.
pub fn run_again(h: &impl Hostcalls, reruns: &[Rerun]) {
    for r in reruns {
        crate::log::context(r.ctx);
        match h.set_effective_context(r.ctx) {
            Ok(()) => {
                run_headers(h, r.ctx, r.headers_only, true);
            }
            Err(s) => log::debug!("request gone before its keys came ({s})"),
        }
    }
}

/// The request's headers through the gate; `headers_only`: they end the stream; `resume`: the
/// request is paused (it waited for keys).
fn run_headers(h: &impl Hostcalls, ctx: u32, headers_only: bool, resume: bool) -> Flow {
    let raw = match h.header_map(REQUEST_HEADERS) {
        Ok(raw) => raw,
        Err(s) => return fail_closed(h, ctx, format_args!("could not read request headers ({s})")),
    };
    let headers = match pairs(&raw) {
        Ok(p) => p,
        Err(e) => {
            return fail_closed(
                h,
                ctx,
                format_args!("could not parse request headers ({e})"),
            )
        }
    };
    let req = RequestHead::new(&headers).ending(headers_only);
    let planned = with_root(ctx, |root_id, root| {
        let host = root.host(h);
        let plan = root.gate.request_headers(&host, ctx, &req).ok()?;
        Some((root_id, root.metrics.unwrap_or_default(), plan))
    });
    let Some((root_id, metrics, plan)) = planned.flatten() else {
        return fail_closed(
            h,
            ctx,
            format_args!("request arrived before a valid configuration"),
        );
    };
    for name in &plan.strip {
        if let Err(s) = h.remove_header(REQUEST_HEADERS, name) {
            return fail_closed(
                h,
                ctx,
                format_args!("could not remove client-sent {name} ({s})"),
            );
        }
    }
    match plan.next {
        Next::Decided(authz, outcome) => {
            // Decided at request headers: a decision there came from a cache level.
            let cached = matches!(outcome, Outcome::Decided(_));
            carry_out(h, ctx, metrics, &authz, &outcome, Done { resume, cached })
        }
        Next::Wait => Flow::Pause,
        Next::CallOut(call) => dispatch(h, root_id, ctx, metrics, call, resume),
        Next::FetchKeys(fetch) => {
            crate::keys::dispatch(h, root_id, fetch);
            if let Err(s) = h.set_effective_context(ctx) {
                log::warn!("could not return to the request's context ({s})");
            }
            Flow::Pause
        }
    }
}

/// Dispatches `call` for request `ctx`: the callout belongs to the root context, so that it
/// outlives this request and can serve others. `resume`: the request is already paused.
fn dispatch(
    h: &impl Hostcalls,
    root_id: u32,
    ctx: u32,
    metrics: Metrics,
    call: CallOut<'_>,
    resume: bool,
) -> Flow {
    let headers = call.headers();
    let result = match call.config().auth.as_ref() {
        Some(auth) => h
            .set_effective_context(root_id)
            .and_then(|()| h.http_call(&auth.cluster, &headers, auth.timeout_ms))
            .map_err(|s| s.to_string()),
        None => Err("no authService".to_string()),
    };
    if let Err(s) = h.set_effective_context(ctx) {
        log::warn!("could not return to the request's context ({s})");
    }
    drop(headers);
    let refused = with_root(ctx, |_, root| {
        let host = root.host(h);
        root.gate.dispatched(&host, ctx, call, result)
    });
    match refused {
        Some(None) => Flow::Pause,
        Some(Some((authz, outcome))) => {
            carry_out(h, ctx, metrics, &authz, &outcome, Done::called(resume))
        }
        // The callout went out but nothing waits for it: its answer would find no flight.
        None => fail_closed(h, ctx, format_args!("request lost its root at dispatch")),
    }
}

/// The body of a request that waits on its decision is held (buffered): the host's default would
/// let it go upstream before the request is authorized. If the state cannot be read, it is held.
pub fn on_request_body(ctx: u32) -> Flow {
    match with_root(ctx, |_, root| root.gate.is_waiting(ctx)) {
        Some(false) => Flow::Continue,
        _ => Flow::Pause,
    }
}

/// Trailers lose any client-sent identity (a trailer can reach an upstream that merges trailers
/// into headers), then are held like the body while the request waits.
///
/// Failing closed here is a local 500 as at request headers: the request's end (these trailers)
/// has not gone upstream, and Envoy turns a local reply into a reset of both sides when the
/// upstream's response has already started, so a forged trailer never reaches the upstream.
pub fn on_request_trailers(h: &impl Hostcalls, ctx: u32) -> Flow {
    crate::log::context(ctx);
    let raw = match h.header_map(REQUEST_TRAILERS) {
        Ok(raw) => raw,
        Err(s) => {
            return fail_closed(
                h,
                ctx,
                format_args!("could not read request trailers ({s})"),
            )
        }
    };
    let trailers = match pairs(&raw) {
        Ok(t) => t,
        Err(e) => {
            return fail_closed(
                h,
                ctx,
                format_args!("could not parse request trailers ({e})"),
            )
        }
    };
    let names = trailers.iter().map(|(n, _)| *n);
    let Some(strip) = with_root(ctx, |_, root| root.gate.trailers_to_strip(names)) else {
        return fail_closed(h, ctx, format_args!("trailers of an unknown request"));
    };
    for name in strip {
        if let Err(s) = h.remove_header(REQUEST_TRAILERS, name) {
            return fail_closed(
                h,
                ctx,
                format_args!("could not remove client-sent trailer {name} ({s})"),
            );
        }
    }
    on_request_body(ctx)
}

/// The auth service answered (or the call failed) for the callout `token` of root `root_id`.
pub fn on_callout_answer(
    h: &impl Hostcalls,
    root_id: u32,
    token: u32,
    num_headers: usize,
    body_size: usize,
) {
    crate::log::context(root_id);
    if crate::keys::on_answer(h, root_id, token, num_headers, body_size) {
        return;
    }
    let raw = if num_headers == 0 {
        Ok(Vec::new())
    } else {
        h.header_map(CALL_RESPONSE_HEADERS)
    };
    let headers = raw.as_ref().ok().and_then(|raw| pairs(raw).ok());
    let body = match &headers {
        None => Err(CalloutError::Malformed),
        Some(headers) => {
            let wanted = vm::with(|vm| {
                vm.roots
                    .get(&root_id)
                    .map_or(0, |r| r.gate.body_wanted(token, headers, body_size))
            })
            .unwrap_or(0);
            if wanted == 0 {
                Ok(Vec::new())
            } else {
                h.buffer(CALL_RESPONSE_BODY, wanted)
                    .map_err(|_| CalloutError::Malformed)
            }
        }
    };
    let answer = match (&headers, &body) {
        (Some(headers), Ok(body)) => Ok(Answer { headers, body }),
        (_, Err(e)) => Err(e.clone()),
        (None, _) => Err(CalloutError::Malformed),
    };
    let landed = vm::with(|vm| {
        let root = vm.roots.get_mut(&root_id)?;
        let host = root.host(h);
        let landed = root.gate.answered(&host, token, answer)?;
        Some((root.metrics.unwrap_or_default(), landed))
    })
    .flatten();
    let Some((metrics, landed)) = landed else {
        log::debug!("answer to unknown callout {token} ignored");
        return;
    };
    let Landed {
        authz,
        outcome,
        answered,
        ask_again,
    } = landed;
    for waiter in answered {
        crate::log::context(waiter);
        match h.set_effective_context(waiter) {
            Ok(()) => {
                carry_out(h, waiter, metrics, &authz, &outcome, Done::called(true));
            }
            Err(s) => log::debug!("request gone before its answer ({s})"),
        }
    }
    for waiter in ask_again {
        crate::log::context(waiter.ctx);
        match h.set_effective_context(waiter.ctx) {
            Ok(()) => ask_again_for(h, root_id, waiter, metrics, &authz),
            Err(s) => log::debug!("request gone before its answer ({s})"),
        }
    }
}

/// Request `ctx` (the effective context) waited on a callout whose answer was made for another
/// client: it makes its own, on its own headers.
fn ask_again_for(
    h: &impl Hostcalls,
    root_id: u32,
    waiter: Waiter,
    metrics: Metrics,
    authz: &Rc<Authorizer>,
) {
    let ctx = waiter.ctx;
    let raw = match h.header_map(REQUEST_HEADERS) {
        Ok(raw) => raw,
        Err(s) => {
            fail_closed(h, ctx, format_args!("could not read request headers ({s})"));
            return;
        }
    };
    let headers = match pairs(&raw) {
        Ok(p) => p,
        Err(e) => {
            fail_closed(
                h,
                ctx,
                format_args!("could not parse request headers ({e})"),
            );
            return;
        }
    };
    let req = RequestHead::new(&headers);
    let next = with_root(ctx, |_, root| {
        let host = root.host(h);
        root.gate.retry(&host, authz, waiter, &req)
    });
    match next {
        Some(Next::CallOut(call)) => {
            dispatch(h, root_id, ctx, metrics, call, true);
        }
        Some(Next::Decided(authz, outcome)) => {
            carry_out(h, ctx, metrics, &authz, &outcome, Done::called(true));
        }
        Some(Next::Wait) | Some(Next::FetchKeys(_)) | None => {
            fail_closed(
                h,
                ctx,
                format_args!("request lost its root while asking again"),
            );
        }
    }
}

/// How a request reached its outcome.
#[derive(Debug, Clone, Copy)]
struct Done {
    /// The request was paused for a callout: resume it on a continue.
    resume: bool,
    /// Decided from a cache level, without a callout of its own.
    cached: bool,
}

impl Done {
    fn called(resume: bool) -> Done {
        Done {
            resume,
            cached: false,
        }
    }
}

/// Records the decision where Envoy's access log can print it (`%FILTER_STATE(wasm.mesh_authz.outcome:PLAIN)%`).
fn record(h: &impl Hostcalls, authz: &Authorizer, outcome: &Outcome, cached: bool) {
    let r = reply::record(authz.config(), outcome, cached);
    let status = r.auth_status.map(|s| s.to_string());
    let properties = [
        ("mesh_authz.outcome", Some(r.label.name().as_bytes())),
        (
            "mesh_authz.cached",
            Some(if r.cached {
                b"true".as_slice()
            } else {
                b"false"
            }),
        ),
        (
            "mesh_authz.auth_status",
            status.as_ref().map(|s| s.as_bytes()),
        ),
        ("mesh_authz.user", r.user),
    ];
    for (path, value) in properties {
        if let Some(value) = value {
            if let Err(s) = h.set_property(path, value) {
                log::debug!("could not set {path} for the access log ({s})");
            }
        }
    }
}

/// Carries out `outcome` for the effective request.
fn carry_out(
    h: &impl Hostcalls,
    ctx: u32,
    metrics: Metrics,
    authz: &Authorizer,
    outcome: &Outcome,
    done: Done,
) -> Flow {
    if authz.config().access_log {
        record(h, authz, outcome, done.cached);
    }
    let host = crate::host::ProxyHost { calls: h, metrics };
    match authz.conclude(&host, outcome) {
        Action::Continue { identity } => {
            if authz
                .config()
                .jwt
                .as_ref()
                .is_some_and(|j| j.removes_tokens())
            {
                if let Err(why) = remove_token(h, ctx) {
                    return fail_closed(h, ctx, why);
                }
            }
            for (name, value) in identity {
                if let Err(s) = h.add_header(REQUEST_HEADERS, name, value) {
                    return fail_closed(
                        h,
                        ctx,
                        format_args!("could not set {name} upstream ({s})"),
                    );
                }
            }
            if done.resume {
                if let Err(s) = h.resume_request() {
                    // Debug: any client can cause this line by going away.
                    log::debug!("could not resume the request ({s}); the client may have gone");
                }
            }
            Flow::Continue
        }
        Action::Respond {
            status,
            headers,
            body,
        } => {
            if let Err(s) = h.send_local_response(status, &headers, body, "mesh_authz_denied") {
                log::debug!("could not send the {status} reply ({s}); the client may have gone");
            }
            Flow::Pause
        }
    }
}

/// Takes the request's token out before it goes upstream, where its provider says so
/// (`forwardToken: false`).
fn remove_token(h: &impl Hostcalls, ctx: u32) -> Result<(), std::fmt::Arguments<'static>> {
    let Some(removal) = with_root(ctx, |_, root| root.gate.take_removal(ctx)).flatten() else {
        return Ok(());
    };
    let done = match &removal {
        Removal::Header(name) => h.remove_header(REQUEST_HEADERS, name),
        Removal::Cookies(None) => h.remove_header(REQUEST_HEADERS, "cookie"),
        Removal::Cookies(Some(kept)) => h
            .remove_header(REQUEST_HEADERS, "cookie")
            .and_then(|()| h.add_header(REQUEST_HEADERS, "cookie", kept)),
        Removal::Nothing => Ok(()),
    };
    done.map_err(|_| format_args!("could not remove the token before the upstream"))
}

#[cfg(test)]
mod tests;
