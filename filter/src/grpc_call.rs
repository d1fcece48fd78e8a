//! The answer of a unary gRPC call, as Envoy delivers it to the root context that made it: the
//! CheckResponse (`proxy_on_grpc_receive`) when it came, or the close with its status
//! (`proxy_on_grpc_close`) when it did not; never both. Each becomes the flow's event
//! (`GrpcReceived`, which asks for the message to be read, or `GrpcClosed`), judged there.

use crate::execute::Executor;
use crate::hostcalls::Hostcalls;
use mesh_authz_core::flow::Event;

/// Initial metadata carries nothing the decision reads.
pub fn on_receive_initial_metadata(context_id: u32, token: u32, headers: usize) {
    log::trace!("#{context_id} gRPC call {token}: initial metadata ({headers} entries)");
}

/// The CheckResponse arrived: the flow says whether (and how much of it) to read.
pub fn on_receive<H: Hostcalls>(host: &H, root_id: u32, token: u32, size: usize) {
    crate::log::context(root_id);
    let event = Event::GrpcReceived { call: token, size };
    if Executor::new(host, root_id, root_id)
        .run(event, None)
        .is_none()
    {
        log::debug!("gRPC message for call {token} of an unknown root ignored");
    }
}

/// Trailing metadata: its `grpc-status` reaches `on_close` as the status.
pub fn on_receive_trailing_metadata(context_id: u32, token: u32, trailers: usize) {
    log::trace!("#{context_id} gRPC call {token}: trailing metadata ({trailers} entries)");
}

/// The call failed: its status (the code, and the message only `proxy_get_status` gives).
pub fn on_close<H: Hostcalls>(host: &H, root_id: u32, token: u32, status_code: u32) {
    crate::log::context(root_id);
    let (code, message) = host.status().unwrap_or_else(|_| (status_code, Vec::new()));
    let event = Event::GrpcClosed {
        call: token,
        code,
        message: &message,
    };
    if Executor::new(host, root_id, root_id)
        .run(event, None)
        .is_none()
    {
        log::debug!("gRPC close of call {token} of an unknown root ignored");
    }
}
