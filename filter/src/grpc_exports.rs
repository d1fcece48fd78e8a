//! The gRPC callbacks Envoy calls (proxy-wasm ABI 0.2.1), each a one-line forward to `grpc_call`
//! with the real hostcalls. Only built for wasm32, where the host provides the imports.

use crate::grpc_call;
use crate::wasm::Abi;

#[no_mangle]
pub extern "C" fn proxy_on_grpc_receive_initial_metadata(
    context_id: u32,
    token: u32,
    headers: usize,
) {
    grpc_call::on_receive_initial_metadata(context_id, token, headers);
}

#[no_mangle]
pub extern "C" fn proxy_on_grpc_receive(context_id: u32, token: u32, response_size: usize) {
    grpc_call::on_receive(&Abi, context_id, token, response_size);
}

#[no_mangle]
pub extern "C" fn proxy_on_grpc_receive_trailing_metadata(
    context_id: u32,
    token: u32,
    trailers: usize,
) {
    grpc_call::on_receive_trailing_metadata(context_id, token, trailers);
}

#[no_mangle]
pub extern "C" fn proxy_on_grpc_close(context_id: u32, token: u32, status_code: u32) {
    grpc_call::on_close(&Abi, context_id, token, status_code);
}
