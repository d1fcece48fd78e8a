//! A blocking HTTP/1.1 client over a raw `TcpStream`: it writes header names and values exactly as
//! given (duplicates, mixed case, non-UTF-8 bytes), one request per connection. `response` reads
//! and parses what comes back (httparse), for this client and for tests that write to a socket
//! themselves.

mod response;

pub use response::{parse_response, read_response, Response};

use crate::error::io;
use crate::HarnessError;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long one exchange may take before it is an error.
pub const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub target: String,
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    pub body: Vec<u8>,
    /// Sent after a chunked body when not empty.
    pub trailers: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Request {
    pub fn new(method: &str, target: &str) -> Self {
        Request {
            method: method.into(),
            target: target.into(),
            headers: Vec::new(),
            body: Vec::new(),
            trailers: Vec::new(),
        }
    }

    pub fn get(target: &str) -> Self {
        Self::new("GET", target)
    }

    /// Adds a header as given; a second call with the same name sends a duplicate.
    pub fn header(self, name: &str, value: &str) -> Self {
        self.raw_header(name.as_bytes(), value.as_bytes())
    }

    pub fn raw_header(mut self, name: &[u8], value: &[u8]) -> Self {
        self.headers.push((name.to_vec(), value.to_vec()));
        self
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    pub fn body(mut self, body: &[u8]) -> Self {
        self.body = body.to_vec();
        self
    }

    /// Adds a trailer: the body then goes chunked (`transfer-encoding: chunked`, one chunk).
    pub fn trailer(mut self, name: &str, value: &str) -> Self {
        self.trailers
            .push((name.as_bytes().to_vec(), value.as_bytes().to_vec()));
        self
    }

    /// The bytes on the wire. `host` is added unless given; `connection: close` always.
    pub fn to_bytes(&self, default_host: &str) -> Vec<u8> {
        let mut out = format!("{} {} HTTP/1.1\r\n", self.method, self.target).into_bytes();
        if !self
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(b"host"))
        {
            out.extend_from_slice(format!("host: {default_host}\r\n").as_bytes());
        }
        for (name, value) in &self.headers {
            out.extend_from_slice(name);
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        if !self.trailers.is_empty() {
            out.extend_from_slice(b"transfer-encoding: chunked\r\nconnection: close\r\n\r\n");
            if !self.body.is_empty() {
                out.extend_from_slice(format!("{:x}\r\n", self.body.len()).as_bytes());
                out.extend_from_slice(&self.body);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n");
            for (name, value) in &self.trailers {
                out.extend_from_slice(name);
                out.extend_from_slice(b": ");
                out.extend_from_slice(value);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"\r\n");
            return out;
        }
        if !self.body.is_empty() || self.method == "POST" || self.method == "PUT" {
            out.extend_from_slice(format!("content-length: {}\r\n", self.body.len()).as_bytes());
        }
        out.extend_from_slice(b"connection: close\r\n\r\n");
        out.extend_from_slice(&self.body);
        out
    }

    /// Sends to `addr` with `host: localhost` unless the request names a host.
    pub fn send(&self, addr: SocketAddr) -> Result<Response, HarnessError> {
        send_raw(addr, &self.to_bytes("localhost"))
    }
}

/// Writes `bytes` (exactly, whatever they say) and reads one response.
pub fn send_raw(addr: SocketAddr, bytes: &[u8]) -> Result<Response, HarnessError> {
    let mut stream =
        TcpStream::connect_timeout(&addr, TIMEOUT).map_err(io(format!("connecting to {addr}")))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .map_err(io("set_read_timeout"))?;
    stream
        .set_write_timeout(Some(TIMEOUT))
        .map_err(io("set_write_timeout"))?;
    stream
        .write_all(bytes)
        .map_err(io(format!("writing to {addr}")))?;
    read_response(&mut stream, &addr.to_string())
}
/// A GET with no headers but `host`, for admin endpoints.
pub fn get(addr: SocketAddr, target: &str) -> Result<Response, HarnessError> {
    Request::get(target).send(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_headers_verbatim() {
        let bytes = Request::get("/x")
            .header("X-User-Id", "a")
            .header("x-user-id", "b")
            .to_bytes("h");
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            text.starts_with("GET /x HTTP/1.1\r\nhost: h\r\nX-User-Id: a\r\nx-user-id: b\r\n"),
            "{text}"
        );
    }

    #[test]
    fn trailers_make_the_body_chunked() {
        let bytes = Request::new("POST", "/t")
            .body(b"hello")
            .trailer("x_a", "1")
            .to_bytes("h");
        let text = String::from_utf8(bytes).unwrap();
        assert!(!text.contains("content-length"), "{text}");
        assert!(
            text.ends_with("transfer-encoding: chunked\r\nconnection: close\r\n\r\n5\r\nhello\r\n0\r\nx_a: 1\r\n\r\n"),
            "{text}"
        );
    }
}
