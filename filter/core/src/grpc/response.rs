//! A CheckResponse read into the same `Judged` the HTTP mode gives, by the same rules:
//!
//! - `status.code` 0: allow; the identity is the `identityHeaders` among `ok_response.headers`.
//!   Every other `ok_response` field (`headers_to_remove`, `response_headers_to_add`, query
//!   parameters, `dynamic_metadata`) and the top-level `dynamic_metadata` are not applied, and
//!   counted in `Ignored`.
//! - any other `status.code`: deny with `denied_response.status` (403 when absent or not 3xx-5xx),
//!   only the `denyHeaders` among `denied_response.headers`, the body cut at `maxDenyBodyBytes`.
//! - no `status` at all: not a decision (`Malformed`). Envoy reads an absent status as OK; an
//!   empty answer allowing everything is the one divergence (every real service sends the field,
//!   even for OK).
//!
//! Cache lifetime: a gRPC answer has no `Cache-Control` header, so the service says less than
//! `allowTtlSeconds`/`denyTtlSeconds` with a `cache-control` entry among the headers it returns
//! (`ok_response.headers` or `response_headers_to_add` for an allow, `denied_response.headers` for a
//! deny), read as in HTTP mode: `max-age` (capped by `maxTtlSeconds`), `no-store`, `no-cache`,
//! `private`. OPA's Envoy plugin and Authorino can both set such headers. An answer made for one
//! client (it is `private`/`no-store`/`no-cache`, or carries a `set-cookie` for the client:
//! among `denied_response.headers` or `response_headers_to_add`) is neither cached nor shared.
//!
//! Reading never trusts a length and never panics; protobuf's merge rules are followed where a
//! field repeats (the last scalar wins, a oneof is the case set last).

use crate::cache_control;
use crate::config::Config;
use crate::decision::{CalloutError, Decision};
use crate::proto::{fields, Value};
use crate::response::{bounded, pick, Judged};

/// What the answer asked for that mesh-authz does not do; the flow counts it (proposed counter:
/// `mesh_authz.grpc_ignored_fields`), so an operator sees a policy relying on more than identity.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Ignored {
    pub headers_to_remove: u32,
    pub response_headers_to_add: u32,
    pub query_parameters: u32,
    /// `ok_response.dynamic_metadata` or the top-level one.
    pub dynamic_metadata: u32,
}

