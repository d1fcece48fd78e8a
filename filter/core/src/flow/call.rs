//! The call a `CallOut` makes, typed: the HTTP check request or the gRPC `Check`. The adapter
//! matches and makes it; what goes into it is decided here.

use super::CallOut;
use crate::callout::CalloutHeaders;
use crate::config::Protocol;
use crate::grpc;

pub enum Request<'a> {
    /// `dispatch_http_call`.
    Http {
        cluster: &'a str,
        headers: CalloutHeaders<'a>,
        timeout_ms: u32,
    },
    /// `dispatch_grpc_call`.
    Grpc(GrpcCall<'a>),
}

pub struct GrpcCall<'a> {
    /// The serialized `GrpcService` (cluster and `:authority`).
    pub upstream: Vec<u8>,
    pub service: &'static str,
    pub method: &'static str,
    pub metadata: Vec<(&'a str, &'a [u8])>,
    /// The serialized CheckRequest.
    pub message: Vec<u8>,
    pub timeout_ms: u32,
}

impl CallOut<'_> {
    /// The call to make; `None` when the configuration has no auth service (a callout is never
    /// planned then).
    pub fn request(&self) -> Option<Request<'_>> {
        let config = self.authz.config();
        let auth = config.auth.as_ref()?;
        match auth.protocol {
            Protocol::Grpc => {
                // Every gRPC-mode walk reads its attributes (`Authorizer::walk`).
                let attrs = self.walk.grpc().map(|r| r.attributes()).unwrap_or_default();
                Some(Request::Grpc(GrpcCall {
                    upstream: grpc::service::upstream(auth),
                    service: grpc::service::SERVICE,
                    method: grpc::service::METHOD,
                    metadata: grpc::service::initial_metadata(auth),
                    message: grpc::request::check_request(config, &self.walk, &attrs),
                    timeout_ms: auth.timeout_ms,
                }))
            }
            Protocol::Http => Some(Request::Http {
                cluster: &auth.cluster,
                headers: self.walk.headers(config),
                timeout_ms: auth.timeout_ms,
            }),
        }
    }
}
