//! A root context: reads and checks the plugin configuration, keeps the current `Authorizer` (one per
//! configuration; a new one starts with an empty cache), owns the callouts in flight, and records the
//! gauges once a second.

use crate::abi;
use crate::host::{GaugeValues, Gauges, Metrics, ProxyHost};
use crate::log_at;
use crate::vm;
use mesh_authz_core::flight::Flights;
use mesh_authz_core::{Authorizer, Config};
use std::rc::Rc;

/// Configuration larger than this is refused rather than read.
const MAX_CONFIG_BYTES: usize = 1 << 20;
const TICK_MS: u32 = 1000;

pub struct Root {
    pub authorizer: Option<Rc<Authorizer>>,
    metrics: Option<Metrics>,
    gauges: Gauges,
    /// Callouts in flight and the requests waiting on each; the callout belongs to this context, so
    /// it outlives any one request.
    pub flights: Flights<Rc<Authorizer>>,
}

impl Root {
    pub fn new(_id: u32) -> Self {
        Root {
            authorizer: None,
            metrics: None,
            gauges: Gauges::default(),
            flights: Flights::default(),
        }
    }

    /// The root context is going away: its share of the gauges goes with it.
    pub fn close(&mut self) {
        self.gauges.withdraw();
    }

    pub fn host(&self) -> ProxyHost {
        ProxyHost {
            metrics: self.metrics.unwrap_or_default(),
        }
    }
}

fn load(size: usize) -> Result<Config, String> {
    if size > MAX_CONFIG_BYTES {
        return Err(format!(
            "(config): {size} bytes is over the {MAX_CONFIG_BYTES}-byte limit"
        ));
    }
    let text = abi::buffer(abi::PLUGIN_CONFIGURATION, size.max(1))
        .map_err(|s| format!("(config): could not read the plugin configuration: {s}"))?;
    Config::parse(&text).map_err(|e| e.to_string())
}

pub fn configure(root_id: u32, size: usize) -> bool {
    crate::log::refresh_level();
    let config = match load(size) {
        Ok(c) => c,
        Err(reason) => {
            // Envoy rejects this configuration; whatever ran before keeps running.
            log_at!(Error, root_id, "invalid configuration: {reason}");
            return false;
        }
    };
    log_at!(
        Info,
        root_id,
        "configured: auth cluster '{}', cache {}, {} bypass rule(s)",
        config.auth.cluster,
        config
            .cache
            .map_or("off".to_string(), |p| format!("{} entries", p.max_entries)),
        config.bypass.len()
    );
    for warning in config.warnings() {
        log_at!(Warn, root_id, "{warning}");
    }
    let authorizer = Rc::new(Authorizer::new(config));
    let stored = vm::with(|vm| {
        let root = vm
            .roots
            .entry(root_id)
            .or_insert_with(|| Root::new(root_id));
        if root.metrics.is_none() {
            match Metrics::define() {
                Ok(m) => root.metrics = Some(m),
                Err((name, s)) => log_at!(
                    Warn,
                    root_id,
                    "counter {name} not defined ({s}); it will not be reported"
                ),
            }
            root.gauges = Gauges::define();
        }
        root.authorizer = Some(authorizer);
    });
    if stored.is_none() {
        log_at!(Error, root_id, "configuration not stored (re-entrant call)");
        return false;
    }
    if let Err(s) = abi::set_tick_period_ms(TICK_MS) {
        log_at!(Debug, root_id, "no tick ({s}): gauges will not be updated");
    }
    true
}

pub fn tick(root_id: u32) {
    vm::with(|vm| {
        if let Some(root) = vm.roots.get_mut(&root_id) {
            root.gauges.record(&GaugeValues {
                cache_entries: root.authorizer.as_ref().map_or(0, |a| a.cached_entries()),
                in_flight: root.flights.in_flight(),
                waiting: root.flights.waiting(),
            });
        }
    });
}
