//! One HTTP/1.1 response: read from a stream up to the end its framing gives, parsed with
//! httparse (head, content-length or chunked body, interim 1xx skipped).

use crate::error::io;
use crate::HarnessError;
use std::io::Read;

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

/// Reads one response from `stream` (a request already written, by whatever means), up to the end
/// its own framing gives (content-length, or chunked through the last chunk and its trailers),
/// else to EOF: after a local reply with `connection: close` Envoy may hold the socket for its
/// delayed-close timeout (1 s), which would time the harness, not the filter. Bytes after the
/// response stay unread.
pub fn read_response(stream: &mut impl Read, from: &str) -> Result<Response, HarnessError> {
    let mut raw = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = stream
            .read(&mut chunk)
            .map_err(io(format!("reading from {from}")))?;
        if n == 0 {
            return parse_response(&raw);
        }
        raw.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if let Some(r) = parse(&raw, false)? {
            return Ok(r);
        }
    }
}
/// More than any response in these tests carries; more is refused, not truncated.
const MAX_HEADERS: usize = 256;

fn bad(msg: &str) -> HarnessError {
    HarnessError::Io(
        "parsing a response".into(),
        std::io::Error::new(std::io::ErrorKind::InvalidData, msg.to_string()),
    )
}

/// Where a response's body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(usize),
    Chunked,
    /// Neither: the body runs to the close.
    Close,
}

struct Head {
    status: u16,
    headers: Vec<(String, Vec<u8>)>,
    /// Bytes up to and with the blank line.
    len: usize,
    framing: Framing,
}

/// The final head (interim 1xx ones, such as `100 Continue`, are skipped), or `None` while it is
/// incomplete. Names are lowercased; values are bytes as sent.
fn head(raw: &[u8]) -> Result<Option<Head>, HarnessError> {
    let mut skipped = 0;
    loop {
        let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Response::new(&mut slots);
        let len = match parsed.parse(raw.get(skipped..).unwrap_or_default()) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => return Err(bad(&format!("bad response head: {e}"))),
        };
        let status = parsed.code.ok_or_else(|| bad("no status code"))?;
        if (100..=199).contains(&status) && status != 101 {
            skipped += len;
            continue;
        }
        return Ok(Some(final_head(status, parsed.headers, skipped + len)?));
    }
}

fn final_head(
    status: u16,
    parsed: &[httparse::Header<'_>],
    len: usize,
) -> Result<Head, HarnessError> {
    let headers: Vec<(String, Vec<u8>)> = parsed
        .iter()
        .map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec()))
        .collect();
    let value = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| String::from_utf8_lossy(v).to_ascii_lowercase())
    };
    // RFC 9112 6.3: no body for 101, 204 and 304; chunked wins over a content-length.
    let framing = if matches!(status, 101 | 204 | 304) {
        Framing::Length(0)
    } else if value("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        Framing::Chunked
    } else if let Some(v) = value("content-length") {
        Framing::Length(
            v.trim()
                .parse()
                .map_err(|_| bad(&format!("bad content-length {v:?}")))?,
        )
    } else {
        Framing::Close
    };
    Ok(Head {
        status,
        headers,
        len,
        framing,
    })
}

/// The response in `raw`. Before the close (`closed` false): `None` while its framing says more
/// is due, and for a body only the close can end. After it: a body without framing runs to the
/// end, and one cut short is an error.
fn parse(raw: &[u8], closed: bool) -> Result<Option<Response>, HarnessError> {
    let Some(h) = head(raw)? else {
        if closed {
            return Err(bad("no end of head (connection closed early?)"));
        }
        return Ok(None);
    };
    let rest = raw.get(h.len..).unwrap_or_default();
    let body = match h.framing {
        Framing::Length(n) => rest.get(..n).map(<[u8]>::to_vec),
        Framing::Chunked => dechunk(rest)?,
        Framing::Close => closed.then(|| rest.to_vec()),
    };
    match body {
        Some(body) => Ok(Some(Response {
            status: h.status,
            headers: h.headers,
            body,
        })),
        None if closed => Err(bad(&format!("body cut short ({:?})", h.framing))),
        None => Ok(None),
    }
}

