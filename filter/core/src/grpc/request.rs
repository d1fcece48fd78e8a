//! The CheckRequest, built the way Envoy's ext_authz filter builds it
//! (`source/extensions/filters/common/ext_authz/check_request_utils.cc`), so that a policy written
//! for Envoy reads the same fields:
//!
//! - `attributes.request.http`: `id` (the caller's request id), `method`, `path` (with its query,
//!   as Envoy sends it), `host`, `scheme`, `protocol`, and `headers`: the `forwardHeaders` and
//!   `traceHeaders` the request has (as Envoy sends its `allowed_headers`: no pseudo-headers), keys
//!   in lowercase, the values of a repeated header joined with `,` in request order (as seen from
//!   Envoy 1.40, `integration/tests/grpc_parity.rs`).
//! - `attributes.source.address`: the client's IP address, WITHOUT its port (a new port per
//!   connection would make every connection its own cache key); `attributes.destination.address`:
//!   the listener's address and port.
//! - `attributes.context_extensions`: `authService.contextExtensions`.
//!
//! Not sent: the body (as in HTTP mode), `request.time` (it differs on every request, so keying it
//! would end caching, and not keying it would let a time-based answer be reused), `size`, TLS
//! session, metadata.
//!
//! Keyed (`key`): everything sent that can differ between requests except the trace headers and
//! `id`: method, path, host, the forwarded headers' values (all four through the walk's key),
//! scheme, protocol, the source IP and the destination address. `contextExtensions` are constant
//! per configuration and enter every key through the configuration's generation.
//!
//! Protobuf `string` fields must hold UTF-8, and a gRPC service in Go or Java rejects a message
//! whose strings do not. A header value or host with a byte that is not UTF-8 (obs-text) is sent
//! with U+FFFD in its place, and keyed by its original bytes: two such values that read the same
//! once replaced still have two keys.

use crate::callout::Walk;
use crate::config::Config;
use crate::key::{CacheKey, KeyBuilder};
use crate::proto::{put_bytes, put_map_entry, put_message, put_uint};
use crate::request::RequestHead;
use std::borrow::Cow;

/// What the CheckRequest needs beyond the walk; the adapter reads these as properties
/// (`request.id`, `request.protocol`, `source.address`, `destination.address`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Attributes<'a> {
    /// For correlation only (not keyed): Envoy sends its stream id; the `x-request-id` is the
    /// nearest a filter can read.
    pub id: &'a [u8],
    /// `:scheme` of the request (empty when absent).
    pub scheme: &'a [u8],
    /// `HTTP/1.1`, `HTTP/2`, ...
    pub protocol: &'a [u8],
    /// `ip:port` or `[ipv6]:port`, as Envoy's `source.address` property gives it.
    pub source: Option<&'a [u8]>,
    /// As `source`, for `destination.address`.
    pub destination: Option<&'a [u8]>,
}

impl<'a> Attributes<'a> {
    /// The request's own part (`:scheme`); the rest is set by the caller.
    pub fn of(req: &RequestHead<'a>) -> Self {
        Attributes {
            scheme: req.first(":scheme").unwrap_or_default(),
            ..Attributes::default()
        }
    }
}

/// The cache key of a gRPC check: the walk's key (generation, method, path, host, forwarded
/// headers) extended with the fields only the CheckRequest carries.
pub fn key(walk: &Walk<'_>, attrs: &Attributes<'_>) -> CacheKey {
    let mut k = KeyBuilder::new(&walk.key.0);
    k.field(attrs.scheme).field(attrs.protocol);
    let source = attrs.source.and_then(socket);
    let destination = attrs.destination.and_then(socket);
    // Absent and present-but-empty must not share a key: a tag before each.
    // The source's port is never sent, so never keyed.
    for peer in [source.map(|(ip, _)| (ip, 0)), destination] {
        match peer {
            None => k.field(b"-"),
            Some((ip, port)) => k.field(b"+").field(ip).field(&port.to_le_bytes()),
        };
    }
    k.finish()
}

/// The serialized `envoy.service.auth.v3.CheckRequest`.
pub fn check_request(config: &Config, walk: &Walk<'_>, attrs: &Attributes<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    // CheckRequest.attributes = 1
    put_message(&mut out, 1, |a| attributes(a, config, walk, attrs));
    out
}

