//! What an operator reads when a callout fails: one line per cause per window, saying what to check.

use crate::config::Config;
use crate::decision::{CalloutError, Outcome, Unreachable};
use crate::host::Host;
use crate::throttle::{held_back, Throttle, Topic};

/// One line per failed callout saying what to check, at most once per cause per window.
pub(super) fn explain(
    config: &Config,
    throttle: &mut Throttle,
    host: &dyn Host,
    error: &CalloutError,
) {
    let Some(held) = host
        .now_ms()
        .ok()
        .and_then(|now| throttle.admit(Topic::Failure(error.cause()), now))
    else {
        return;
    };
    let Some(auth) = config.auth.as_ref() else {
        return;
    };
    let cluster = &auth.cluster;
    let also = held_back(held);
    if auth.protocol == crate::config::Protocol::Grpc && explain_grpc(cluster, error, &also) {
        return;
    }
    match error {
        CalloutError::Timeout => log::warn!(
            "no answer from the auth service on cluster '{cluster}' within {} ms: check the service's latency and authService.timeoutMs{also}",
            auth.timeout_ms
        ),
        CalloutError::Unreachable(Unreachable::EnvoyReply(s)) => log::warn!(
            "auth service on cluster '{cluster}' unreachable (Envoy answered {s}: connection refused or reset, or no healthy host): check the service and the cluster's endpoints{also}"
        ),
        CalloutError::Unreachable(Unreachable::NoAnswer) => log::warn!(
            "auth service on cluster '{cluster}' gave no answer (connection reset): check the service and the cluster's endpoints{also}"
        ),
        CalloutError::Unreachable(Unreachable::Dispatch(s)) => log::warn!(
            "callout to cluster '{cluster}' not dispatched ({s}): check that the cluster exists in Envoy's configuration (Istio: outbound|PORT||FQDN of the auth service){also}"
        ),
        CalloutError::ServerError(s) => log::warn!(
            "auth service on cluster '{cluster}' answered {s}: see the auth service's own logs{also}"
        ),
        CalloutError::Malformed => log::warn!(
            "auth service on cluster '{cluster}' answered without a valid final :status (or with an unreadable answer){also}"
        ),
        CalloutError::NoKeys => log::warn!(
            "tokens not checked: their issuer's keys are not fetched yet (see the JWKS fetch lines){also}"
        ),
    }
}

/// The causes whose HTTP wording would misreport a gRPC call (an HTTP status it never had);
/// false for the others, which read the same.
fn explain_grpc(cluster: &str, error: &CalloutError, also: &str) -> bool {
    match error {
        CalloutError::ServerError(501) => log::warn!(
            "auth service on cluster '{cluster}' closed the gRPC call UNIMPLEMENTED: it is not an envoy.service.auth.v3.Authorization server, or the cluster is not the auth service's{also}"
        ),
        CalloutError::ServerError(_) => log::warn!(
            "auth service on cluster '{cluster}' closed the gRPC call with an error status (the code is in the debug log; RESOURCE_EXHAUSTED: an answer over the size limit): see the auth service's own logs{also}"
        ),
        CalloutError::Unreachable(Unreachable::EnvoyReply(_)) => log::warn!(
            "auth service on cluster '{cluster}' unreachable (gRPC UNAVAILABLE: connection refused or reset, no healthy host, or a cluster that does not speak HTTP/2): check the service and the cluster{also}"
        ),
        CalloutError::Malformed => log::warn!(
            "auth service on cluster '{cluster}' closed the gRPC call OK without a readable CheckResponse (no status, or bytes that are not one){also}"
        ),
        _ => return false,
    }
    true
}

/// A request refused as malformed: any client can send these at will, so info (not warn) and at
/// most once per window.
pub(super) fn bad_request(throttle: &mut Throttle, host: &dyn Host, outcome: &Outcome) {
    let Outcome::BadRequest(bad) = outcome else {
        return;
    };
    if let Some(held) = host
        .now_ms()
        .ok()
        .and_then(|now| throttle.admit(Topic::BadRequest, now))
    {
        log::info!("answering 400: {bad}{}", held_back(held));
    }
}
