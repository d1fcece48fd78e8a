//! A gRPC call that gave no CheckResponse, mapped to the `onError` causes: the one table, also in
//! `docs/grpc.md`. The status is what Envoy hands `proxy_on_grpc_close`: the service's
//! `grpc-status`, or Envoy's own when it could not get one (no healthy host, connection reset,
//! its timeout).
//!
//! `serverError` keeps an HTTP status for the logs and the access log: the one `google.rpc.Code`
//! documents for the gRPC code where that is a 5xx, 500 otherwise (a 4xx would read as the
//! client's fault, and the client did nothing wrong).

use crate::decision::{CalloutError, Unreachable};

/// Why a call closed, for a log line.
pub fn name(code: u32) -> &'static str {
    match code {
        0 => "OK",
        1 => "CANCELLED",
        2 => "UNKNOWN",
        3 => "INVALID_ARGUMENT",
        4 => "DEADLINE_EXCEEDED",
        5 => "NOT_FOUND",
        6 => "ALREADY_EXISTS",
        7 => "PERMISSION_DENIED",
        8 => "RESOURCE_EXHAUSTED",
        9 => "FAILED_PRECONDITION",
        10 => "ABORTED",
        11 => "OUT_OF_RANGE",
        12 => "UNIMPLEMENTED",
        13 => "INTERNAL",
        14 => "UNAVAILABLE",
        15 => "DATA_LOSS",
        16 => "UNAUTHENTICATED",
        _ => "unknown code",
    }
}

/// The error of a call that closed with `code` and no decision. `message` is the status message
/// (`grpc-message`): Envoy's own timeout closes with UNAVAILABLE and "upstream request timeout"
/// on some paths, and is a timeout all the same.
pub fn error(code: u32, message: &[u8]) -> CalloutError {
    match code {
        4 => CalloutError::Timeout,
        14 if message.starts_with(b"upstream request timeout") => CalloutError::Timeout,
        14 => CalloutError::Unreachable(Unreachable::EnvoyReply(503)),
        1 => CalloutError::Unreachable(Unreachable::NoAnswer),
        // OK without a readable CheckResponse: an answer, but not one the module can read.
        0 => CalloutError::Malformed,
        12 => CalloutError::ServerError(501),
        _ => CalloutError::ServerError(500),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::Cause;

    #[test]
    fn every_code_has_a_cause() {
        let cases: &[(u32, &[u8], Cause)] = &[
            (0, b"", Cause::Malformed),
            (1, b"", Cause::Unreachable),
            (2, b"boom", Cause::ServerError),
            (3, b"", Cause::ServerError),
            (4, b"", Cause::Timeout),
            (7, b"", Cause::ServerError),
            (8, b"", Cause::ServerError),
            (12, b"", Cause::ServerError),
            (13, b"", Cause::ServerError),
            (14, b"no healthy upstream", Cause::Unreachable),
            (
                14,
                b"upstream connect error or disconnect/reset before headers",
                Cause::Unreachable,
            ),
            (14, b"upstream request timeout", Cause::Timeout),
            (16, b"", Cause::ServerError),
            (17, b"", Cause::ServerError),
            (u32::MAX, b"", Cause::ServerError),
        ];
        for (code, message, cause) in cases {
            assert_eq!(
                error(*code, message).cause(),
                *cause,
                "{code} {}",
                name(*code)
            );
        }
        assert_eq!(error(12, b""), CalloutError::ServerError(501));
        assert_eq!(
            error(16, b""),
            CalloutError::ServerError(500),
            "never a 4xx"
        );
        assert_eq!(name(14), "UNAVAILABLE");
        assert_eq!(name(99), "unknown code");
    }
}