/// `AttributeContext`: source = 1, destination = 2, request = 4, context_extensions = 10.
fn attributes(out: &mut Vec<u8>, config: &Config, walk: &Walk<'_>, attrs: &Attributes<'_>) {
    if let Some((ip, _)) = attrs.source.and_then(socket) {
        put_message(out, 1, |p| peer(p, ip, None));
    }
    if let Some((ip, port)) = attrs.destination.and_then(socket) {
        put_message(out, 2, |p| peer(p, ip, Some(port)));
    }
    // Request.http = 2
    put_message(out, 4, |r| put_message(r, 2, |h| http(h, walk, attrs)));
    let extensions = config.auth.iter().flat_map(|a| &a.context_extensions);
    for (name, value) in extensions {
        put_map_entry(out, 10, name.as_bytes(), value.as_bytes());
    }
}

/// `Peer.address = 1` -> `Address.socket_address = 1` -> `SocketAddress` (address = 2,
/// port_value = 3).
fn peer(out: &mut Vec<u8>, ip: &[u8], port: Option<u16>) {
    put_message(out, 1, |a| {
        put_message(a, 1, |s| {
            put_bytes(s, 2, &text(ip));
            if let Some(port) = port {
                put_uint(s, 3, u64::from(port));
            }
        });
    });
}

/// `HttpRequest`: id = 1, method = 2, headers = 3, path = 4, host = 5, scheme = 6,
/// protocol = 10.
fn http(out: &mut Vec<u8>, walk: &Walk<'_>, attrs: &Attributes<'_>) {
    let put_text = |out: &mut Vec<u8>, field: u32, v: &[u8]| {
        if !v.is_empty() {
            put_bytes(out, field, &text(v));
        }
    };
    put_text(out, 1, attrs.id);
    put_text(out, 2, walk.method().as_bytes());
    for (name, value) in headers(walk) {
        put_map_entry(out, 3, name.as_bytes(), &text(&value));
    }
    put_text(out, 4, walk.path().as_bytes());
    put_text(out, 5, walk.authority());
    put_text(out, 6, attrs.scheme);
    put_text(out, 10, attrs.protocol);
}

/// The header map: the walk's headers with the values of one name joined by `,` (a protobuf map
/// holds one value per key).
fn headers<'w>(walk: &Walk<'w>) -> Vec<(&'w str, Cow<'w, [u8]>)> {
    let mut out: Vec<(&'w str, Cow<'w, [u8]>)> = Vec::with_capacity(walk.fields().len());
    for (name, value) in walk.fields() {
        match out.iter_mut().find(|(n, _)| n == name) {
            Some((_, joined)) => {
                let joined = joined.to_mut();
                joined.push(b',');
                joined.extend_from_slice(value);
            }
            None => out.push((name, Cow::Borrowed(value))),
        }
    }
    out
}

/// A value as protobuf `string` needs it: UTF-8, with U+FFFD for what is not.
fn text(v: &[u8]) -> Cow<'_, [u8]> {
    match String::from_utf8_lossy(v) {
        Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
        Cow::Owned(s) => Cow::Owned(s.into_bytes()),
    }
}

/// `ip:port` or `[ip]:port` split into the IP (without brackets) and the port; `None` for anything
/// else (a pipe path, an internal address), which is then not sent.
fn socket(addr: &[u8]) -> Option<(&[u8], u16)> {
    let (host, port) = match addr.iter().rposition(|b| *b == b':') {
        Some(i) => (addr.get(..i)?, addr.get(i + 1..)?),
        None => return None,
    };
    let port = std::str::from_utf8(port).ok()?.parse::<u16>().ok()?;
    let host = match host.strip_prefix(b"[") {
        Some(v6) => v6.strip_suffix(b"]")?,
        None if host.contains(&b':') => return None,
        None => host,
    };
    let ok = !host.is_empty()
        && host
            .iter()
            .all(|b| b.is_ascii_hexdigit() || matches!(b, b'.' | b':'));
    ok.then_some((host, port))
}

#[cfg(test)]
mod tests;
