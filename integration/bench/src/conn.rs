//! One keep-alive HTTP/1.1 connection for the load generator: write a prepared request, read one
//! response (status, `content-length` body), reuse the socket. The harness's client opens a
//! connection per request, which would measure connection set-up instead of the filter.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Longest a single response may take before the request counts as an error.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_HEAD: usize = 64 * 1024;

pub struct Conn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

impl Conn {
    pub fn new(addr: SocketAddr) -> Self {
        Conn {
            addr,
            stream: None,
            buf: Vec::with_capacity(8192),
        }
    }

    fn stream(&mut self) -> io::Result<&mut TcpStream> {
        if self.stream.is_none() {
            let s = TcpStream::connect_timeout(&self.addr, IO_TIMEOUT)?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(IO_TIMEOUT))?;
            s.set_write_timeout(Some(IO_TIMEOUT))?;
            self.stream = Some(s);
        }
        self.stream
            .as_mut()
            .ok_or_else(|| io::Error::other("no stream"))
    }

    /// Sends `request` (complete bytes) and returns the response status. On any error the socket
    /// is dropped, so the next call reconnects.
    pub fn exchange(&mut self, request: &[u8]) -> io::Result<u16> {
        let result = self.exchange_inner(request);
        if !matches!(result, Ok((_, true))) {
            self.stream = None;
        }
        result.map(|(status, _)| status)
    }

    fn exchange_inner(&mut self, request: &[u8]) -> io::Result<(u16, bool)> {
        self.buf.clear();
        let mut buf = std::mem::take(&mut self.buf);
        let result = read_response(self.stream()?, request, &mut buf);
        self.buf = buf;
        result
    }
}

fn read_response(
    stream: &mut TcpStream,
    request: &[u8],
    buf: &mut Vec<u8>,
) -> io::Result<(u16, bool)> {
    stream.write_all(request)?;
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if let Some(end) = find(buf, b"\r\n\r\n") {
            break end + 4;
        }
        if buf.len() > MAX_HEAD {
            return Err(io::Error::other("response head too large"));
        }
    };
    let head = Head::parse(buf.get(..head_end).unwrap_or_default())?;
    let want = head_end + head.content_length;
    while buf.len() < want {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed mid-body",
            ));
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
    Ok((head.status, head.keep_alive))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[derive(Debug, PartialEq, Eq)]
struct Head {
    status: u16,
    content_length: usize,
    keep_alive: bool,
}

impl Head {
    fn parse(head: &[u8]) -> io::Result<Head> {
        let text =
            std::str::from_utf8(head).map_err(|_| io::Error::other("non-UTF-8 response head"))?;
        let mut lines = text.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::other("bad status line"))?;
        let mut content_length = None;
        let mut keep_alive = true;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                content_length = value.parse().ok();
            } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close")
            {
                keep_alive = false;
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                return Err(io::Error::other(
                    "chunked responses are not expected from the echo upstream",
                ));
            }
        }
        let content_length =
            content_length.ok_or_else(|| io::Error::other("response without content-length"))?;
        Ok(Head {
            status,
            content_length,
            keep_alive,
        })
    }
}

/// `GET <path>` with a bearer token, as the bytes on the wire.
pub fn get_with_bearer(path: &str, token: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nhost: bench.local\r\nauthorization: Bearer {token}\r\n\r\n")
        .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_heads() {
        let h = Head::parse(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\nx: y\r\n\r\n").unwrap();
        assert_eq!(
            h,
            Head {
                status: 200,
                content_length: 12,
                keep_alive: true
            }
        );
        let h = Head::parse(
            b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        )
        .unwrap();
        assert_eq!(
            h,
            Head {
                status: 503,
                content_length: 0,
                keep_alive: false
            }
        );
        assert!(Head::parse(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n").is_err());
        assert!(Head::parse(b"HTTP/1.1 200 OK\r\n\r\n").is_err());
        assert!(Head::parse(b"garbage\r\n\r\n").is_err());
    }

    #[test]
    fn talks_to_a_real_server() {
        let svc =
            mesh_authz_integration::echo::spawn(SocketAddr::from(([127, 0, 0, 1], 0)), 1).unwrap();
        let mut conn = Conn::new(svc.addr());
        let req = get_with_bearer("/x", "t");
        for _ in 0..3 {
            assert_eq!(conn.exchange(&req).unwrap(), 200);
        }
    }
}
