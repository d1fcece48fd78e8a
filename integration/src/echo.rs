//! The echo upstream: 200 with `{"method", "path", "headers": [[name, value], ...]}` of what it
//! received, so a test can see exactly which headers reached the upstream.

use crate::server::{header_pairs, response, Body, Handler, ServerHandle};
use crate::HarnessError;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// What the upstream saw; also what tests parse back from the response body.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Echoed {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// The body it received: its length and a digest-free fingerprint (first bytes), enough for a
    /// test to see that a held body went on whole.
    #[serde(default)]
    pub body_len: usize,
    #[serde(default)]
    pub body_head: String,
    /// The request trailers it received (hyper reads them from a chunked HTTP/1.1 body).
    #[serde(default)]
    pub trailers: Vec<(String, String)>,
}

impl Echoed {
    /// Every value of `name` (case-insensitive), in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        crate::server::values_of(&self.headers, name)
    }

    /// The first value of `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_all(name).into_iter().next()
    }

    /// Every trailer value of `name` (case-insensitive), in order.
    pub fn trailer_all(&self, name: &str) -> Vec<&str> {
        crate::server::values_of(&self.trailers, name)
    }
}

/// What the upstream itself saw of one request, for tests that check every request that got
/// through (not only what a client was told).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub path: String,
    pub authorization: Option<String>,
    /// Every `x-user-id` value, in order.
    pub user_ids: Vec<String>,
}

/// Seen requests are capped so a long load test cannot grow memory without bound; `take_seen`
/// empties the record.
const MAX_SEEN: usize = 200_000;

/// The echo handler; it counts what it answers and, when asked to, records a `Seen` for each.
#[derive(Debug, Default)]
pub struct Echo {
    count: AtomicU64,
    recording: AtomicBool,
    seen: Mutex<Vec<Seen>>,
}

impl Echo {
    /// Requests answered so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }

    /// Start (or stop) recording a `Seen` per request.
    pub fn set_recording(&self, on: bool) {
        self.recording.store(on, Ordering::SeqCst);
    }

    /// The requests recorded since the last call (at most `MAX_SEEN`), oldest first.
    pub fn take_seen(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.seen.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn note(&self, parts: &hyper::http::request::Parts) {
        self.count.fetch_add(1, Ordering::SeqCst);
        if !self.recording.load(Ordering::Relaxed) {
            return;
        }
        let text =
            |v: &hyper::header::HeaderValue| String::from_utf8_lossy(v.as_bytes()).into_owned();
        let seen = Seen {
            path: parts.uri.path().to_string(),
            authorization: parts.headers.get("authorization").map(text),
            user_ids: parts
                .headers
                .get_all("x-user-id")
                .iter()
                .map(text)
                .collect(),
        };
        let mut all = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if all.len() < MAX_SEEN {
            all.push(seen);
        }
    }
}

impl Handler for Echo {
    async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        let (parts, body) = req.into_parts();
        self.note(&parts);
        // Drain the body so the connection stays reusable; report its size, first bytes, trailers.
        let (body, trailers) = match body.collect().await {
            Ok(collected) => {
                let trailers = collected.trailers().map(header_pairs).unwrap_or_default();
                (collected.to_bytes(), trailers)
            }
            Err(_) => Default::default(),
        };
        let head = body.get(..body.len().min(64)).unwrap_or_default();
        let echoed = Echoed {
            method: parts.method.as_str().to_string(),
            path: parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default(),
            headers: header_pairs(&parts.headers),
            body_len: body.len(),
            body_head: String::from_utf8_lossy(head).into_owned(),
            trailers,
        };
        match serde_json::to_vec(&echoed) {
            Ok(json) => response(
                200,
                &[("content-type".into(), "application/json".into())],
                json,
            ),
            Err(e) => response(500, &[], format!("echo: {e}\n")),
        }
    }
}

/// Starts the echo upstream in-process on `addr` (port 0 for a free one).
pub fn spawn(addr: SocketAddr, threads: usize) -> Result<ServerHandle, HarnessError> {
    Ok(spawn_counted(addr, threads)?.0)
}

/// As `spawn`, keeping the handler to read its count and record.
pub fn spawn_counted(
    addr: SocketAddr,
    threads: usize,
) -> Result<(ServerHandle, Arc<Echo>), HarnessError> {
    let echo = Arc::new(Echo::default());
    let handle = ServerHandle::spawn_named(addr, threads, "echo-upstream", Arc::clone(&echo))?;
    Ok((handle, echo))
}
