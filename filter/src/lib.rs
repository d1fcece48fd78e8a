//! mesh-authz as a proxy-wasm module: the one crate that talks to the host, speaking the proxy-wasm
//! ABI 0.2.1 directly (no SDK dispatcher: none of its panics, and callouts owned by the root context
//! so that one callout can serve every request waiting on the same key).
//!
//! - `abi`: the hostcalls we use, each returning a `Result`; header map encoding.
//! - `exports`: the `proxy_on_*` functions Envoy calls (wasm32 only).
//! - `vm`: the per-VM state: root contexts and live requests.
//! - `root`: configuration (checked by `mesh_authz_core::Config`), flights, gauges.
//! - `stream`: one request: strip identity, start, join or dispatch, carry out the `Action`.
//! - `strip`: client-sent identity headers out of request headers and trailers.
//! - `host`: the core's `Host` trait (clock, counters) on those hostcalls; `log`: logging.
//!
//! Everything that decides lives in `mesh-authz-core` and is tested natively.

// Natively only `abi`'s parsing is exercised (by unit tests); the rest is reached from `exports`.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

pub mod abi;
#[cfg(target_arch = "wasm32")]
mod exports;
mod host;
pub mod log;
mod root;
mod stream;
mod strip;
mod vm;
