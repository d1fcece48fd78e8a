//! One request: strip forged identity, ask the core what to do, join or make the callout, and carry
//! out the resulting `Action`. Every decision is the core's; this file only talks to Envoy.

use crate::abi::{self, CALL_RESPONSE_BODY, CALL_RESPONSE_HEADERS, REQUEST_HEADERS};
use crate::host::ProxyHost;
use crate::log_at;
use crate::strip;
use crate::vm;
use mesh_authz_core::decision::{CalloutError, Outcome};
use mesh_authz_core::host::{Host, Metric};
use mesh_authz_core::key::CacheKey;
use mesh_authz_core::request::RequestHead;
use mesh_authz_core::response::{self, Answer};
use mesh_authz_core::{Action, Authorizer, Start, Verdict};
use std::rc::Rc;

/// What `proxy_on_request_headers` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Flow {
    Continue = 0,
    Pause = 1,
}

/// Answers 500 when the filter cannot do its job safely: fail closed, never open.
pub(crate) fn fail_closed(ctx: u32, what: std::fmt::Arguments<'_>) -> Flow {
    log_at!(Error, ctx, "{what}; answering 500");
    let _ = abi::send_local_response(
        500,
        &[("content-type", b"text/plain")],
        b"internal error\n",
        "mesh_authz_internal_error",
    );
    Flow::Pause
}

pub fn on_request_headers(ctx: u32) -> Flow {
    let found = vm::with(|vm| {
        let root_id = vm.streams.get(&ctx)?.root;
        let root = vm.roots.get(&root_id)?;
        Some((root_id, root.authorizer.clone()?, root.host()))
    });
    match found.flatten() {
        Some((root_id, authz, host)) => authorize(ctx, root_id, &authz, &host),
        None => fail_closed(
            ctx,
            format_args!("request arrived before a valid configuration"),
        ),
    }
}

fn authorize(ctx: u32, root_id: u32, authz: &Rc<Authorizer>, host: &ProxyHost) -> Flow {
    let raw = match abi::header_map(REQUEST_HEADERS) {
        Ok(raw) => raw,
        Err(s) => return fail_closed(ctx, format_args!("could not read request headers ({s})")),
    };
    let headers = match abi::pairs(&raw) {
        Ok(h) => h,
        Err(e) => return fail_closed(ctx, format_args!("could not parse request headers ({e})")),
    };
    // A client can never bring its own identity, under any spelling: stripped before anything
    // else, whatever the request turns out to be (bypassed too).
    let names = headers.iter().map(|(n, _)| *n);
    if let Err((name, s)) = strip::forged(REQUEST_HEADERS, names, &authz.config().identity_headers)
    {
        return fail_closed(
            ctx,
            format_args!("could not remove client-sent {name} ({s})"),
        );
    }
    let req = RequestHead::new(&headers);
    let key = match authz.start(host, &req) {
        Start::Done(verdict) => return carry_out(ctx, authz, host, &verdict, false),
        Start::Miss(key) => key,
    };
    if authz.coalesces() {
        let joined = vm::with(|vm| {
            let token = vm.roots.get_mut(&root_id).and_then(|r| {
                let t = r.flights.find(&key)?;
                r.flights.join(t, ctx).then_some(t)
            })?;
            if let Some(s) = vm.streams.get_mut(&ctx) {
                s.waiting = Some(token);
            }
            Some(token)
        });
        if joined.flatten().is_some() {
            return Flow::Pause;
        }
    }
    dispatch(ctx, root_id, authz, host, key, &req, false)
}

