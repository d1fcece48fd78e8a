//! The root context: reads and checks the plugin configuration, keeps the current `Authorizer`
//! (one per configuration; a new one starts with an empty cache), and hands it to each request.

use crate::abi;
use crate::host::{Metrics, ProxyHost};
use crate::http::AuthFilter;
use crate::log_at;
use mesh_authz_core::{Authorizer, Config};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType};
use std::rc::Rc;

/// Configuration larger than this is refused rather than read.
const MAX_CONFIG_BYTES: usize = 1 << 20;

pub struct Root {
    id: u32,
    authorizer: Option<Rc<Authorizer>>,
    metrics: Option<Metrics>,
}

impl Root {
    pub fn new(id: u32) -> Self {
        Root {
            id,
            authorizer: None,
            metrics: None,
        }
    }

    fn load(&mut self, size: usize) -> Result<Config, String> {
        if size > MAX_CONFIG_BYTES {
            return Err(format!(
                "(config): {size} bytes is over the {MAX_CONFIG_BYTES}-byte limit"
            ));
        }
        let text = abi::buffer(BufferType::PluginConfiguration, size.max(1))
            .map_err(|s| format!("(config): could not read the plugin configuration: {s}"))?;
        Config::parse(&text).map_err(|e| e.to_string())
    }
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, plugin_configuration_size: usize) -> bool {
        crate::log::refresh_level();
        if self.metrics.is_none() {
            match Metrics::define() {
                Ok(m) => self.metrics = Some(m),
                Err((metric, status)) => {
                    log_at!(
                        Warn,
                        self.id,
                        "counter {} not defined ({status}); it will not be reported",
                        metric.name()
                    );
                }
            }
        }
        match self.load(plugin_configuration_size) {
            Ok(config) => {
                log_at!(
                    Info,
                    self.id,
                    "configured: auth cluster '{}', cache {}, {} bypass rule(s)",
                    config.auth.cluster,
                    config
                        .cache
                        .map_or("off".to_string(), |p| format!("{} entries", p.max_entries)),
                    config.bypass.len()
                );
                self.authorizer = Some(Rc::new(Authorizer::new(config)));
                true
            }
            Err(reason) => {
                // The previous configuration, if any, stays in force for this VM: Envoy rejects the update.
                log_at!(Error, self.id, "invalid configuration: {reason}");
                false
            }
        }
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        let host = ProxyHost {
            metrics: self.metrics.unwrap_or_default(),
        };
        Some(Box::new(AuthFilter::new(
            context_id,
            self.authorizer.clone(),
            host,
        )))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
