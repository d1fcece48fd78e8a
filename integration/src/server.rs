//! The accept loop both test services share (hyper 1, HTTP/1.1 keep-alive) and a handle that runs
//! one in-process on its own small tokio runtime, stopped on drop, which a failure test can kill
//! (port closed, connections dropped) and restore on the same port.

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
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio::sync::watch;

/// Response body type of both services: they answer from memory.
pub type Body = Full<Bytes>;

/// A service: one request in, one response out, never an error (errors are responses).
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, req: Request<Incoming>) -> impl Future<Output = Response<Body>> + Send;
}

/// Serves `handler` on `listener` until the runtime stops.
pub async fn serve<H: Handler>(listener: TcpListener, handler: Arc<H>) {
    // A sender that is never used nor dropped: the loop only ends with the runtime.
    let (_keep, stop) = watch::channel(false);
    serve_until(listener, handler, stop).await;
}

/// Serves `handler` on `listener` until `stop` turns true (or its sender goes): then the listener
/// closes (new connections are refused) and every open connection is dropped mid-whatever, as
/// when the process is killed.
pub async fn serve_until<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => continue,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of file descriptors or similar: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let handler = Arc::clone(&handler);
        let mut conn_stop = stop.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let handler = Arc::clone(&handler);
                async move { Ok::<_, Infallible>(handler.handle(req).await) }
            });
            let conn = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), svc);
            // Dropping the connection future closes the socket.
            tokio::select! {
                _ = conn => {}
                _ = stopped(&mut conn_stop) => {}
            }
        });
    }
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    while !*stop.borrow() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

/// Starts serving a listener on the runtime; kept so that a killed service can start again.
type Starter = Box<dyn Fn(TcpListener, watch::Receiver<bool>) + Send + Sync>;

/// A service running in this process. Dropping it stops the runtime and closes the port.
/// `kill` and `restore` take it down and up again on the same address, for failure tests.
pub struct ServerHandle {
    addr: SocketAddr,
    runtime: Option<Runtime>,
    start: Starter,
    /// `Some` while serving: sending `true` kills.
    serving: Mutex<Option<watch::Sender<bool>>>,
}

/// How long `restore` retries binding the old port (a socket of ours may linger on it briefly).
const REBIND_FOR: Duration = Duration::from_secs(3);

impl ServerHandle {
    /// Binds `addr` (port 0 for a free one) and serves `handler` on `threads` worker threads.
    pub fn spawn<H: Handler>(
        addr: SocketAddr,
        threads: usize,
        handler: Arc<H>,
    ) -> Result<Self, HarnessError> {
        Self::spawn_named(addr, threads, "mesh-authz-test-server", handler)
    }

    /// As `spawn`, with the runtime's threads named `thread_name` (Linux shows the first 15 bytes
    /// in `/proc/<pid>/task/<tid>/comm`, which is how a benchmark finds this service's CPU).
    pub fn spawn_named<H: Handler>(
        addr: SocketAddr,
        threads: usize,
        thread_name: &str,
        handler: Arc<H>,
    ) -> Result<Self, HarnessError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name(thread_name)
            .enable_all()
            .build()
            .map_err(io("starting a tokio runtime"))?;
        let std_listener =
            std::net::TcpListener::bind(addr).map_err(io(format!("binding {addr}")))?;
        let addr = std_listener.local_addr().map_err(io("local_addr"))?;
        let rt = runtime.handle().clone();
        let start: Starter = Box::new(move |listener, stop| {
            rt.spawn(serve_until(listener, Arc::clone(&handler), stop));
        });
        let handle = ServerHandle {
            addr,
            runtime: Some(runtime),
            start,
            serving: Mutex::new(None),
        };
        handle.serve(std_listener)?;
        Ok(handle)
    }

    fn serve(&self, std_listener: std::net::TcpListener) -> Result<(), HarnessError> {
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| HarnessError::Config("the server's runtime is gone".into()))?;
        std_listener
            .set_nonblocking(true)
            .map_err(io("set_nonblocking"))?;
        let listener = {
            let _guard = runtime.enter();
            TcpListener::from_std(std_listener).map_err(io("registering the listener"))?
        };
        let (tx, rx) = watch::channel(false);
        (self.start)(listener, rx);
        *lock(&self.serving) = Some(tx);
        Ok(())
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Whether the service listens (not killed).
    pub fn is_serving(&self) -> bool {
        lock(&self.serving).is_some()
    }

    /// Stops listening and drops every open connection, as a killed process would: connections
    /// are refused until `restore`. Returns once the port is closed. No-op when already killed.
    pub fn kill(&self) -> Result<(), HarnessError> {
        let Some(tx) = lock(&self.serving).take() else {
            return Ok(());
        };
        let _ = tx.send(true);
        // The accept loop drops the listener when it sees the signal; wait until the port
        // refuses, bounded, so the caller's "killed" starts when it really is.
        let deadline = Instant::now() + REBIND_FOR;
        while std::net::TcpStream::connect_timeout(&self.addr, Duration::from_millis(100)).is_ok() {
            if Instant::now() >= deadline {
                return Err(HarnessError::Config(format!(
                    "{} still accepts connections after kill",
                    self.addr
                )));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(())
    }

    /// Listens again on the same address after `kill`. No-op when serving.
    pub fn restore(&self) -> Result<(), HarnessError> {
        if self.is_serving() {
            return Ok(());
        }
        let deadline = Instant::now() + REBIND_FOR;
        let listener = loop {
            // std sets SO_REUSEADDR, so connections of ours in TIME_WAIT do not block the bind.
            match std::net::TcpListener::bind(self.addr) {
                Ok(l) => break l,
                Err(e) if Instant::now() >= deadline => {
                    return Err(HarnessError::Io(format!("binding {} again", self.addr), e))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        };
        self.serve(listener)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means a test thread panicked; the data is still usable.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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
