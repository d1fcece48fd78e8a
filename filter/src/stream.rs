//! The host's events about requests and callout answers, read into the flow's events and run
//! through the executor. Reading is all this file does: what happens is the flow's.

use crate::abi::{pairs, Status, CALL_RESPONSE_HEADERS, REQUEST_HEADERS, REQUEST_TRAILERS};
use crate::execute::{fail_closed_reply, Executor, Reading};
use crate::hostcalls::Hostcalls;
use mesh_authz_core::flow::Event;

fn status(proceed: bool) -> Status {
    if proceed {
        Status::Continue
    } else {
        Status::Pause
    }
}

/// Runs a request's own event; a request the flow cannot be reached for fails closed, unchecked
/// requests never pass.
fn run_request(
    h: &impl Hostcalls,
    ctx: u32,
    event: impl FnOnce() -> Result<Status, String>,
) -> Status {
    match event() {
        Ok(s) => s,
        Err(what) => {
            let mut x = Executor::for_request(h, ctx);
            if x.run(Event::HostFailed { ctx, what }, None).is_none() {
                log::error!("request {ctx} failed and its flow is out of reach; answering 500");
                fail_closed_reply(h);
            }
            Status::Pause
        }
    }
}

/// Runs `event` for request `ctx` on its root; `Err` when the flow cannot be reached (a request
/// of no known root, or the VM state busy).
fn run(h: &impl Hostcalls, ctx: u32, event: Event<'_>) -> Result<Status, String> {
    let mut x = Executor::for_request(h, ctx);
    let proceed = x
        .run(event, None)
        .ok_or("the flow of the request is out of reach")?;
    Ok(status(x.proceeds(ctx, proceed)))
}

/// `end_of_stream`: the host said the headers end the stream.
pub fn on_request_headers(h: &impl Hostcalls, ctx: u32, end_of_stream: bool) -> Status {
    crate::log::context(ctx);
    run_request(h, ctx, || {
        let raw = h
            .header_map(REQUEST_HEADERS)
            .map_err(|s| format!("could not read request headers ({s})"))?;
        let headers = pairs(&raw).map_err(|e| format!("could not parse request headers ({e})"))?;
        let event = Event::RequestHeaders {
            ctx,
            headers: &headers,
            end_of_stream,
        };
        run(h, ctx, event)
    })
}

/// The body of a request that waits on its decision is held (buffered): the host's default would
/// let it go upstream before the request is authorized. If the state cannot be read, it is held.
pub fn on_request_body(h: &impl Hostcalls, ctx: u32) -> Status {
    run(h, ctx, Event::RequestBody { ctx }).unwrap_or(Status::Pause)
}

/// Trailers lose any client-sent identity, then are held like the body while the request waits.
///
/// Failing closed here is a local 500 as at request headers: the request's end (these trailers)
/// has not gone upstream, and Envoy turns a local reply into a reset of both sides when the
/// upstream's response has already started, so a forged trailer never reaches the upstream.
pub fn on_request_trailers(h: &impl Hostcalls, ctx: u32) -> Status {
    crate::log::context(ctx);
    run_request(h, ctx, || {
        let raw = h
            .header_map(REQUEST_TRAILERS)
            .map_err(|s| format!("could not read request trailers ({s})"))?;
        let trailers =
            pairs(&raw).map_err(|e| format!("could not parse request trailers ({e})"))?;
        run(
            h,
            ctx,
            Event::RequestTrailers {
                ctx,
                trailers: &trailers,
            },
        )
    })
}

/// A callout of root `root_id` answered (or failed): `call` is its id.
pub fn on_callout_answer(
    h: &impl Hostcalls,
    root_id: u32,
    call: u32,
    num_headers: usize,
    body_size: usize,
) {
    crate::log::context(root_id);
    let raw = if num_headers == 0 {
        Ok(Vec::new())
    } else {
        h.header_map(CALL_RESPONSE_HEADERS)
    };
    let headers = raw.as_ref().ok().and_then(|raw| pairs(raw).ok());
    let mut x = Executor::new(h, root_id, root_id);
    let reading = headers.as_deref().map(|headers| Reading { call, headers });
    let event = Event::AnswerHead {
        call,
        headers: headers.as_deref(),
        body_size,
    };
    if x.run(event, reading).is_none() {
        log::debug!("answer to callout {call} of an unknown root ignored");
    }
}

#[cfg(test)]
mod tests;
