//! The example auth service, gRPC style: `envoy.service.auth.v3.Authorization/Check` over HTTP/2 on
//! 127.0.0.1, deciding with the same rules, tokens file and identity headers as the HTTP example
//! service (`auth::decide`), and recording every CheckRequest it receives.
//!
//! Built on hyper's HTTP/2 server and `prost` messages written by hand (`messages`): no tonic, no
//! protoc, and nothing shared with the module's own protobuf codec, so the two implementations
//! check each other. Only unary, uncompressed calls (all Envoy makes).

/// The messages, as the core's tests also use them: hand-written `prost` structs, independent of
/// the module's own codec.
pub use mesh_authz_core::grpc::envoy_protos as messages;
pub mod parity;

use crate::auth::decide::{decide, CalloutHead};
use crate::auth::Tokens;
use crate::error::io;
use crate::HarnessError;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming};
use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper::{HeaderMap, Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use messages::{CheckRequest, CheckResponse};
use prost::Message;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::net::TcpListener;
use tokio::runtime::Runtime;

pub const CHECK_PATH: &str = "/envoy.service.auth.v3.Authorization/Check";
/// Recorded requests are capped so a long run cannot grow memory without bound.
const MAX_RECORDED: usize = 10_000;

/// google.rpc.Code values the service answers with.
pub const OK: i32 = 0;
pub const PERMISSION_DENIED: i32 = 7;
pub const UNAUTHENTICATED: i32 = 16;

struct State {
    tokens: Tokens,
    received: Mutex<Vec<CheckRequest>>,
    /// Milliseconds each answer waits before it goes (single flight is seen while it waits).
    delay_ms: std::sync::atomic::AtomicU64,
}

/// The service, running on its own small runtime until dropped.
pub struct GrpcAuthService {
    addr: SocketAddr,
    state: Arc<State>,
    _runtime: Runtime,
}

impl GrpcAuthService {
    /// Serves on a free port of 127.0.0.1.
    pub fn spawn(tokens: Tokens) -> Result<Self, HarnessError> {
        Self::spawn_on(SocketAddr::from(([127, 0, 0, 1], 0)), tokens)
    }

    pub fn spawn_on(addr: SocketAddr, tokens: Tokens) -> Result<Self, HarnessError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("grpc-auth")
            .enable_all()
            .build()
            .map_err(io("starting a tokio runtime"))?;
        let std_listener =
            std::net::TcpListener::bind(addr).map_err(io(format!("binding {addr}")))?;
        let addr = std_listener.local_addr().map_err(io("local_addr"))?;
        std_listener
            .set_nonblocking(true)
            .map_err(io("set_nonblocking"))?;
        let listener = {
            let _guard = runtime.enter();
            TcpListener::from_std(std_listener).map_err(io("registering the listener"))?
        };
        let state = Arc::new(State {
            tokens,
            received: Mutex::new(Vec::new()),
            delay_ms: std::sync::atomic::AtomicU64::new(0),
        });
        runtime.spawn(accept(listener, Arc::clone(&state)));
        Ok(GrpcAuthService {
            addr,
            state,
            _runtime: runtime,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every answer waits this long from now on (0: none).
    pub fn set_delay(&self, delay: std::time::Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.state
            .delay_ms
            .store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    /// Every CheckRequest received so far, in order.
    pub fn received(&self) -> Vec<CheckRequest> {
        self.state
            .received
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }
}

async fn accept(listener: TcpListener, state: Arc<State>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let state = Arc::clone(&state);
                async move { Ok::<_, Infallible>(handle(&state, req).await) }
            });
            let _ = http2::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(state: &State, req: Request<Incoming>) -> Response<GrpcBody> {
    if req.uri().path() != CHECK_PATH {
        return grpc_error(12, "unknown method");
    }
    let Ok(body) = req.into_body().collect().await else {
        return grpc_error(13, "request body not readable");
    };
    let body = body.to_bytes();
    let Some(check) = unframe(&body).and_then(|m| CheckRequest::decode(m).ok()) else {
        return grpc_error(3, "not a CheckRequest");
    };
    let response = answer(&state.tokens, &check);
    if let Ok(mut r) = state.received.lock() {
        if r.len() < MAX_RECORDED {
            r.push(check);
        }
    }
    let delay = state.delay_ms.load(std::sync::atomic::Ordering::Relaxed);
    if delay > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    }
    grpc_ok(&response.encode_to_vec())
}

/// The example rules applied to a CheckRequest: the path, `authorization`, `cookie` and `accept`
/// from `attributes.request.http`, as the HTTP service reads them from its callout.
pub fn answer(tokens: &Tokens, check: &CheckRequest) -> CheckResponse {
    let http = check
        .attributes
        .as_ref()
        .and_then(|a| a.request.as_ref())
        .and_then(|r| r.http.clone())
        .unwrap_or_default();
    let header = |name: &str| http.headers.get(name).map(String::as_str);
    let head = CalloutHead {
        path: &http.path,
        authorization: header("authorization"),
        cookie: header("cookie"),
        accept: header("accept"),
    };
    let a = decide(tokens, "", &head, None);
    let headers = a
        .headers
        .iter()
        .map(|(k, v)| messages::header(k, v))
        .collect();
    if (200..300).contains(&a.status) {
        return CheckResponse {
            status: Some(messages::Status::default()),
            ok_response: Some(messages::OkHttpResponse {
                headers,
                ..Default::default()
            }),
            ..Default::default()
        };
    }
    let code = if a.status == 401 {
        UNAUTHENTICATED
    } else {
        PERMISSION_DENIED
    };
    CheckResponse {
        status: Some(messages::Status {
            code,
            message: String::new(),
        }),
        denied_response: Some(messages::DeniedHttpResponse {
            status: Some(messages::HttpStatus {
                code: i32::from(a.status),
            }),
            headers,
            body: a.body,
        }),
        ..Default::default()
    }
}

/// A gRPC message frame: not compressed, a 4-byte big-endian length, the message.
pub fn frame(message: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(5 + message.len());
    out.push(0);
    out.extend_from_slice(&(message.len() as u32).to_be_bytes());
    out.extend_from_slice(message);
    Bytes::from(out)
}

/// The message of one uncompressed frame; `None` for anything else.
pub fn unframe(body: &[u8]) -> Option<&[u8]> {
    let (&flag, rest) = body.split_first()?;
    let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    let message = rest.get(4..)?;
    (flag == 0 && message.len() == len).then_some(message)
}

fn grpc_ok(message: &[u8]) -> Response<GrpcBody> {
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", hyper::header::HeaderValue::from_static("0"));
    respond(Some(frame(message)), trailers)
}

fn grpc_error(code: u8, message: &'static str) -> Response<GrpcBody> {
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", u16::from(code).into());
    trailers.insert(
        "grpc-message",
        hyper::header::HeaderValue::from_static(message),
    );
    respond(None, trailers)
}

fn respond(data: Option<Bytes>, trailers: HeaderMap) -> Response<GrpcBody> {
    let mut r = Response::new(GrpcBody {
        data,
        trailers: Some(trailers),
    });
    r.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/grpc"),
    );
    r
}

/// One data frame, then the trailers that carry `grpc-status`.
pub struct GrpcBody {
    data: Option<Bytes>,
    trailers: Option<HeaderMap>,
}

impl Body for GrpcBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(data) = self.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t))))
    }
}

