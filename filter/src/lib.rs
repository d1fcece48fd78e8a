//! mesh-authz as a proxy-wasm module: the one crate that talks to the host, speaking the proxy-wasm
//! ABI 0.2.1 directly (see the README's "Why not the proxy-wasm crate").
//!
//! - `abi`: the ABI's types and encodings (statuses, map and buffer kinds, header maps).
//! - `hostcalls`: the hostcalls the adapter makes, as a trait; `wasm` implements it on the real
//!   imports (wasm32 only), tests on a fake that records every call.
//! - `exports`: the `proxy_on_*` functions Envoy calls (wasm32 only), one-line forwards to:
//! - `context`: contexts created and deleted, configuration, the tick;
//! - `grpc_call` (with `grpc_exports`, wasm32 only): a gRPC call's answer as Envoy delivers it,
//!   fed to the flow as events.
//! - `stream`: request headers, body, trailers and callout answers, translated into the core's
//!   `Gate` events and its plans back into hostcalls.
//! - `crash_test` (feature `crash-test`, never shipped): a trap on request, for the end-to-end
//!   test of Envoy reloading a crashed VM.
//! - `vm` / `root`: the per-VM state; `host`: the core's `Host`, counters and gauges; `log`: the
//!   `log` facade forwarded to Envoy.
//!
//! Everything that decides lives in `mesh-authz-core` and is tested natively.

// The handlers are public, generic over `Hostcalls`: `exports` drives them with the real host,
// tests with a fake.
pub mod abi;
pub mod context;
// A deliberate trap for the crash-and-reload test; never in the shipped module.
#[cfg(any(test, feature = "crash-test"))]
pub mod crash_test;
pub mod execute;
#[cfg(target_arch = "wasm32")]
mod exports;
pub mod grpc_call;
#[cfg(target_arch = "wasm32")]
mod grpc_exports;
pub mod host;
pub mod hostcalls;
pub mod log;
pub mod removal;
pub mod root;
pub mod stream;
pub mod vm;
#[cfg(target_arch = "wasm32")]
mod wasm;

#[cfg(any(test, feature = "fake-host"))]
pub mod fake;
