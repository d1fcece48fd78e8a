//! A blocking HTTP/1.1 client over a raw `TcpStream`: it writes header names and values exactly as
//! given (duplicates, mixed case, non-UTF-8 bytes), one request per connection.

use crate::error::io;
use crate::HarnessError;
use std::io::{Read, Write};
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

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Response {
    /// Every value of `name` (case-insensitive), as lossy UTF-8.
    pub fn header_all(&self, name: &str) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .collect()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.header_all(name).into_iter().next()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON of type `T` (e.g. `echo::Echoed`).
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, HarnessError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            HarnessError::Config(format!(
                "status {} body {:?}: {e}",
                self.status,
                self.text()
            ))
        })
    }
}

/// Writes `bytes`, reads to EOF and parses one response.
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
    // Read until the response is complete by its own framing (content-length or the last chunk),
    // not until Envoy closes: after a local reply with `connection: close` Envoy may hold the
    // socket for its delayed-close timeout (1 s), which would time the harness, not the filter.
    let mut raw = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = stream
            .read(&mut chunk)
            .map_err(io(format!("reading from {addr}")))?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if framed_and_complete(&raw) {
            break;
        }
    }
    parse_response(&raw)
}

/// Whether `raw` holds a whole response that says its own length (content-length, or chunked
/// through its last chunk and trailers). A response framed by the close is never complete here.
fn framed_and_complete(raw: &[u8]) -> bool {
    let Some(end) = find(raw, b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(raw.get(..end).unwrap_or_default()).to_ascii_lowercase();
    let body = raw.get(end + 4..).unwrap_or_default();
    let header = |name: &str| {
        head.split("\r\n")
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .find(|(n, _)| n.trim() == name)
            .map(|(_, v)| v.trim().to_string())
    };
    if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        return dechunk(body).is_ok() && body.ends_with(b"\r\n\r\n");
    }
    match header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        Some(len) => body.len() >= len,
        None => false,
    }
}

/// A GET with no headers but `host`, for admin endpoints.
pub fn get(addr: SocketAddr, target: &str) -> Result<Response, HarnessError> {
    Request::get(target).send(addr)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn bad(msg: &str) -> HarnessError {
    HarnessError::Io(
        "parsing a response".into(),
        std::io::Error::new(std::io::ErrorKind::InvalidData, msg.to_string()),
    )
}

/// Parses a complete HTTP/1.1 response (content-length, chunked, or read-to-EOF body).
pub fn parse_response(raw: &[u8]) -> Result<Response, HarnessError> {
    let end =
        find(raw, b"\r\n\r\n").ok_or_else(|| bad("no end of head (connection closed early?)"))?;
    let head = String::from_utf8_lossy(raw.get(..end).unwrap_or_default()).into_owned();
    let rest = raw.get(end + 4..).unwrap_or_default();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| bad(&format!("bad status line {status_line:?}")))?;
    let headers: Vec<(String, Vec<u8>)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().as_bytes().to_vec()))
        .collect();
    let chunked = headers.iter().any(|(n, v)| {
        n == "transfer-encoding"
            && String::from_utf8_lossy(v)
                .to_ascii_lowercase()
                .contains("chunked")
    });
    let body = if chunked {
        dechunk(rest)?
    } else if let Some(len) = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| String::from_utf8_lossy(v).parse::<usize>().ok())
    {
        rest.get(..len)
            .ok_or_else(|| bad("body shorter than content-length"))?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, HarnessError> {
    let mut body = Vec::new();
    loop {
        let line_end = find(rest, b"\r\n").ok_or_else(|| bad("truncated chunk size"))?;
        let size_text =
            String::from_utf8_lossy(rest.get(..line_end).unwrap_or_default()).into_owned();
        let size_hex = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16).map_err(|_| bad("bad chunk size"))?;
        rest = rest.get(line_end + 2..).unwrap_or_default();
        if size == 0 {
            return Ok(body);
        }
        body.extend_from_slice(rest.get(..size).ok_or_else(|| bad("truncated chunk"))?);
        rest = rest.get(size + 2..).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_length_and_chunked() {
        let r = parse_response(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\ncontent-length: 3\r\n\r\nabcdef").unwrap();
        assert_eq!((r.status, r.text().as_str()), (401, "abc"));
        assert_eq!(r.header("www-authenticate").as_deref(), Some("Bearer"));
        let r = parse_response(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap();
        assert_eq!(r.text(), "abcde");
    }

    #[test]
    fn a_response_is_complete_by_its_framing() {
        for (raw, complete) in [
            (
                &b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nab"[..],
                false,
            ),
            (b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabc", true),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true),
            (b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n", false),
            (b"HTTP/1.1 200 OK\r\n\r\nbody until close", false),
            (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n",
                false,
            ),
            (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
                true,
            ),
        ] {
            assert_eq!(
                framed_and_complete(raw),
                complete,
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }

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
