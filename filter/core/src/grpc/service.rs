//! The gRPC call itself: what `proxy_grpc_call` is given besides the CheckRequest.
//!
//! The ABI's `upstream` argument is either a cluster name or a serialized
//! `envoy.config.core.v3.GrpcService` (Envoy tries the latter first,
//! `source/extensions/common/wasm/context.cc`). Only the proto carries an `:authority`, so the
//! module sends one: `envoy_grpc` = 1 with `cluster_name` = 1, `authority` = 2 and
//! `max_receive_message_length` = 4 (`api/envoy/config/core/v3/grpc_service.proto`).

use crate::config::{AuthService, MAX_DENY_BODY_BYTES};
use crate::proto::{put_bytes, put_message, put_uint};

pub const SERVICE: &str = "envoy.service.auth.v3.Authorization";
pub const METHOD: &str = "Check";

/// The largest CheckResponse Envoy will hand over: the largest deny body a configuration may pass
/// on, plus room for headers. A larger answer ends the call with RESOURCE_EXHAUSTED (a
/// `serverError`) instead of being buffered whole.
pub const MAX_RESPONSE_BYTES: u32 = MAX_DENY_BODY_BYTES + (64 << 10);

/// The serialized `GrpcService` naming the cluster and the `:authority` of the call.
pub fn upstream(auth: &AuthService) -> Vec<u8> {
    let mut out = Vec::with_capacity(auth.cluster.len() + auth.authority.len() + 16);
    put_message(&mut out, 1, |e| {
        put_bytes(e, 1, auth.cluster.as_bytes());
        put_bytes(e, 2, auth.authority.as_bytes());
        // google.protobuf.UInt32Value { value = 1 }
        put_message(e, 4, |v| put_uint(v, 1, u64::from(MAX_RESPONSE_BYTES)));
    });
    out
}

/// The call's initial metadata: `addHeaders` (an API key for the auth service, say), as in HTTP
/// mode.
pub fn initial_metadata(auth: &AuthService) -> Vec<(&str, &[u8])> {
    auth.add_headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_bytes()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;
    use prost::Message;

    #[derive(Clone, PartialEq, prost::Message)]
    struct GrpcService {
        #[prost(message, optional, tag = "1")]
        envoy_grpc: Option<EnvoyGrpc>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct EnvoyGrpc {
        #[prost(string, tag = "1")]
        cluster_name: String,
        #[prost(string, tag = "2")]
        authority: String,
        #[prost(message, optional, tag = "4")]
        max_receive_message_length: Option<UInt32Value>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct UInt32Value {
        #[prost(uint32, tag = "1")]
        value: u32,
    }

    #[test]
    fn the_upstream_names_cluster_authority_and_a_bound() {
        let c = Config::parse(
            br#"{"authService": {"protocol": "grpc", "cluster": "outbound|9001||authz.ns.svc.cluster.local",
                 "addHeaders": {"x-api-key": "k"}}}"#,
        )
        .unwrap();
        let auth = c.auth.as_ref().unwrap();
        let g = GrpcService::decode(upstream(auth).as_slice()).unwrap();
        let e = g.envoy_grpc.unwrap();
        assert_eq!(e.cluster_name, "outbound|9001||authz.ns.svc.cluster.local");
        assert_eq!(e.authority, "authz.ns.svc.cluster.local");
        assert_eq!(
            e.max_receive_message_length.unwrap().value,
            MAX_RESPONSE_BYTES
        );
        assert_eq!(initial_metadata(auth), [("x-api-key", b"k".as_slice())]);
    }
}