/// Parses a response from every byte the connection sent before it closed.
pub fn parse_response(raw: &[u8]) -> Result<Response, HarnessError> {
    parse(raw, true)?.ok_or_else(|| bad("incomplete response"))
}

/// A chunked body, decoded; `None` until its last chunk and trailers are all there. Trailers are
/// checked for form and dropped.
fn dechunk(mut rest: &[u8]) -> Result<Option<Vec<u8>>, HarnessError> {
    let mut body = Vec::new();
    loop {
        let (start, size) = match httparse::parse_chunk_size(rest) {
            Ok(httparse::Status::Complete(found)) => found,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(bad("bad chunk size")),
        };
        rest = rest.get(start..).unwrap_or_default();
        if size == 0 {
            let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
            return match httparse::parse_headers(rest, &mut slots) {
                Ok(httparse::Status::Complete(_)) => Ok(Some(body)),
                Ok(httparse::Status::Partial) => Ok(None),
                Err(e) => Err(bad(&format!("bad trailers: {e}"))),
            };
        }
        let size = usize::try_from(size).map_err(|_| bad("chunk too large"))?;
        let Some(data) = rest.get(..size) else {
            return Ok(None);
        };
        body.extend_from_slice(data);
        match rest.get(size..).unwrap_or_default() {
            [b'\r', b'\n', after @ ..] => rest = after,
            [] | [b'\r'] => return Ok(None),
            _ => return Err(bad("chunk not followed by CRLF")),
        }
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
        // Chunk extensions and trailers are allowed and not part of the body.
        let r = parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nx-t: 1\r\n\r\n").unwrap();
        assert_eq!(r.text(), "abc");
        let r = parse_response(b"HTTP/1.1 200 OK\r\n\r\nbody until close").unwrap();
        assert_eq!(r.text(), "body until close");
        let r = parse_response(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n")
            .unwrap();
        assert_eq!((r.status, r.body.len()), (204, 0));
    }

    #[test]
    fn header_values_are_bytes_and_names_lowercase() {
        let r = parse_response(
            b"HTTP/1.1 200 OK\r\nX-A: one\r\nx-a: t\xffo\r\ncontent-length: 0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(
            r.headers,
            vec![
                ("x-a".to_string(), b"one".to_vec()),
                ("x-a".to_string(), b"t\xffo".to_vec()),
                ("content-length".to_string(), b"0".to_vec()),
            ]
        );
    }

    #[test]
    fn malformed_or_cut_responses_are_errors() {
        for raw in [
            &b""[..],
            b"garbage\r\n\r\n",
            b"HTTP/1.1 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nab",
            b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\nab",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n",
        ] {
            assert!(
                parse_response(raw).is_err(),
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn reads_up_to_the_framing_not_the_close() {
        // A reader that would block (here: fail) after the response: the read must stop first.
        struct ThenFail(std::io::Cursor<Vec<u8>>);
        impl Read for ThenFail {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = buf.len().min(5);
                match self.0.read(&mut buf[..n])? {
                    0 => Err(std::io::ErrorKind::WouldBlock.into()),
                    n => Ok(n),
                }
            }
        }
        let raw = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        let r = read_response(&mut ThenFail(std::io::Cursor::new(raw.to_vec())), "t").unwrap();
        assert_eq!(r.text(), "abc");
        let raw = b"HTTP/1.1 200 OK\r\n\r\nuntil close";
        assert!(read_response(&mut ThenFail(std::io::Cursor::new(raw.to_vec())), "t").is_err());
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
            (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n",
                false,
            ),
            (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nx-t: 1\r\n",
                false,
            ),
            (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nx-t: 1\r\n\r\n",
                true,
            ),
            (b"HTTP/1.1 100 Continue\r\n\r\n", false),
            (b"HTTP/1.1 304 Not Modified\r\ncontent-length: 9\r\n\r\n", true),
        ] {
            assert_eq!(
                parse(raw, false).unwrap().is_some(),
                complete,
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }
}
