//! The request attributes a CheckRequest carries that the request's headers do not: the
//! protocol, the client's and the listener's addresses. The flow reads them from the host as
//! properties, in gRPC mode only (the HTTP mode's request path makes no extra hostcall), at the
//! walk: they are part of the cache key, so they are needed before the cache is looked up.
//!
//! Properties are read synchronously, like the clock and shared data the flow already reads
//! through `Host`; an action and an answering event would only hand the same bytes back one
//! callback later, with the request's headers to carry across meanwhile.

use super::request::Attributes;
use crate::host::Host;
use crate::request::RequestHead;

/// What a gRPC-mode walk keeps for its CheckRequest: the request's own parts borrowed, the
/// host's properties owned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Read<'r> {
    scheme: &'r [u8],
    /// `x-request-id`: Envoy's `request.id` property is this header, so no hostcall.
    id: &'r [u8],
    protocol: Vec<u8>,
    source: Option<Vec<u8>>,
    destination: Option<Vec<u8>>,
}

/// Reads the attributes of `req` (the request the host works on now). A property the host does
/// not have, or could not give, is absent: it is then neither sent nor keyed as present.
pub fn read<'r>(host: &dyn Host, req: &RequestHead<'r>) -> Read<'r> {
    let property = |path: &[&str]| match host.property(path) {
        Ok(v) => v,
        Err(e) => {
            log::debug!("property {} unreadable ({e}); not sent", path.join("."));
            None
        }
    };
    let base = Attributes::of(req);
    Read {
        scheme: base.scheme,
        id: req.first("x-request-id").unwrap_or_default(),
        protocol: property(&["request", "protocol"]).unwrap_or_default(),
        source: property(&["source", "address"]),
        destination: property(&["destination", "address"]),
    }
}

impl Read<'_> {
    pub fn attributes(&self) -> Attributes<'_> {
        Attributes {
            id: self.id,
            scheme: self.scheme,
            protocol: &self.protocol,
            source: self.source.as_deref(),
            destination: self.destination.as_deref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::fake::FakeHost;

    #[test]
    fn properties_and_headers_make_the_attributes() {
        let host = FakeHost::default();
        host.properties
            .borrow_mut()
            .insert("source.address".into(), b"10.0.0.1:5555".to_vec());
        host.properties
            .borrow_mut()
            .insert("request.protocol".into(), b"HTTP/2".to_vec());
        let h: &[(&str, &[u8])] = &[(":scheme", b"https"), ("x-request-id", b"r-9")];
        let req = RequestHead::new(h);
        let read = read(&host, &req);
        let a = read.attributes();
        assert_eq!(a.id, b"r-9");
        assert_eq!(a.scheme, b"https");
        assert_eq!(a.protocol, b"HTTP/2");
        assert_eq!(a.source, Some(b"10.0.0.1:5555".as_slice()));
        assert_eq!(a.destination, None, "absent, not empty");
    }
}
