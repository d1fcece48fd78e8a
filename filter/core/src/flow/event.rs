//! What the adapter tells the flow, and what it gets back.

use super::{Action, CallId, CallOut, Ctx, FeedRead, JwksFetch};
use crate::engine::Authorizer;

/// Header (or trailer) pairs as the host gave them; values are bytes, never assumed UTF-8.
pub type Pairs<'e> = &'e [(&'e str, &'e [u8])];

/// Everything the adapter sees that the flow must know of.
pub enum Event<'e> {
    /// A (new) valid plugin configuration for this root context.
    Configure(Box<Authorizer>),
    /// A request's headers, at their arrival; `end_of_stream`: they end the stream (no body).
    RequestHeaders {
        ctx: Ctx,
        headers: Pairs<'e>,
        end_of_stream: bool,
    },
    /// A waiting request's headers, read again because the flow asked (`Action::ReadHeaders`).
    HeadersReread { ctx: Ctx, headers: Pairs<'e> },
    /// A piece of the request's body arrived.
    RequestBody { ctx: Ctx },
    /// The request's trailers arrived.
    RequestTrailers { ctx: Ctx, trailers: Pairs<'e> },
    /// The host took the callout (`Ok(id)`) or refused it (why), as asked by `Action::CallOut`.
    CalledOut {
        call: CallOut<'e>,
        result: Result<CallId, String>,
    },
    /// The host took the JWKS fetch (`Ok(id)`) or refused it, as asked by `Action::FetchJwks`.
    JwksDispatched {
        fetch: JwksFetch,
        result: Result<CallId, String>,
    },
    /// The host took the feed read (`Ok(id)`) or refused it, as asked by `Action::FetchFeed`.
    FeedDispatched {
        read: FeedRead,
        result: Result<CallId, String>,
    },
    /// A callout's answer arrived: its headers (`None`: unreadable; empty: no answer at all, as
    /// Envoy reports a reset) and the size of its body.
    AnswerHead {
        call: CallId,
        headers: Option<Pairs<'e>>,
        body_size: usize,
    },
    /// The part of the answer's body the flow asked for (`Action::ReadBody`; `None`: unreadable),
    /// with the answer's headers again.
    AnswerBody {
        call: CallId,
        headers: Pairs<'e>,
        body: Option<&'e [u8]>,
    },
    /// A gRPC call answered: its CheckResponse arrived, of `size` bytes (`proxy_on_grpc_receive`;
    /// for a unary call Envoy sends no close after it).
    GrpcReceived { call: CallId, size: usize },
    /// The CheckResponse the flow asked for (`Action::ReadGrpc`; `None`: unreadable).
    GrpcRead {
        call: CallId,
        message: Option<&'e [u8]>,
    },
    /// A gRPC call failed with this status code and message (`proxy_on_grpc_close`; for a
    /// unary call Envoy sends it only when no CheckResponse came).
    GrpcClosed {
        call: CallId,
        code: u32,
        message: &'e [u8],
    },
    /// The root context's timer.
    Tick,
    /// A hostcall that carried out an action for request `ctx` failed (or the request's headers
    /// could not be read): it fails closed. `what` says what failed, for the log.
    HostFailed { ctx: Ctx, what: String },
    /// The request ended (answered, or its client gone).
    Gone { ctx: Ctx },
}

/// What to do now, in order.
#[derive(Default)]
pub struct Output<'e> {
    pub actions: Vec<Action<'e>>,
    /// For a request's body or trailers: whether it goes on now (`false`: held while it waits).
    /// At request headers, a `Conclude` of that request that is not resumed and goes on
    /// (`Verdict::Continue`) lets it go on; anything else holds it.
    pub proceed: bool,
}

/// The `:status` of a fetch's answer (a JWKS, the revocation feed), as their body rules read it:
/// `Err` when the headers were unreadable, `Ok(None)` for no answer at all (a reset), else the
/// value (empty when the answer has none).
pub(super) fn fetch_status(headers: Option<Pairs<'_>>) -> Result<Option<&[u8]>, String> {
    match headers {
        None => Err("answer headers unreadable".into()),
        Some([]) => Ok(None),
        Some(h) => Ok(Some(
            h.iter()
                .find(|(n, _)| *n == ":status")
                .map_or(&b""[..], |(_, v)| *v),
        )),
    }
}
