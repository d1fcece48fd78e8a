//! What an operator reads when a callout fails: one line per cause per window, saying what to check.

use crate::config::Config;
use crate::decision::{CalloutError, Unreachable};
use crate::host::Host;
use crate::throttle::{Throttle, WINDOW_MS};

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
        .and_then(|now| throttle.admit(error.cause(), now))
    else {
        return;
    };
    let Some(auth) = config.auth.as_ref() else {
        return;
    };
    let cluster = &auth.cluster;
    let also = if held > 0 {
        format!(
            " ({held} more like this in the last {} s)",
            WINDOW_MS / 1000
        )
    } else {
        String::new()
    };
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
