//! Everything mesh-authz needs around the filter to run it for real: an example auth service, an
//! echo upstream, and a harness that boots the real Envoy with the built module.
//!
//! - `auth`: the ext_authz-style example auth service (token file, decision rules, runtime knobs
//!   and a record of every callout, for tests and the `example-auth` binary).
//! - `echo`: the upstream that answers with what it received (`echo-upstream` binary).
//! - `server`: the shared hyper accept loop and the in-process `ServerHandle`.
//! - `client`: a blocking raw HTTP/1.1 client that can send duplicate, mixed-case and non-UTF-8
//!   headers, which a typed client refuses to.
//! - `envoy`: start Envoy from `integration/envoy/envoy.yaml` with overrides walked into the parsed
//!   YAML (ports, module path, plugin JSON), wait on its admin endpoint, read its stats and log.
//! - `stack`: auth service + echo upstream + Envoy wired together, the unit the tests use.
//! - `chaos`: phases of auth-service trouble under a steady mixed load, checked request by request.
//! - `zipf`: a seeded RNG and a Zipf sampler (which user sends the next request).
//! - `jwt`: a token issuer for tests: run-time keys, its JWKS, honest and forged tokens.
//! - `paths`: where the repo, Envoy and the module are, and the skip-or-fail rule when absent.
//! - `wait`: polling with a deadline for what happens asynchronously.

pub mod auth;
pub mod chaos;
pub mod client;
pub mod echo;
pub mod envoy;
pub mod error;
pub mod grpc_auth;
pub mod jwt;
pub mod paths;
pub mod server;
pub mod stack;
pub mod wait;
pub mod zipf;

pub use error::HarnessError;
