//! The hostcalls the adapter uses, declared against the proxy-wasm ABI 0.2.1 directly so that every
//! one returns a `Result` instead of panicking on an unexpected status (a panic kills the worker's
//! VM). Statuses come back as plain `u32`: no enum is built from host data. Header maps are parsed
//! with bounds checks into pairs that borrow one buffer, values as bytes.

use std::fmt;

/// Log levels of the ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u32)]
pub enum LogLevel {
    Trace = 0,
    Debug = 1,
    Info = 2,
    Warn = 3,
    Error = 4,
    Critical = 5,
}

pub type MapType = u32;
pub const REQUEST_HEADERS: MapType = 0;
pub const REQUEST_TRAILERS: MapType = 1;
pub const CALL_RESPONSE_HEADERS: MapType = 6;

pub type BufferType = u32;
pub const CALL_RESPONSE_BODY: BufferType = 4;
pub const PLUGIN_CONFIGURATION: BufferType = 7;

const COUNTER: u32 = 0;
const GAUGE: u32 = 1;
const STREAM_REQUEST: u32 = 0;
use std::ptr::{null, null_mut};

/// A non-OK status from the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostStatus(pub u32);

impl fmt::Display for HostStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            1 => "not found",
            2 => "bad argument",
            3 => "serialization failure",
            4 => "parse failure",
            5 => "bad expression",
            6 => "invalid memory access",
            7 => "empty",
            8 => "CAS mismatch",
            9 => "result mismatch",
            10 => "internal failure",
            11 => "broken connection",
            12 => "unimplemented",
            _ => "unexpected status",
        };
        write!(f, "{name} ({})", self.0)
    }
}

const OK: u32 = 0;
const NOT_FOUND: u32 = 1;