/// Makes the callout for request `ctx` and pauses it until the answer. `again`: the request already
/// waited on a callout whose answer was made for another client; it is paused (so an outcome here
/// resumes it) and its callout is its own, never joined, so its answer cannot be handed round either.
fn dispatch(
    ctx: u32,
    root_id: u32,
    authz: &Rc<Authorizer>,
    host: &ProxyHost,
    key: CacheKey,
    req: &RequestHead<'_>,
    again: bool,
) -> Flow {
    let coalesce = authz.coalesces() && !again;
    let callout = match authz.callout_headers(req) {
        Ok(h) => h,
        Err(bad) => return carry_out(ctx, authz, host, &Outcome::BadRequest(bad), again),
    };
    let pairs: Vec<(&str, &[u8])> = callout.iter().map(|(n, v)| (*n, v.as_ref())).collect();
    let auth = &authz.config().auth;
    // The callout belongs to the root context, so that it outlives this request and can serve others.
    let dispatched = abi::set_effective_context(root_id)
        .and_then(|()| abi::http_call(&auth.cluster, &pairs, auth.timeout_ms));
    if let Err(s) = abi::set_effective_context(ctx) {
        log_at!(Warn, ctx, "could not return to the request's context ({s})");
    }
    match dispatched {
        Ok(token) => {
            host.count(Metric::Callouts);
            vm::with(|vm| {
                if let Some(r) = vm.roots.get_mut(&root_id) {
                    r.flights.open(token, key, Rc::clone(authz), ctx, coalesce);
                }
                if let Some(s) = vm.streams.get_mut(&ctx) {
                    s.waiting = Some(token);
                }
            });
            Flow::Pause
        }
        Err(s) => {
            log_at!(
                Warn,
                ctx,
                "callout to cluster '{}' not dispatched ({s}): check that the cluster exists in Envoy's configuration (Istio: outbound|PORT||FQDN of the auth service)",
                auth.cluster
            );
            carry_out(
                ctx,
                authz,
                host,
                &Outcome::Error(CalloutError::Dispatch(s.to_string())),
                again,
            )
        }
    }
}

/// The auth service answered (or the call failed) for the callout `token` of root `root_id`.
pub fn on_callout_answer(root_id: u32, token: u32, num_headers: usize, body_size: usize) {
    let Some((flight, host)) = vm::with(|vm| {
        let root = vm.roots.get_mut(&root_id)?;
        Some((root.flights.land(token)?, root.host()))
    })
    .flatten() else {
        log_at!(Debug, root_id, "answer to unknown callout {token} ignored");
        return;
    };
    let authz = &flight.owner;
    let raw = if num_headers == 0 {
        Ok(Vec::new())
    } else {
        abi::header_map(CALL_RESPONSE_HEADERS)
    };
    let (verdict, sharing) = match raw.as_ref().ok().and_then(|raw| abi::pairs(raw).ok()) {
        None => authz.finish(&host, &flight.key, Err(CalloutError::Malformed)),
        Some(headers) => {
            // The body is read from the host only for a deny, and only as much as is passed on.
            let body_max = if response::body_wanted(&headers) {
                body_size.min(authz.config().max_deny_body_bytes)
            } else {
                0
            };
            let body = if body_max == 0 {
                Ok(Vec::new())
            } else {
                abi::buffer(CALL_RESPONSE_BODY, body_max)
            };
            match body {
                Ok(body) => authz.finish(
                    &host,
                    &flight.key,
                    Ok(Answer {
                        headers: &headers,
                        body: &body,
                    }),
                ),
                Err(_) => authz.finish(&host, &flight.key, Err(CalloutError::Malformed)),
            }
        }
    };
    if let Outcome::Error(e) = &verdict {
        explain(root_id, authz, e);
    }
    let (answered, ask_again) = flight.recipients(sharing);
    for waiter in answered {
        stop_waiting(waiter);
        match abi::set_effective_context(waiter) {
            Ok(()) => {
                carry_out(waiter, authz, &host, &verdict, true);
            }
            Err(s) => log_at!(Debug, waiter, "request gone before its answer ({s})"),
        }
    }
    for waiter in ask_again {
        stop_waiting(waiter);
        if let Err(s) = abi::set_effective_context(waiter) {
            log_at!(Debug, waiter, "request gone before its answer ({s})");
            continue;
        }
        log_at!(
            Debug,
            waiter,
            "the answer was made for another client (set-cookie, private, no-store or no-cache): asking again"
        );
        call_out_again(waiter, root_id, authz, &host, flight.key);
    }
}