#[cfg(test)]
mod tests {
    use super::messages::{AttributeContext, HttpRequest};
    use super::*;

    fn check(path: &str, headers: &[(&str, &str)]) -> CheckRequest {
        CheckRequest {
            attributes: Some(AttributeContext {
                request: Some(messages::Request {
                    http: Some(HttpRequest {
                        path: path.into(),
                        headers: headers
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn decisions_follow_the_http_example_service() {
        let tokens = Tokens::example();
        let allow = answer(
            &tokens,
            &check("/api", &[("authorization", "Bearer alice-token")]),
        );
        assert_eq!(allow.status.as_ref().map(|s| s.code), Some(OK));
        let ok = allow.ok_response.unwrap();
        assert!(ok.headers.iter().any(|h| h
            .header
            .as_ref()
            .is_some_and(|h| h.key == "x-user-id" && h.value == "alice")));
        let none = answer(&tokens, &check("/api", &[]));
        assert_eq!(none.status.as_ref().map(|s| s.code), Some(UNAUTHENTICATED));
        assert_eq!(
            none.denied_response.and_then(|d| d.status).map(|s| s.code),
            Some(401)
        );
        let admin = answer(
            &tokens,
            &check("/admin", &[("authorization", "Bearer bob-token")]),
        );
        assert_eq!(
            admin.status.as_ref().map(|s| s.code),
            Some(PERMISSION_DENIED)
        );
    }

    #[test]
    fn frames_round_trip_and_bad_ones_are_refused() {
        let f = frame(b"abc");
        assert_eq!(unframe(&f), Some(b"abc".as_slice()));
        assert_eq!(unframe(b""), None);
        assert_eq!(unframe(b"\x01\x00\x00\x00\x01a"), None, "compressed");
        assert_eq!(unframe(b"\x00\x00\x00\x00\x02a"), None, "short");
    }
}