impl Ignored {
    pub fn total(&self) -> u32 {
        self.headers_to_remove
            .saturating_add(self.response_headers_to_add)
            .saturating_add(self.query_parameters)
            .saturating_add(self.dynamic_metadata)
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct Checked {
    pub judged: Judged,
    pub ignored: Ignored,
}

/// A header a service returned: key lowercased (Envoy lowercases them), value as bytes.
type Header<'a> = (String, &'a [u8]);

/// Reads a CheckResponse (the gRPC message, without its 5-byte frame: Envoy strips it).
pub fn judge(config: &Config, message: &[u8]) -> Result<Checked, CalloutError> {
    let top = fields(message).ok_or(CalloutError::Malformed)?;
    let mut code: Option<i32> = None;
    let mut ignored = Ignored::default();
    // The oneof `http_response`: 2 denied, 3 ok; the case set last wins and clears the other.
    let mut case: Option<(u32, Vec<&[u8]>)> = None;
    for (field, value) in top {
        match (field, value) {
            (1, Value::Bytes(status)) => {
                // google.rpc.Status.code = 1 (int32); a later occurrence merges into the earlier.
                let status_code = last_varint(status, 1).ok_or(CalloutError::Malformed)?;
                code = Some(status_code.map_or(code.unwrap_or(0), |v| v as i32));
            }
            (2 | 3, Value::Bytes(m)) => match &mut case {
                Some((f, parts)) if *f == field => parts.push(m),
                _ => case = Some((field, vec![m])),
            },
            (4, Value::Bytes(_)) => ignored.dynamic_metadata += 1,
            (1..=4, _) => return Err(CalloutError::Malformed),
            _ => {}
        }
    }
    let code = code.ok_or(CalloutError::Malformed)?;
    let parts = match case {
        Some((f, parts)) if (f == 3) == (code == 0) => parts,
        _ => Vec::new(),
    };
    let judged = if code == 0 {
        allow(config, &parts, &mut ignored)?
    } else {
        deny(config, &parts)?
    };
    Ok(Checked { judged, ignored })
}

/// `OkHttpResponse`: headers = 2, dynamic_metadata = 3, headers_to_remove = 5,
/// response_headers_to_add = 6, query_parameters_to_set = 7, query_parameters_to_remove = 8.
fn allow(config: &Config, parts: &[&[u8]], ignored: &mut Ignored) -> Result<Judged, CalloutError> {
    let mut upstream: Vec<Header<'_>> = Vec::new();
    let mut to_client: Vec<Header<'_>> = Vec::new();
    for part in parts {
        for (field, value) in fields(part).ok_or(CalloutError::Malformed)? {
            let Value::Bytes(m) = value else {
                return Err(CalloutError::Malformed);
            };
            match field {
                2 => upstream.extend(header_option(m)?),
                6 => {
                    to_client.extend(header_option(m)?);
                    ignored.response_headers_to_add += 1;
                }
                3 => ignored.dynamic_metadata += 1,
                5 => ignored.headers_to_remove += 1,
                7 | 8 => ignored.query_parameters += 1,
                _ => {}
            }
        }
    }
    let all: Vec<&Header<'_>> = upstream.iter().chain(&to_client).collect();
    let cc = cache_control::parse(named(&all, "cache-control"));
    let per_client = cc.per_client()
        || named(&to_client.iter().collect::<Vec<_>>(), "set-cookie")
            .next()
            .is_some();
    let ttl = match config.cache {
        Some(p) if !per_client => cc.max_age.unwrap_or(p.allow_ttl_secs).min(p.max_ttl_secs),
        _ => 0,
    };
    let identity = pick(&config.identity_headers, &borrowed(&upstream));
    // The access log's status of an allow: gRPC has none; 200 is what Envoy logs for it.
    Ok(bounded(
        Decision::Allow {
            status: 200,
            identity,
        },
        ttl,
        !per_client,
    ))
}

/// `DeniedHttpResponse`: status = 1 (`HttpStatus.code` = 1), headers = 2, body = 3.
fn deny(config: &Config, parts: &[&[u8]]) -> Result<Judged, CalloutError> {
    let mut status: Option<u64> = None;
    let mut headers: Vec<Header<'_>> = Vec::new();
    let mut body: &[u8] = b"";
    for part in parts {
        for (field, value) in fields(part).ok_or(CalloutError::Malformed)? {
            match (field, value) {
                (1, Value::Bytes(s)) => {
                    if let Some(v) = last_varint(s, 1).ok_or(CalloutError::Malformed)? {
                        status = Some(v);
                    }
                }
                (2, Value::Bytes(m)) => headers.extend(header_option(m)?),
                (3, Value::Bytes(b)) => body = b,
                (1..=3, _) => return Err(CalloutError::Malformed),
                _ => {}
            }
        }
    }
    // Envoy answers 403 when the service names no status; a deny must never read as a success.
    let status = status
        .and_then(|s| u16::try_from(s).ok())
        .filter(|s| (300..=599).contains(s))
        .unwrap_or(403);
    let all: Vec<&Header<'_>> = headers.iter().collect();
    let cc = cache_control::parse(named(&all, "cache-control"));
    let per_client = cc.per_client() || named(&all, "set-cookie").next().is_some();
    let ttl = match config.cache {
        Some(p) if !per_client && (status == 401 || status == 403) => {
            p.deny_ttl_secs.min(p.max_ttl_secs)
        }
        _ => 0,
    };
    let end = body.len().min(config.max_deny_body_bytes);
    let decision = Decision::Deny {
        status,
        headers: pick(&config.deny_headers, &borrowed(&headers)),
        body: body.get(..end).unwrap_or_default().into(),
    };
    Ok(bounded(decision, ttl, !per_client))
}

/// `HeaderValueOption.header = 1` -> `HeaderValue` (key = 1, value = 2, raw_value = 3; Envoy
/// takes `raw_value` when it is set). `None` when the option carries no header.
fn header_option(m: &[u8]) -> Result<Option<Header<'_>>, CalloutError> {
    let mut header = None;
    for (field, value) in fields(m).ok_or(CalloutError::Malformed)? {
        if let (1, Value::Bytes(h)) = (field, value) {
            header = Some(h);
        }
    }
    let Some(h) = header else {
        return Ok(None);
    };
    let (mut key, mut text, mut raw): (&[u8], &[u8], &[u8]) = (b"", b"", b"");
    for (field, value) in fields(h).ok_or(CalloutError::Malformed)? {
        match (field, value) {
            (1, Value::Bytes(k)) => key = k,
            (2, Value::Bytes(v)) => text = v,
            (3, Value::Bytes(v)) => raw = v,
            (1..=3, _) => return Err(CalloutError::Malformed),
            _ => {}
        }
    }
    let key = std::str::from_utf8(key).map_err(|_| CalloutError::Malformed)?;
    let value = if raw.is_empty() { text } else { raw };
    Ok(Some((key.to_ascii_lowercase(), value)))
}

/// The last value of varint field `field` in message `m`: `Some(None)` when it has none, `None`
/// when `m` is not a message or the field has another wire type.
fn last_varint(m: &[u8], field: u32) -> Option<Option<u64>> {
    let mut last = None;
    for (f, value) in fields(m)? {
        match (f == field, value) {
            (true, Value::Varint(v)) => last = Some(v),
            (true, _) => return None,
            _ => {}
        }
    }
    Some(last)
}

fn named<'h, 'a: 'h>(
    headers: &'h [&'h Header<'a>],
    name: &'static str,
) -> impl Iterator<Item = &'a [u8]> + 'h {
    headers
        .iter()
        .filter(move |(n, _)| n == name)
        .map(|(_, v)| *v)
}

fn borrowed<'h>(headers: &'h [Header<'_>]) -> Vec<(&'h str, &'h [u8])> {
    headers.iter().map(|(n, v)| (n.as_str(), *v)).collect()
}

#[cfg(test)]
mod tests;