fn stop_waiting(ctx: u32) {
    vm::with(|vm| {
        if let Some(s) = vm.streams.get_mut(&ctx) {
            s.waiting = None;
        }
    });
}

/// Request `ctx` (the effective context) makes its own callout, on its own headers.
fn call_out_again(ctx: u32, root_id: u32, authz: &Rc<Authorizer>, host: &ProxyHost, key: CacheKey) {
    let raw = match abi::header_map(REQUEST_HEADERS) {
        Ok(raw) => raw,
        Err(s) => {
            fail_closed(ctx, format_args!("could not read request headers ({s})"));
            return;
        }
    };
    match abi::pairs(&raw) {
        Ok(headers) => {
            dispatch(
                ctx,
                root_id,
                authz,
                host,
                key,
                &RequestHead::new(&headers),
                true,
            );
        }
        Err(e) => {
            fail_closed(ctx, format_args!("could not parse request headers ({e})"));
        }
    }
}

/// True while the request waits on a callout (its body must not move on yet). If the state cannot
/// be read, it is treated as waiting: holding a body is safe, letting it through is not.
pub fn is_waiting(ctx: u32) -> bool {
    vm::with(|vm| vm.streams.get(&ctx).is_some_and(|s| s.waiting.is_some())).unwrap_or(true)
}

/// A context is deleted. A request (answered, or its client gone) leaves any flight it waited on.
pub fn on_delete(ctx: u32) {
    vm::with(|vm| {
        if let Some(stream) = vm.streams.remove(&ctx) {
            if let (Some(token), Some(root)) = (stream.waiting, vm.roots.get_mut(&stream.root)) {
                root.flights.leave(token, ctx);
            }
        }
        if let Some(mut root) = vm.roots.remove(&ctx) {
            root.close();
        }
    });
}

/// Carries out the outcome for request `ctx`. `resume`: the request was paused for a callout.
fn carry_out(
    ctx: u32,
    authz: &Authorizer,
    host: &ProxyHost,
    verdict: &Verdict,
    resume: bool,
) -> Flow {
    if let Outcome::BadRequest(bad) = verdict {
        // Info, not warn: any client can cause this line.
        log_at!(Info, ctx, "answering 400: {bad}");
    }
    match authz.conclude(host, verdict) {
        Action::Continue { identity } => {
            for (name, value) in identity {
                if let Err(s) = abi::add_header(REQUEST_HEADERS, name, value) {
                    return fail_closed(ctx, format_args!("could not set {name} upstream ({s})"));
                }
            }
            if resume {
                if let Err(s) = abi::resume_request() {
                    log_at!(
                        Warn,
                        ctx,
                        "could not resume the request ({s}); the client may have gone"
                    );
                }
            }
            Flow::Continue
        }
        Action::Respond {
            status,
            headers,
            body,
        } => {
            if let Err(s) = abi::send_local_response(status, &headers, body, "mesh_authz_denied") {
                log_at!(
                    Warn,
                    ctx,
                    "could not send the {status} reply ({s}); the client may have gone"
                );
            }
            Flow::Pause
        }
    }
}

fn explain(ctx: u32, authz: &Authorizer, error: &CalloutError) {
    let auth = &authz.config().auth;
    match error {
        CalloutError::NoResponse => log_at!(
            Warn,
            ctx,
            "no answer from the auth service on cluster '{}' within {} ms (timeout, refused connection or no healthy host): check the service, the cluster's endpoints and authService.timeoutMs",
            auth.cluster,
            auth.timeout_ms
        ),
        CalloutError::ServerError(s) => {
            log_at!(Warn, ctx, "auth service on cluster '{}' answered {s}: see the auth service's own logs", auth.cluster)
        }
        CalloutError::Malformed => {
            log_at!(Warn, ctx, "auth service on cluster '{}' answered without a valid :status", auth.cluster)
        }
        CalloutError::Dispatch(_) => {}
    }
}
