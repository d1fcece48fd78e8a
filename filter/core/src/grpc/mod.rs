//! The gRPC flavour of Envoy's external authorization: `envoy.service.auth.v3.Authorization/Check`,
//! spoken with the hand-written wire codec in `proto` (no protobuf runtime in the module).
//!
//! - `attrs`: what the CheckRequest needs beyond the headers, read from the host's properties.
//! - `request`: the CheckRequest, built from the same `callout::Walk` as the HTTP check request,
//!   and the cache key over every field of it that can differ between requests.
//! - `response`: a CheckResponse read into the same `response::Judged` the HTTP mode gives.
//! - `status`: a failed call (its gRPC status) mapped to the `onError` causes, in one table.
//! - `service`: the call itself: upstream (cluster and `:authority`), service, method.
//!
//! Field numbers are Envoy's, from `api/envoy/service/auth/v3/external_auth.proto`,
//! `api/envoy/service/auth/v3/attribute_context.proto`, `api/envoy/config/core/v3/base.proto`,
//! `api/envoy/config/core/v3/address.proto`, `api/envoy/config/core/v3/grpc_service.proto`,
//! `api/envoy/type/v3/http_status.proto` and googleapis' `google/rpc/status.proto`.

pub mod attrs;
pub mod request;
pub mod response;
pub mod service;
pub mod status;

#[cfg(any(test, feature = "envoy-protos"))]
pub mod envoy_protos;
