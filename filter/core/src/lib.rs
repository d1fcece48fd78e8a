//! mesh-authz's decision logic, free of any proxy-wasm import so that it compiles and is tested
//! natively. The `mesh-authz` crate next door is the only thing that talks to the host.
//!
//! - `config`: the plugin JSON, checked once at configure time into an immutable `Config`.
//! - `identity`: which request header names spell a configured identity header.
//! - `request` / `callout` / `key`: the request head, one walk of it giving the ext_authz-shaped
//!   callout and the cache key (a digest of the same inputs).
//! - `response` / `cache_control` / `decision`: the auth service's answer as a typed `Decision`.
//! - `cache`: bounded, TTL'd decisions per VM; `shared`: the level shared by all workers;
//!   `flight`: one callout per key in flight.
//! - `path` / `bypass`: the path as the most lenient upstream reads it (dot segments refused), and
//!   the requests that skip the callout.
//! - `jwt`: tokens checked in the proxy (JWKS keys, claims, a verified-token cache).
//! - `engine`: one configuration's decisions (path check, bypass, cache, judging) against a
//!   `host::Host` (clock, counters, shared data).
//! - `flow`: the request flow as one state machine with no I/O: `Flow::handle` takes every event
//!   the adapter sees and gives the actions to carry out; single flight lives here. Its module
//!   doc names the ideas (request, callout, flight, decision, outcome, conclusion, token, JWKS).
//! - `revocation`: the feed of revoked subjects each Envoy follows, and the rule that drops a
//!   cached decision made before a revocation of its subject.
//! - `reply`: the one place an outcome becomes a `Verdict` for Envoy.
//!
//! The core explains its decisions through the `log` facade; the adapter forwards it to Envoy.

pub mod access_log;
pub mod bypass;
pub mod cache;
pub mod cache_control;
pub mod callout;
pub mod config;
pub mod decision;
pub mod engine;
pub mod error;
pub mod flight;
pub mod flow;
pub mod grpc;
pub mod host;
pub mod identity;
pub mod ids;
pub mod jwt;
pub mod key;
pub mod path;
pub mod proto;
pub mod reply;
pub mod request;
pub mod response;
pub mod revocation;
pub mod shared;
pub mod tagged;
pub mod throttle;

pub use config::{Config, ConfigError};
pub use decision::Outcome;
pub use engine::{Authorizer, Start};
pub use flow::Flow;
pub use reply::Verdict;
