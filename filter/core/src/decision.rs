//! What the auth service decided, in the compact form the cache holds. Header names are indexes into
//! the config's `identityHeaders` / `denyHeaders` lists, so an entry stores only the values.

pub use crate::cache::Weigh;
use crate::callout::BadRequest;
pub use crate::tagged::TaggedHeaders;
use std::rc::Rc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The identity headers to set upstream: (index into `identity_headers`, value).
    Allow { identity: TaggedHeaders },
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
            Decision::Allow { identity } => identity.as_bytes().len(),
            Decision::Deny { headers, body, .. } => headers.as_bytes().len() + body.len(),
        }
    }
}

/// Why no decision came back. Each is handled by `onError`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CalloutError {
    /// `dispatch_http_call` refused: unknown cluster or bad headers.
    Dispatch(String),
    /// No response: timeout, connection failure, no healthy host.
    NoResponse,
    /// A 5xx from the service.
    ServerError(u16),
    /// A response without a usable `:status`, or with a 1xx one (never a final answer).
    Malformed,
}

/// How the filter ends a request's authorization. `reply::action` turns it into what Envoy does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Bypass,
    Decided(Rc<Decision>),
    Error(CalloutError),
    BadRequest(BadRequest),
}
