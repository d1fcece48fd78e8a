//! The functions Envoy calls (proxy-wasm ABI 0.2.1), each a one-line forward to `context` or
//! `stream` with the real hostcalls. Only built for wasm32, where the host provides the imports.

use crate::abi::Status;
use crate::wasm::Abi;
use crate::{context, stream};

#[no_mangle]
pub extern "C" fn proxy_abi_version_0_2_1() {}

#[cfg(target_os = "wasi")]
extern "C" {
    fn __wasm_call_ctors();
}

/// WASI reactor start: static constructors, then our logger and panic hook.
#[no_mangle]
pub extern "C" fn _initialize() {
    #[cfg(target_os = "wasi")]
    unsafe {
        __wasm_call_ctors();
    }
    crate::log::install();
}

/// The host asks for memory to hand us a buffer; we take it back as a `Vec<u8>` of exactly `size`.
#[no_mangle]
pub extern "C" fn proxy_on_memory_allocate(size: usize) -> *mut u8 {
    let mut buf: Vec<u8> = Vec::with_capacity(size);
    let ptr = buf.as_mut_ptr();
    std::mem::forget(buf);
    ptr
}

#[no_mangle]
pub extern "C" fn proxy_on_context_create(context_id: u32, parent_id: u32) {
    context::on_context_create(context_id, parent_id);
}

#[no_mangle]
pub extern "C" fn proxy_on_vm_start(_root_id: u32, _vm_configuration_size: usize) -> u32 {
    1
}

#[no_mangle]
pub extern "C" fn proxy_on_configure(root_id: u32, plugin_configuration_size: usize) -> u32 {
    u32::from(context::on_configure(
        &Abi,
        root_id,
        plugin_configuration_size,
    ))
}

#[no_mangle]
pub extern "C" fn proxy_on_tick(root_id: u32) {
    context::on_tick(&Abi, root_id);
}

#[no_mangle]
pub extern "C" fn proxy_on_request_headers(
    context_id: u32,
    _num_headers: usize,
    end_of_stream: u32,
) -> Status {
    stream::on_request_headers(&Abi, context_id, end_of_stream != 0)
}

#[no_mangle]
pub extern "C" fn proxy_on_request_body(
    context_id: u32,
    _body_size: usize,
    _end_of_stream: u32,
) -> Status {
    stream::on_request_body(&Abi, context_id)
}

#[no_mangle]
pub extern "C" fn proxy_on_request_trailers(context_id: u32, _num_trailers: usize) -> Status {
    stream::on_request_trailers(&Abi, context_id)
}

#[no_mangle]
pub extern "C" fn proxy_on_http_call_response(
    root_id: u32,
    token: u32,
    num_headers: usize,
    body_size: usize,
    _num_trailers: usize,
) {
    stream::on_callout_answer(&Abi, root_id, token, num_headers, body_size);
}

/// The context is gone (Envoy calls this right after `proxy_on_done`, which we do not export: one
/// VM entry less per request).
#[no_mangle]
pub extern "C" fn proxy_on_delete(context_id: u32) {
    context::on_delete(&Abi, context_id);
}
