//! mesh-authz as a proxy-wasm module: the one crate that talks to the host.
//!
//! - `abi`: the hostcalls we use, declared directly so that none can panic; header map parsing.
//! - `log`: context-tagged logging at Envoy's level, and the panic hook.
//! - `host`: the core's `Host` trait (clock, counters) on those hostcalls.
//! - `root`: configuration (checked by `mesh_authz_core::Config`), one `Authorizer` per config.
//! - `http`: the per-request adapter: strip identity, start, callout, carry out the `Action`.
//!
//! Everything that decides lives in `mesh-authz-core` and is tested natively.

pub mod abi;
mod host;
mod http;
pub mod log;
mod root;

proxy_wasm::main! {{
    log::install_panic_hook();
    proxy_wasm::set_root_context(|id| Box::new(root::Root::new(id)));
}}