fn check(status: u32) -> Result<(), HostStatus> {
    if status == OK {
        Ok(())
    } else {
        Err(HostStatus(status))
    }
}

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_log(level: LogLevel, message_data: *const u8, message_size: usize) -> u32;
    fn proxy_get_log_level(return_level: *mut u32) -> u32;
    fn proxy_get_current_time_nanoseconds(return_time: *mut u64) -> u32;
    fn proxy_get_buffer_bytes(
        buffer_type: BufferType,
        start: usize,
        max_size: usize,
        return_buffer_data: *mut *mut u8,
        return_buffer_size: *mut usize,
    ) -> u32;
    fn proxy_get_header_map_pairs(
        map_type: MapType,
        return_map_data: *mut *mut u8,
        return_map_size: *mut usize,
    ) -> u32;
    fn proxy_remove_header_map_value(
        map_type: MapType,
        key_data: *const u8,
        key_size: usize,
    ) -> u32;
    fn proxy_add_header_map_value(
        map_type: MapType,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_send_local_response(
        status_code: u32,
        status_code_details_data: *const u8,
        status_code_details_size: usize,
        body_data: *const u8,
        body_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> u32;
    fn proxy_define_metric(
        metric_type: u32,
        name_data: *const u8,
        name_size: usize,
        return_id: *mut u32,
    ) -> u32;
    fn proxy_increment_metric(metric_id: u32, offset: i64) -> u32;
    fn proxy_record_metric(metric_id: u32, value: u64) -> u32;
    fn proxy_continue_stream(stream_type: u32) -> u32;
    fn proxy_set_effective_context(context_id: u32) -> u32;
    fn proxy_get_shared_data(
        key_data: *const u8,
        key_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
        return_cas: *mut u32,
    ) -> u32;
    fn proxy_set_shared_data(
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
        cas: u32,
    ) -> u32;
    fn proxy_set_tick_period_milliseconds(period: u32) -> u32;
    fn proxy_http_call(
        upstream_data: *const u8,
        upstream_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        body_data: *const u8,
        body_size: usize,
        trailers_data: *const u8,
        trailers_size: usize,
        timeout_ms: u32,
        return_token: *mut u32,
    ) -> u32;
}

pub fn log(level: LogLevel, message: &str) -> Result<(), HostStatus> {
    check(unsafe { proxy_log(level, message.as_ptr(), message.len()) })
}

/// Envoy's log level for wasm, as a number: 0 trace .. 5 critical.
pub fn log_level() -> Result<u32, HostStatus> {
    let mut level = 0u32;
    check(unsafe { proxy_get_log_level(&mut level) })?;
    Ok(level)
}

pub fn now_nanos() -> Result<u64, HostStatus> {
    let mut t = 0u64;
    check(unsafe { proxy_get_current_time_nanoseconds(&mut t) })?;
    Ok(t)
}

/// Takes ownership of a buffer the host allocated through our allocator (`proxy_on_memory_allocate`).
unsafe fn owned(data: *mut u8, size: usize) -> Vec<u8> {
    if data.is_null() || size == 0 {
        Vec::new()
    } else {
        Vec::from_raw_parts(data, size, size)
    }
}

pub fn buffer(kind: BufferType, max: usize) -> Result<Vec<u8>, HostStatus> {
    let (mut data, mut size) = (null_mut(), 0usize);
    match unsafe { proxy_get_buffer_bytes(kind, 0, max, &mut data, &mut size) } {
        OK => Ok(unsafe { owned(data, size) }),
        NOT_FOUND => Ok(Vec::new()),
        s => Err(HostStatus(s)),
    }
}

/// The serialized pairs of a header map; parse with `pairs`.
pub fn header_map(map: MapType) -> Result<Vec<u8>, HostStatus> {
    let (mut data, mut size) = (null_mut(), 0usize);
    match unsafe { proxy_get_header_map_pairs(map, &mut data, &mut size) } {
        OK => Ok(unsafe { owned(data, size) }),
        NOT_FOUND => Ok(Vec::new()),
        s => Err(HostStatus(s)),
    }
}

pub fn remove_header(map: MapType, name: &str) -> Result<(), HostStatus> {
    check(unsafe { proxy_remove_header_map_value(map, name.as_ptr(), name.len()) })
}

pub fn add_header(map: MapType, name: &str, value: &[u8]) -> Result<(), HostStatus> {
    check(unsafe {
        proxy_add_header_map_value(map, name.as_ptr(), name.len(), value.as_ptr(), value.len())
    })
}

pub fn send_local_response(
    status: u16,
    headers: &[(&str, &[u8])],
    body: &[u8],
    details: &str,
) -> Result<(), HostStatus> {
    let map = serialize(headers);
    let body_ptr = if body.is_empty() {
        null()
    } else {
        body.as_ptr()
    };
    check(unsafe {
        proxy_send_local_response(
            u32::from(status),
            details.as_ptr(),
            details.len(),
            body_ptr,
            body.len(),
            map.as_ptr(),
            map.len(),
            -1,
        )
    })
}

pub fn resume_request() -> Result<(), HostStatus> {
    check(unsafe { proxy_continue_stream(STREAM_REQUEST) })
}

pub fn define_counter(name: &str) -> Result<u32, HostStatus> {
    let mut id = 0u32;
    check(unsafe { proxy_define_metric(COUNTER, name.as_ptr(), name.len(), &mut id) })?;
    Ok(id)
}

pub fn define_gauge(name: &str) -> Result<u32, HostStatus> {
    let mut id = 0u32;
    check(unsafe { proxy_define_metric(GAUGE, name.as_ptr(), name.len(), &mut id) })?;
    Ok(id)
}

pub fn record(id: u32, value: u64) -> Result<(), HostStatus> {
    check(unsafe { proxy_record_metric(id, value) })
}

/// Makes later hostcalls act on `context_id` (a request waiting on a callout another context owns).
pub fn set_effective_context(context_id: u32) -> Result<(), HostStatus> {
    check(unsafe { proxy_set_effective_context(context_id) })
}

pub const CAS_MISMATCH: u32 = 8;

/// A shared-data value and its CAS token; `None` when the key was never written.
pub fn shared_get(key: &str) -> Result<Option<(Vec<u8>, u32)>, HostStatus> {
    let (mut data, mut size, mut cas) = (null_mut(), 0usize, 0u32);
    match unsafe { proxy_get_shared_data(key.as_ptr(), key.len(), &mut data, &mut size, &mut cas) }
    {
        OK => Ok(Some((unsafe { owned(data, size) }, cas))),
        NOT_FOUND => Ok(None),
        s => Err(HostStatus(s)),
    }
}

pub fn shared_set(key: &str, value: &[u8], cas: u32) -> Result<(), HostStatus> {
    check(unsafe {
        proxy_set_shared_data(key.as_ptr(), key.len(), value.as_ptr(), value.len(), cas)
    })
}

pub fn set_tick_period_ms(ms: u32) -> Result<(), HostStatus> {
    check(unsafe { proxy_set_tick_period_milliseconds(ms) })
}

/// Dispatches an HTTP call to `cluster`; the answer comes to `proxy_on_http_call_response` of the
/// context that is effective now, with the returned token.
pub fn http_call(
    cluster: &str,
    headers: &[(&str, &[u8])],
    timeout_ms: u32,
) -> Result<u32, HostStatus> {
    let map = serialize(headers);
    let trailers = serialize(&[]);
    let mut token = 0u32;
    check(unsafe {
        proxy_http_call(
            cluster.as_ptr(),
            cluster.len(),
            map.as_ptr(),
            map.len(),
            null(),
            0,
            trailers.as_ptr(),
            trailers.len(),
            timeout_ms,
            &mut token,
        )
    })?;
    Ok(token)
}

pub fn increment(id: u32, by: i64) -> Result<(), HostStatus> {
    check(unsafe { proxy_increment_metric(id, by) })
}

/// Decodes the ABI's map encoding: u32 count, then (u32 name length, u32 value length) per pair,
/// then each name and value followed by a NUL. Any inconsistency yields an error, never a panic.
pub fn pairs(buf: &[u8]) -> Result<Vec<(&str, &[u8])>, &'static str> {
    fn u32_at(buf: &[u8], at: usize) -> Option<usize> {
        let b: [u8; 4] = buf.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(u32::from_le_bytes(b) as usize)
    }
    if buf.is_empty() {
        return Ok(Vec::new());
    }
    let count = u32_at(buf, 0).ok_or("short header map")?;
    let mut data = count
        .checked_mul(8)
        .and_then(|n| n.checked_add(4))
        .ok_or("header map count overflows")?;
    if data > buf.len() {
        return Err("header map count exceeds its size");
    }
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let name_len = u32_at(buf, 4 + i * 8).ok_or("short header map")?;
        let value_len = u32_at(buf, 8 + i * 8).ok_or("short header map")?;
        let name_end = data
            .checked_add(name_len)
            .ok_or("header name out of bounds")?;
        let name = buf.get(data..name_end).ok_or("header name out of bounds")?;
        data = name_end.checked_add(1).ok_or("header map overflows")?;
        let value_end = data
            .checked_add(value_len)
            .ok_or("header value out of bounds")?;
        let value = buf
            .get(data..value_end)
            .ok_or("header value out of bounds")?;
        data = value_end.checked_add(1).ok_or("header map overflows")?;
        out.push((
            std::str::from_utf8(name).map_err(|_| "header name is not UTF-8")?,
            value,
        ));
    }
    Ok(out)
}

