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

/// A header map the host keeps, as the ABI numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(transparent)]
pub struct MapType(pub u32);
pub const REQUEST_HEADERS: MapType = MapType(0);
pub const REQUEST_TRAILERS: MapType = MapType(1);
pub const GRPC_RECEIVE_INITIAL_METADATA: MapType = MapType(4);
pub const GRPC_RECEIVE_TRAILING_METADATA: MapType = MapType(5);
pub const CALL_RESPONSE_HEADERS: MapType = MapType(6);

/// A buffer the host keeps, as the ABI numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(transparent)]
pub struct BufferType(pub u32);
pub const CALL_RESPONSE_BODY: BufferType = BufferType(4);
/// The message of a gRPC call's answer, during `proxy_on_grpc_receive`.
pub const GRPC_RECEIVE_BUFFER: BufferType = BufferType(5);
pub const PLUGIN_CONFIGURATION: BufferType = BufferType(7);

/// A metric's kind, as the ABI numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(transparent)]
pub struct MetricType(pub u32);
pub const COUNTER: MetricType = MetricType(0);
pub const GAUGE: MetricType = MetricType(1);
pub const HISTOGRAM: MetricType = MetricType(2);

/// What `proxy_on_request_headers`, `_body` and `_trailers` return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Status {
    Continue = 0,
    /// Headers and trailers: stop iteration; a body: stop and buffer it.
    Pause = 1,
}

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

pub const OK: u32 = 0;
pub const NOT_FOUND: u32 = 1;
pub const CAS_MISMATCH: u32 = 8;

pub fn check(status: u32) -> Result<(), HostStatus> {
    if status == OK {
        Ok(())
    } else {
        Err(HostStatus(status))
    }
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

pub fn serialize<V: AsRef<[u8]>>(pairs: &[(&str, V)]) -> Vec<u8> {
    let size = 4 + pairs
        .iter()
        .map(|(n, v)| 10 + n.len() + v.as_ref().len())
        .sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    for (n, v) in pairs {
        out.extend_from_slice(&(n.len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.as_ref().len() as u32).to_le_bytes());
    }
    for (n, v) in pairs {
        out.extend_from_slice(n.as_bytes());
        out.push(0);
        out.extend_from_slice(v.as_ref());
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
            assert!(HostStatus(code)
                .to_string()
                .starts_with("unexpected status"));
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
