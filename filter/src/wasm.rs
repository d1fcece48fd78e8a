//! The real hostcalls (wasm32 only, where the host provides these imports): the proxy-wasm ABI
//! 0.2.1 declared directly, each returning a `Result` instead of panicking on an unexpected status.

use crate::abi::{
    check, serialize, BufferType, HostStatus, LogLevel, MapType, MetricType, NOT_FOUND, OK,
};
use crate::hostcalls::Hostcalls;
use std::borrow::Cow;
use std::ptr::{null, null_mut};

const STREAM_REQUEST: u32 = 0;

/// The host itself.
pub struct Abi;

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_log(level: LogLevel, message_data: *const u8, message_size: usize) -> u32;
    fn proxy_call_foreign_function(
        function_name_data: *const u8,
        function_name_size: usize,
        arguments_data: *const u8,
        arguments_size: usize,
        results_data: *mut *mut u8,
        results_size: *mut usize,
    ) -> u32;
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
        metric_type: MetricType,
        name_data: *const u8,
        name_size: usize,
        return_id: *mut u32,
    ) -> u32;
    fn proxy_increment_metric(metric_id: u32, offset: i64) -> u32;
    fn proxy_record_metric(metric_id: u32, value: u64) -> u32;
    fn proxy_set_property(
        path_data: *const u8,
        path_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_get_property(
        path_data: *const u8,
        path_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
    ) -> u32;
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
    fn proxy_grpc_call(
        upstream_data: *const u8,
        upstream_size: usize,
        service_name_data: *const u8,
        service_name_size: usize,
        method_name_data: *const u8,
        method_name_size: usize,
        initial_metadata_data: *const u8,
        initial_metadata_size: usize,
        grpc_message_data: *const u8,
        grpc_message_size: usize,
        timeout_milliseconds: u32,
        return_callout_id: *mut u32,
    ) -> u32;
    fn proxy_get_status(
        return_code: *mut u32,
        return_message_data: *mut *mut u8,
        return_message_size: *mut usize,
    ) -> u32;
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

/// Takes ownership of a buffer the host allocated through our allocator (`proxy_on_memory_allocate`).
unsafe fn owned(data: *mut u8, size: usize) -> Vec<u8> {
    if data.is_null() || size == 0 {
        Vec::new()
    } else {
        Vec::from_raw_parts(data, size, size)
    }
}

/// For the logger, which has no `Hostcalls` at hand.
pub fn log(level: LogLevel, message: &str) -> Result<(), HostStatus> {
    check(unsafe { proxy_log(level, message.as_ptr(), message.len()) })
}

impl Hostcalls for Abi {
    fn log_level(&self) -> Result<u32, HostStatus> {
        let mut level = 0u32;
        check(unsafe { proxy_get_log_level(&mut level) })?;
        Ok(level)
    }

    fn now_nanos(&self) -> Result<u64, HostStatus> {
        let mut t = 0u64;
        check(unsafe { proxy_get_current_time_nanoseconds(&mut t) })?;
        Ok(t)
    }

    fn buffer(&self, kind: BufferType, max: usize) -> Result<Vec<u8>, HostStatus> {
        let (mut data, mut size) = (null_mut(), 0usize);
        match unsafe { proxy_get_buffer_bytes(kind, 0, max, &mut data, &mut size) } {
            OK => Ok(unsafe { owned(data, size) }),
            NOT_FOUND => Ok(Vec::new()),
            s => Err(HostStatus(s)),
        }
    }

    fn header_map(&self, map: MapType) -> Result<Vec<u8>, HostStatus> {
        let (mut data, mut size) = (null_mut(), 0usize);
        match unsafe { proxy_get_header_map_pairs(map, &mut data, &mut size) } {
            OK => {
                let raw = unsafe { owned(data, size) };
                #[cfg(feature = "crash-test")]
                crate::crash_test::trap_if_asked(map, &raw);
                Ok(raw)
            }
            NOT_FOUND => Ok(Vec::new()),
            s => Err(HostStatus(s)),
        }
    }

    fn remove_header(&self, map: MapType, name: &str) -> Result<(), HostStatus> {
        check(unsafe { proxy_remove_header_map_value(map, name.as_ptr(), name.len()) })
    }

    fn add_header(&self, map: MapType, name: &str, value: &[u8]) -> Result<(), HostStatus> {
        check(unsafe {
            proxy_add_header_map_value(map, name.as_ptr(), name.len(), value.as_ptr(), value.len())
        })
    }

    fn send_local_response(
        &self,
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

    fn resume_request(&self) -> Result<(), HostStatus> {
        check(unsafe { proxy_continue_stream(STREAM_REQUEST) })
    }

    fn define_metric(&self, kind: MetricType, name: &str) -> Result<u32, HostStatus> {
        let mut id = 0u32;
        check(unsafe { proxy_define_metric(kind, name.as_ptr(), name.len(), &mut id) })?;
        Ok(id)
    }

    fn increment(&self, id: u32, by: i64) -> Result<(), HostStatus> {
        check(unsafe { proxy_increment_metric(id, by) })
    }

    fn record_metric(&self, id: u32, value: u64) -> Result<(), HostStatus> {
        check(unsafe { proxy_record_metric(id, value) })
    }

    fn set_property(&self, path: &str, value: &[u8]) -> Result<(), HostStatus> {
        check(unsafe { proxy_set_property(path.as_ptr(), path.len(), value.as_ptr(), value.len()) })
    }

    fn property(&self, path: &[&str]) -> Result<Option<Vec<u8>>, HostStatus> {
        // The ABI's path: its segments joined by NUL.
        let path = path.join("\0");
        let (mut data, mut size) = (null_mut(), 0usize);
        match unsafe { proxy_get_property(path.as_ptr(), path.len(), &mut data, &mut size) } {
            OK => Ok(Some(unsafe { owned(data, size) })),
            NOT_FOUND => Ok(None),
            s => Err(HostStatus(s)),
        }
    }

    fn set_effective_context(&self, ctx: u32) -> Result<(), HostStatus> {
        check(unsafe { proxy_set_effective_context(ctx) })
    }

    fn shared_get(&self, key: &str) -> Result<Option<(Vec<u8>, u32)>, HostStatus> {
        let (mut data, mut size, mut cas) = (null_mut(), 0usize, 0u32);
        match unsafe {
            proxy_get_shared_data(key.as_ptr(), key.len(), &mut data, &mut size, &mut cas)
        } {
            OK => Ok(Some((unsafe { owned(data, size) }, cas))),
            NOT_FOUND => Ok(None),
            s => Err(HostStatus(s)),
        }
    }

    fn shared_set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), HostStatus> {
        check(unsafe {
            proxy_set_shared_data(key.as_ptr(), key.len(), value.as_ptr(), value.len(), cas)
        })
    }

    fn set_tick_period_ms(&self, ms: u32) -> Result<(), HostStatus> {
        check(unsafe { proxy_set_tick_period_milliseconds(ms) })
    }

    fn http_call(
        &self,
        cluster: &str,
        headers: &[(&str, Cow<'_, [u8]>)],
        timeout_ms: u32,
    ) -> Result<u32, HostStatus> {
        let map = serialize(headers);
        let trailers = serialize::<&[u8]>(&[]);
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

    fn grpc_call(
        &self,
        upstream: &[u8],
        service: &str,
        method: &str,
        initial_metadata: &[(&str, &[u8])],
        message: &[u8],
        timeout_ms: u32,
    ) -> Result<u32, HostStatus> {
        let metadata = serialize(initial_metadata);
        let mut token = 0u32;
        check(unsafe {
            proxy_grpc_call(
                upstream.as_ptr(),
                upstream.len(),
                service.as_ptr(),
                service.len(),
                method.as_ptr(),
                method.len(),
                metadata.as_ptr(),
                metadata.len(),
                message.as_ptr(),
                message.len(),
                timeout_ms,
                &mut token,
            )
        })?;
        Ok(token)
    }

    fn status(&self) -> Result<(u32, Vec<u8>), HostStatus> {
        let (mut code, mut data, mut size) = (0u32, null_mut(), 0usize);
        check(unsafe { proxy_get_status(&mut code, &mut data, &mut size) })?;
        let message = if data.is_null() {
            Vec::new()
        } else {
            unsafe { owned(data, size) }
        };
        Ok((code, message))
    }

    fn call_foreign(&self, name: &str, args: &[u8]) -> Result<Vec<u8>, HostStatus> {
        let (mut data, mut size) = (null_mut(), 0usize);
        check(unsafe {
            proxy_call_foreign_function(
                name.as_ptr(),
                name.len(),
                args.as_ptr(),
                args.len(),
                &mut data,
                &mut size,
            )
        })?;
        Ok(if data.is_null() {
            Vec::new()
        } else {
            unsafe { owned(data, size) }
        })
    }

    fn memory_bytes(&self) -> u64 {
        core::arch::wasm32::memory_size(0) as u64 * 65_536
    }
}
