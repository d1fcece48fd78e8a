//! A gRPC callout's answer, as Envoy delivers it: the message (read when the flow asks, bounded,
//! and kept in the flight), then the close with its status, where it lands as an HTTP answer
//! does. Initial and trailing metadata carry nothing the decision reads.

use super::answer::Reply;
use super::{Action, CallId, Flow, Output};
use crate::config::Config;
use crate::decision::CalloutError;
use crate::grpc::{response, service::MAX_RESPONSE_BYTES, status};
use crate::host::{Host, Metric};
use crate::response::Judged;

impl Flow {
    /// A message arrived: read it (no more than the call let Envoy receive) if its call is in
    /// flight; one for a call no longer in flight (dropped by a reconfiguration) is not read.
    pub(super) fn grpc_received(&mut self, out: &mut Output<'_>, call: CallId, size: usize) {
        if self.flights.owner(call).is_some() {
            let bytes = size.min(MAX_RESPONSE_BYTES as usize);
            out.actions.push(Action::ReadGrpc { call, bytes });
        }
    }

    /// The message, kept in its flight until the call closes. An unreadable one is not kept:
    /// the close then finds an OK without a CheckResponse (`malformed`).
    pub(super) fn grpc_read(&mut self, call: CallId, message: Option<Vec<u8>>) {
        match message {
            Some(m) => {
                self.flights.keep(call, m);
            }
            None => log::debug!("gRPC call {call}: message unreadable"),
        }
    }

    pub(super) fn grpc_closed(
        &mut self,
        host: &dyn Host,
        out: &mut Output<'_>,
        call: CallId,
        code: u32,
        message: &[u8],
    ) {
        if code != 0 {
            log::debug!(
                "gRPC call {call} closed with {} ({code})",
                status::name(code)
            );
        }
        self.land(host, out, call, Reply::Grpc { code, message });
    }
}

/// The decision of a gRPC call that closed with `code`: its CheckResponse read when it closed OK
/// with one, else the `onError` cause of its status (`status::error`). The answer's fields that
/// are not applied are counted.
pub(super) fn judge(
    host: &dyn Host,
    config: &Config,
    code: u32,
    status_message: &[u8],
    kept: Option<Vec<u8>>,
) -> Result<Judged, CalloutError> {
    let message = match (code, kept) {
        (0, Some(m)) => m,
        (code, _) => return Err(status::error(code, status_message)),
    };
    let checked = response::judge(config, &message)?;
    let ignored = checked.ignored.total();
    if ignored > 0 {
        log::debug!("the auth service's answer asked for {ignored} thing(s) mesh-authz does not apply (headers_to_remove, response_headers_to_add, query parameters, dynamic metadata)");
        host.count_by(Metric::GrpcIgnoredFields, ignored);
    }
    Ok(checked.judged)
}
