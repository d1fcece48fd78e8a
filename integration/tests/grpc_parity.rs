//! What Envoy 1.40's native gRPC ext_authz filter sends (`integration/envoy/ext-authz-grpc.yaml`),
//! recorded by the test gRPC auth service: the reference mesh-authz's gRPC mode must match once the
//! flow sends CheckRequests. Each expectation below was read from a real Envoy; a change in Envoy
//! or in the test service fails here.

use mesh_authz_integration::auth::Tokens;
use mesh_authz_integration::client::Request;
use mesh_authz_integration::envoy::{Envoy, EnvoyOptions, PortMap};
use mesh_authz_integration::grpc_auth::{parity, GrpcAuthService};
use mesh_authz_integration::{echo, paths};
use std::net::SocketAddr;

#[test]
fn envoy_native_grpc_ext_authz_sends_these_fields() {
    let Some(p) = paths::prerequisites().unwrap() else {
        return;
    };
    let grpc = GrpcAuthService::spawn(Tokens::example()).unwrap();
    let echo = echo::spawn(SocketAddr::from(([127, 0, 0, 1], 0)), 1).unwrap();
    let mut options = EnvoyOptions::new(&p.envoy, &p.wasm);
    options.yaml = paths::repo_root().join("integration/envoy/ext-authz-grpc.yaml");
    options.wasm = None;
    options.ports = PortMap::ephemeral(grpc.addr().port(), echo.port());
    let envoy = Envoy::start(&options).unwrap();
    let r = envoy.send(&parity::request()).unwrap();
    assert_eq!(r.status, 200);
    let denied = envoy.send(&Request::get("/api")).unwrap();
    assert_eq!(denied.status, 401);
    let got = grpc.received();
    assert_eq!(got.len(), 2);
    let a = got[0].attributes.clone().unwrap();
    let http = a.request.clone().unwrap().http.unwrap();
    parity::assert_http_as_envoy_sends(&http);
    let source = a
        .source
        .and_then(|s| s.address)
        .and_then(|a| a.socket_address)
        .unwrap();
    assert_eq!(source.address, "127.0.0.1");
    assert_ne!(
        source.port_value, 0,
        "Envoy sends the source port; mesh-authz does not"
    );
    let dest = a
        .destination
        .and_then(|s| s.address)
        .and_then(|a| a.socket_address)
        .unwrap();
    assert_eq!(dest.address, "127.0.0.1");
    assert!(
        a.request.and_then(|r| r.time).is_some(),
        "Envoy sends request.time; mesh-authz does not"
    );
    assert!(a.context_extensions.is_empty());
}
