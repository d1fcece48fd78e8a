//! The echo upstream: 200 with `{"method", "path", "headers": [[name, value], ...]}` of what it
//! received, so a test can see exactly which headers reached the upstream.

use crate::server::{header_pairs, response, Body, Handler, ServerHandle};
use crate::HarnessError;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;

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

#[derive(Debug, Default)]
pub struct Echo;

impl Handler for Echo {
    async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        let (parts, body) = req.into_parts();
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
    ServerHandle::spawn(addr, threads, Arc::new(Echo))
}
