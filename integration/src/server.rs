//! The accept loop both test services share (hyper 1, HTTP/1.1 keep-alive) and a handle that runs
//! one in-process on its own small tokio runtime, stopped on drop.

use crate::error::io;
use crate::HarnessError;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::runtime::Runtime;

/// Response body type of both services: they answer from memory.
pub type Body = Full<Bytes>;

/// A service: one request in, one response out, never an error (errors are responses).
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, req: Request<Incoming>) -> impl Future<Output = Response<Body>> + Send;
}

/// Serves `handler` on `listener` until the runtime stops.
pub async fn serve<H: Handler>(listener: TcpListener, handler: Arc<H>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of file descriptors or similar: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let handler = Arc::clone(&handler);
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let handler = Arc::clone(&handler);
                async move { Ok::<_, Infallible>(handler.handle(req).await) }
            });
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

/// A service running in this process. Dropping it stops the runtime and closes the port.
pub struct ServerHandle {
    addr: SocketAddr,
    runtime: Option<Runtime>,
}

impl ServerHandle {
    /// Binds `addr` (port 0 for a free one) and serves `handler` on `threads` worker threads.
    pub fn spawn<H: Handler>(
        addr: SocketAddr,
        threads: usize,
        handler: Arc<H>,
    ) -> Result<Self, HarnessError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("mesh-authz-test-server")
            .enable_all()
            .build()
            .map_err(io("starting a tokio runtime"))?;
        let std_listener =
            std::net::TcpListener::bind(addr).map_err(io(format!("binding {addr}")))?;
        std_listener
            .set_nonblocking(true)
            .map_err(io("set_nonblocking"))?;
        let addr = std_listener.local_addr().map_err(io("local_addr"))?;
        let listener = {
            let _guard = runtime.enter();
            TcpListener::from_std(std_listener).map_err(io("registering the listener"))?
        };
        runtime.spawn(serve(listener, handler));
        Ok(ServerHandle {
            addr,
            runtime: Some(runtime),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// A response with a status, headers and a body; invalid header bytes are skipped, not fatal.
pub fn response(
    status: u16,
    headers: &[(String, String)],
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let map = resp.headers_mut();
    for (name, value) in headers {
        if let (Ok(n), Ok(v)) = (
            hyper::header::HeaderName::from_bytes(name.as_bytes()),
            hyper::header::HeaderValue::from_str(value),
        ) {
            map.append(n, v);
        }
    }
    resp
}

/// Header name/value pairs in arrival order, values as lossy UTF-8.
/// Every value of `name` (case-insensitive) among recorded `(name, value)` pairs, in order.
pub fn values_of<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

pub fn header_pairs(headers: &hyper::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}
