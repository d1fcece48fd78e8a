//! The functions Envoy calls (proxy-wasm ABI 0.2.1). Each forwards to `root` or `stream`; none can
//! panic. Only built for wasm32, where the host provides the imports in `abi`.

use crate::abi::LogLevel;
use crate::log::log;
use crate::root::Root;
use crate::vm::{self, Stream};
use crate::{root, stream, strip};

#[no_mangle]
pub extern "C" fn proxy_abi_version_0_2_1() {}

#[cfg(target_os = "wasi")]
extern "C" {
    fn __wasm_call_ctors();
}

/// WASI reactor start: static constructors, then our panic hook.
#[no_mangle]
pub extern "C" fn _initialize() {
    #[cfg(target_os = "wasi")]
    unsafe {
        __wasm_call_ctors();
    }
    crate::log::install_panic_hook();
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
    let created = vm::with(|vm| {
        if parent_id == 0 {
            vm.roots.insert(context_id, Root::new(context_id));
        } else {
            vm.streams.insert(
                context_id,
                Stream {
                    root: parent_id,
                    waiting: None,
                },
            );
        }
    });
    if created.is_none() {
        log(
            LogLevel::Error,
            context_id,
            format_args!("context not registered (re-entrant call)"),
        );
    }
}

#[no_mangle]
pub extern "C" fn proxy_on_vm_start(_root_id: u32, _vm_configuration_size: usize) -> u32 {
    1
}

#[no_mangle]
pub extern "C" fn proxy_on_configure(root_id: u32, plugin_configuration_size: usize) -> u32 {
    u32::from(root::configure(root_id, plugin_configuration_size))
}

#[no_mangle]
pub extern "C" fn proxy_on_tick(root_id: u32) {
    root::tick(root_id);
}

#[no_mangle]
pub extern "C" fn proxy_on_request_headers(
    context_id: u32,
    _num_headers: usize,
    _end_of_stream: u32,
) -> u32 {
    stream::on_request_headers(context_id) as u32
}

/// Body and trailers of a request that waits on its authorization are held (buffered) until the
/// decision: the host's default for a missing callback is to continue, which would let the request
/// go upstream before it is authorized.
#[no_mangle]
pub extern "C" fn proxy_on_request_body(
    context_id: u32,
    _body_size: usize,
    _end_of_stream: u32,
) -> u32 {
    if stream::is_waiting(context_id) {
        1 // StopIterationAndBuffer
    } else {
        0
    }
}

/// Trailers lose any client-sent identity header (a trailer can reach an upstream that merges
/// trailers into headers), then are held like the body while the request waits.
#[no_mangle]
pub extern "C" fn proxy_on_request_trailers(context_id: u32, _num_trailers: usize) -> u32 {
    strip::on_request_trailers(context_id) as u32 // 1: StopIteration
}

#[no_mangle]
pub extern "C" fn proxy_on_http_call_response(
    root_id: u32,
    token: u32,
    num_headers: usize,
    body_size: usize,
    _num_trailers: usize,
) {
    stream::on_callout_answer(root_id, token, num_headers, body_size);
}

/// The context is gone (Envoy calls this right after `proxy_on_done`, which we do not export: one
/// VM entry less per request). A request leaves any flight it waited on.
#[no_mangle]
pub extern "C" fn proxy_on_delete(context_id: u32) {
    stream::on_delete(context_id);
}
