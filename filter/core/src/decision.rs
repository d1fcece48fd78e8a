//! What the auth service decided, in the compact form the cache holds. Header names are indexes into
//! the config's `identityHeaders` / `denyHeaders` lists, so an entry stores only the values.

pub use crate::cache::Weigh;
use crate::callout::BadRequest;
pub use crate::tagged::TaggedHeaders;
use std::rc::Rc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The identity headers to set upstream: (index into `identity_headers`, value); `status` is
    /// the service's 2xx, for the access log.
    Allow {
        status: u16,
        identity: TaggedHeaders,
    },
    /// What the client gets: the service's status, the `denyHeaders` it sent, its body (bounded).
    Deny {
        status: u16,
        headers: TaggedHeaders,
        body: Box<[u8]>,
    },
}

impl Weigh for Decision {
    /// The header value and body bytes this decision keeps on the heap: what varies between entries.
    fn payload_bytes(&self) -> usize {
        match self {
            Decision::Allow { identity, .. } => identity.as_bytes().len(),
            Decision::Deny { headers, body, .. } => headers.as_bytes().len() + body.len(),
        }
    }
}

/// Why no decision came back. Each is handled by `onError`, by cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CalloutError {
    /// No answer within `authService.timeoutMs` (Envoy's own 504).
    Timeout,
    /// The auth service could not be reached.
    Unreachable(Unreachable),
    /// A 5xx the auth service itself sent.
    ServerError(u16),
    /// An answer the module cannot read: an unreadable header map or body, no valid `:status`,
    /// or a 1xx (never a final answer).
    Malformed,
    /// A token's signature cannot be checked: its issuer's keys were never fetched (or the check
    /// itself failed to run). Not the client's fault, so not a 401.
    NoKeys,
}

/// How the auth service could not be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreachable {
    /// Envoy answered for it (connection refused or reset, no healthy host, overflow): a 5xx
    /// without `x-envoy-upstream-service-time`, which Envoy adds to every answer from upstream.
    EnvoyReply(u16),
    /// No answer at all.
    NoAnswer,
    /// `dispatch_http_call` refused: unknown cluster or bad headers.
    Dispatch(String),
}

/// The causes `onError` can set a policy for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    Timeout,
    Unreachable,
    ServerError,
    Malformed,
    Jwks,
}

impl Cause {
    pub const ALL: [Cause; 5] = [
        Cause::Timeout,
        Cause::Unreachable,
        Cause::ServerError,
        Cause::Malformed,
        Cause::Jwks,
    ];

    /// The name in configuration and logs.
    pub fn name(self) -> &'static str {
        match self {
            Cause::Timeout => "timeout",
            Cause::Unreachable => "unreachable",
            Cause::ServerError => "serverError",
            Cause::Malformed => "malformed",
            Cause::Jwks => "jwks",
        }
    }
}

impl CalloutError {
    pub fn cause(&self) -> Cause {
        match self {
            CalloutError::Timeout => Cause::Timeout,
            CalloutError::Unreachable(_) => Cause::Unreachable,
            CalloutError::ServerError(_) => Cause::ServerError,
            CalloutError::Malformed => Cause::Malformed,
            CalloutError::NoKeys => Cause::Jwks,
        }
    }
}

/// How the filter ends a request's authorization. `reply::action` turns it into what Envoy does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Bypass,
    Decided(Rc<Decision>),
    /// The callout failed (why: the error) and `cache.staleIfErrorSeconds` let an expired decision
    /// serve instead.
    Stale(Rc<Decision>, CalloutError),
    Error(CalloutError),
    BadRequest(BadRequest),
    /// A valid token allowed the request without a callout (`jwt.mode: authenticate`); its
    /// `claimHeaders` are the identity.
    Authenticated(TaggedHeaders),
    /// 401: no token where one is required, or a token that failed a check (`presented`).
    Unauthenticated {
        presented: bool,
    },
}
