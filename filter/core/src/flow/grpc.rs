//! A gRPC callout's answer, as Envoy delivers a unary call's: either its CheckResponse
//! (`proxy_on_grpc_receive`, read when the flow asks, bounded) or, when none came, the close
//! with its status (`proxy_on_grpc_close`); never both (Envoy's `GrpcCallClientHandler` calls
//! one on success, the other on failure). Either lands as an HTTP answer does. Initial and
//! trailing metadata carry nothing the decision reads.

use super::answer::Reply;
use super::{Action, CallId, Flow, Output};
use crate::config::Config;
use crate::decision::CalloutError;
use crate::grpc::{response, service::MAX_RESPONSE_BYTES, status};
use crate::host::{Host, Metric};
use crate::response::Judged;

impl Flow {
    /// The CheckResponse arrived: read it (no more than the call let Envoy receive) if its call
    /// is in flight; one for a call no longer in flight (dropped by a reconfiguration) is not
    /// read.
    pub(super) fn grpc_received(&mut self, out: &mut Output<'_>, call: CallId, size: usize) {
        if self.flights.owner(call).is_some() {
            let bytes = size.min(MAX_RESPONSE_BYTES as usize);
            out.actions.push(Action::ReadGrpc { call, bytes });
        }
    }

    pub(super) fn grpc_read(
        &mut self,
        host: &dyn Host,
        out: &mut Output<'_>,
        call: CallId,
        message: Option<&[u8]>,
    ) {
        self.land(host, out, call, Reply::GrpcMessage(message));
    }

    pub(super) fn grpc_closed(
        &mut self,
        host: &dyn Host,
        out: &mut Output<'_>,
        call: CallId,
        code: u32,
        message: &[u8],
    ) {
        log::debug!(
            "gRPC call {call} closed with {} ({code})",
            status::name(code)
        );
        self.land(host, out, call, Reply::GrpcStatus { code, message });
    }
}

/// The decision in a CheckResponse (`None`: unreadable, `malformed`); the answer's fields that
/// are not applied are counted.
pub(super) fn judge(
    host: &dyn Host,
    config: &Config,
    message: Option<&[u8]>,
) -> Result<Judged, CalloutError> {
    let checked = response::judge(config, message.ok_or(CalloutError::Malformed)?)?;
    let ignored = checked.ignored.total();
    if ignored > 0 {
        log::debug!("the auth service's answer asked for {ignored} thing(s) mesh-authz does not apply (headers_to_remove, response_headers_to_add, query parameters, dynamic metadata)");
        host.count_by(Metric::GrpcIgnoredFields, ignored);
    }
    Ok(checked.judged)
}
