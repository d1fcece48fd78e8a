//! Contexts coming and going, and root contexts' own events: configuration and the tick.

use crate::abi::PLUGIN_CONFIGURATION;
use crate::execute::Executor;
use crate::host::{Gauges, Metrics};
use crate::hostcalls::Hostcalls;
use crate::root::Root;
use crate::vm;
use mesh_authz_core::config::announce;
use mesh_authz_core::flow::Event;
use mesh_authz_core::{Authorizer, Config};

const TICK_MS: u32 = 1000;

/// A context is created: a root context (no parent) or a request under root `parent`.
pub fn on_context_create(ctx: u32, parent: u32) {
    crate::log::context(ctx);
    let created = vm::with(|vm| {
        if parent == 0 {
            vm.roots.insert(ctx, Root::default());
        } else {
            vm.streams.insert(ctx, parent);
        }
    });
    if created.is_none() {
        log::error!("context not registered (re-entrant call)");
    }
}

fn load(h: &impl Hostcalls, size: usize) -> Result<Config, String> {
    announce::check_size(size)?;
    let text = h
        .buffer(PLUGIN_CONFIGURATION, size.max(1))
        .map_err(|s| format!("(config): could not read the plugin configuration: {s}"))?;
    Config::parse(&text).map_err(|e| e.to_string())
}

/// Reads the plugin configuration and hands it to the core, which checks it; `false` refuses it
/// (Envoy then keeps whatever ran before, or refuses to start).
pub fn on_configure(h: &impl Hostcalls, root_id: u32, size: usize) -> bool {
    crate::log::context(root_id);
    if let Ok(level) = h.log_level() {
        log::set_max_level(crate::log::filter_of(level));
    }
    let config = match load(h, size) {
        Ok(c) => c,
        Err(reason) => {
            log::error!("invalid configuration: {reason}");
            return false;
        }
    };
    let envoy_verify = config.wants_envoy_verify() && has_verify_signature(h);
    config.announce(envoy_verify);
    let needs_metrics =
        vm::with(|vm| vm.roots.get(&root_id).is_none_or(|r| r.metrics.is_none())).unwrap_or(false);
    let defined = needs_metrics.then(|| (Metrics::define(h), Gauges::define(h)));
    let authorizer = Authorizer::with_signatures(config, envoy_verify);
    let stored = vm::with(|vm| {
        let root = vm.roots.entry(root_id).or_default();
        if let Some((metrics, gauges)) = defined {
            match metrics {
                Ok(m) => root.metrics = Some(m),
                Err((name, s)) => {
                    log::warn!("counter {name} not defined ({s}); it will not be reported")
                }
            }
            root.gauges = gauges;
        }
    });
    if stored.is_none() {
        log::error!("configuration not stored (re-entrant call)");
        return false;
    }
    if let Err(s) = h.set_tick_period_ms(TICK_MS) {
        log::debug!("no tick ({s}): gauges will not be updated");
    }
    if Executor::new(h, root_id, root_id)
        .run(Event::Configure(Box::new(authorizer)), None)
        .is_none()
    {
        log::error!("configuration not stored (re-entrant call)");
        return false;
    }
    true
}

/// Whether the host runs Envoy's `verify_signature`: called with no arguments it answers
/// `BadArgument` (no key), where a host without it answers `NotFound`.
fn has_verify_signature(h: &impl Hostcalls) -> bool {
    match h.call_foreign(mesh_authz_core::jwt::envoy_verify::FUNCTION, &[]) {
        Ok(_) => true,
        Err(s) => s != crate::abi::HostStatus(crate::abi::NOT_FOUND),
    }
}

pub fn on_tick(h: &impl Hostcalls, root_id: u32) {
    crate::log::context(root_id);
    Executor::new(h, root_id, root_id).run(Event::Tick, None);
}

/// A context is gone. A request leaves any flight it waited on (the callout goes on for the
/// others); a root context takes its share of the gauges with it.
pub fn on_delete(h: &impl Hostcalls, ctx: u32) {
    // A request leaves its root's flow (looked up in the same borrow); then its entry goes.
    Executor::for_request(h, ctx).run(Event::Gone { ctx }, None);
    vm::with(|vm| {
        vm.streams.remove(&ctx);
        if let Some(mut root) = vm.roots.remove(&ctx) {
            root.gauges.withdraw(h);
        }
    });
}