pub fn serialize(pairs: &[(&str, &[u8])]) -> Vec<u8> {
    let size = 4 + pairs
        .iter()
        .map(|(n, v)| 10 + n.len() + v.len())
        .sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    for (n, v) in pairs {
        out.extend_from_slice(&(n.len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    }
    for (n, v) in pairs {
        out.extend_from_slice(n.as_bytes());
        out.push(0);
        out.extend_from_slice(v);
        out.push(0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every status the proxy-wasm spec (ABI 0.2.1) defines, and ones it does not: only OK is a
    /// success; any other is an error that keeps its code and names it, never a panic.
    #[test]
    fn every_host_status_is_handled() {
        let named: [(u32, &str); 12] = [
            (1, "not found"),
            (2, "bad argument"),
            (3, "serialization failure"),
            (4, "parse failure"),
            (5, "bad expression"),
            (6, "invalid memory access"),
            (7, "empty"),
            (8, "CAS mismatch"),
            (9, "result mismatch"),
            (10, "internal failure"),
            (11, "broken connection"),
            (12, "unimplemented"),
        ];
        assert_eq!(check(OK), Ok(()));
        for (code, name) in named {
            assert_eq!(check(code), Err(HostStatus(code)));
            assert_eq!(HostStatus(code).to_string(), format!("{name} ({code})"));
        }
        for code in [13, 255, u32::MAX] {
            assert_eq!(check(code), Err(HostStatus(code)));
            assert!(HostStatus(code).to_string().starts_with("unexpected status"));
        }
    }

    #[test]
    fn pairs_round_trip() {
        let h: &[(&str, &[u8])] = &[
            (":status", b"200"),
            ("x-user-id", b"alice"),
            ("empty", b""),
            ("bin", b"\xff\x00"),
        ];
        let buf = serialize(h);
        assert_eq!(pairs(&buf).unwrap(), h);
        assert_eq!(pairs(&[]).unwrap(), vec![]);
    }

    #[test]
    fn malformed_maps_are_errors_not_panics() {
        let good = serialize(&[("a", b"b")]);
        for cut in 0..good.len() - 1 {
            let _ = pairs(&good[..cut]); // must not panic
        }
        assert!(pairs(&[0xff, 0xff, 0xff, 0xff]).is_err());
        let mut lying = good.clone();
        lying[4] = 200; // name length past the end
        assert!(pairs(&lying).is_err());
    }
}
