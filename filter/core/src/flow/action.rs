//! What the flow asks of the adapter. Each action is carried out as it says, in order; the
//! adapter reports what the host answered where the action says so.

use super::{Ctx, FetchRequest};
use crate::callout::{CalloutHeaders, Walk};
use crate::config::Config;
use crate::engine::Authorizer;
use crate::jwt::Removal;
use crate::reply;
pub use crate::reply::Verdict;
use crate::revocation::FeedFetch;
use crate::Outcome;
use std::borrow::Cow;
use std::rc::Rc;

/// Which of a request's header maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Headers,
    Trailers,
}

pub enum Action<'e> {
    /// Remove every value of each of these names from request `ctx`'s `part`.
    Strip {
        ctx: Ctx,
        part: Part,
        names: Vec<&'e str>,
    },
    /// Dispatch this callout from the root context (it outlives the request and can serve
    /// others), then report `Event::CalledOut`.
    CallOut(CallOut<'e>),
    /// Dispatch this JWKS fetch from the root context, then report `Event::JwksDispatched`.
    FetchJwks(JwksFetch),
    /// Dispatch this revocation feed read (GET) from the root context, then report
    /// `Event::FeedDispatched`.
    FetchFeed(FeedRead),
    /// Read this many bytes of the answer's body, then report `Event::AnswerBody`.
    ReadBody { bytes: usize },
    /// Read this many bytes of gRPC call `call`'s message (the receive buffer), then report
    /// `Event::GrpcRead`.
    ReadGrpc { call: super::CallId, bytes: usize },
    /// Read request `ctx`'s headers again (it waited), then report `Event::HeadersReread`.
    ReadHeaders { ctx: Ctx },
    /// End request `ctx`'s authorization.
    Conclude(Conclusion),
    /// Answer request `ctx` 500 (`reply::fail_closed`): the filter could not do its job safely.
    FailClosed { ctx: Ctx },
    /// Set the root context's gauges.
    Gauges(Gauges),
}

/// A callout to the auth service for request `ctx`.
pub struct CallOut<'e> {
    pub ctx: Ctx,
    pub(super) authz: Rc<Authorizer>,
    pub(super) walk: Walk<'e>,
    /// Later requests with the same key may wait on it.
    pub(super) shared: bool,
    /// The clock as the request was looked up, when read then: the callout's start.
    pub(super) started_ms: Option<u64>,
    /// The decision is not cached past this (the token's `exp`).
    pub(super) cap_ms: Option<u64>,
    /// The request is already paused (it waited): resume it when it goes on.
    pub(super) paused: bool,
}

impl CallOut<'_> {
    pub fn config(&self) -> &Config {
        self.authz.config()
    }

    pub fn headers(&self) -> CalloutHeaders<'_> {
        self.walk.headers(self.authz.config())
    }
}

/// A JWKS fetch to dispatch from the root context.
pub struct JwksFetch {
    pub(super) authz: Rc<Authorizer>,
    pub provider: usize,
}

/// A revocation feed read to dispatch from the root context.
pub struct FeedRead {
    pub(super) authz: Rc<Authorizer>,
    pub fetch: FeedFetch,
}

impl FeedRead {
    /// The read's request headers.
    pub fn headers(&self) -> [(&str, &[u8]); 4] {
        [
            (":method", b"GET"),
            (":path", self.fetch.path.as_bytes()),
            (":authority", self.fetch.authority.as_bytes()),
            ("accept", b"application/json"),
        ]
    }
}

/// An outcome applied to one request: what Envoy does with it, what the access log shows.
pub struct Conclusion {
    pub ctx: Ctx,
    pub(super) authz: Rc<Authorizer>,
    pub(super) outcome: Outcome,
    /// Decided from a cache level, without a callout of its own.
    pub(super) cached: bool,
    pub(super) removal: Option<Removal>,
    /// The request was paused: resume it when it goes on.
    pub resume: bool,
    /// Its cached decision was revoked, so it was asked again (`mesh_authz.revoked`).
    pub(super) revoked: bool,
}

impl Conclusion {
    pub fn outcome(&self) -> &Outcome {
        &self.outcome
    }

    /// Go on upstream with identity headers, or answer locally.
    pub fn verdict(&self) -> Verdict<'_> {
        reply::action(self.authz.config(), &self.outcome)
    }

    /// What to take out of the request before it goes upstream (`forwardToken: false`), when its
    /// verdict lets it go on.
    pub fn removal(&self) -> Option<&Removal> {
        self.removal.as_ref()
    }

    /// The filter state Envoy's access log can print
    /// (`%FILTER_STATE(wasm.mesh_authz.outcome:PLAIN)%`, or `wasm.mesh_authz` alone in the `json`
    /// format: see `access_log`); none when `accessLog` is off. `mesh_authz.revoked` (`revoked`
    /// in the json form) is `true` only on a request asked again because a revocation (or a
    /// flush) dropped its cached decision, and absent otherwise.
    pub fn properties(&self) -> [(&'static str, Option<Cow<'_, [u8]>>); 5] {
        let config = self.authz.config();
        if !config.access_log {
            return [
                ("mesh_authz.outcome", None),
                ("mesh_authz.cached", None),
                ("mesh_authz.auth_status", None),
                ("mesh_authz.user", None),
                ("mesh_authz.revoked", None),
            ];
        }
        let r = reply::record(config, &self.outcome, self.cached);
        if config.access_log_format == crate::access_log::Format::Json {
            let one = Some(Cow::Owned(crate::access_log::json(&r, self.revoked)));
            return [
                (crate::access_log::JSON_PROPERTY, one),
                ("mesh_authz.cached", None),
                ("mesh_authz.auth_status", None),
                ("mesh_authz.user", None),
                ("mesh_authz.revoked", None),
            ];
        }
        let cached: &[u8] = if r.cached { b"true" } else { b"false" };
        [
            (
                "mesh_authz.outcome",
                Some(Cow::Borrowed(r.label.name().as_bytes())),
            ),
            ("mesh_authz.cached", Some(Cow::Borrowed(cached))),
            (
                "mesh_authz.auth_status",
                r.auth_status
                    .map(|s| Cow::Owned(s.to_string().into_bytes())),
            ),
            ("mesh_authz.user", r.user.map(Cow::Borrowed)),
            (
                "mesh_authz.revoked",
                self.revoked.then_some(Cow::Borrowed(b"true".as_slice())),
            ),
        ]
    }
}

/// The gauges of one root context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Gauges {
    pub cache_entries: usize,
    pub in_flight: usize,
    pub waiting: usize,
    /// Milliseconds since the last good read of the revocation feed by any VM of this Envoy, as
    /// this VM knows it (`None`: no feed). Every VM knows about the same value, so it is exported
    /// by setting the gauge, not by adding each VM's share as the others are.
    pub revocation_lag_ms: Option<u64>,
}

impl JwksFetch {
    /// The HTTP call of this fetch; `None` when its provider has no remote JWKS.
    pub fn request(&self) -> Option<FetchRequest<'_>> {
        super::jwks::request(self.authz.config(), self.provider)
    }
}
