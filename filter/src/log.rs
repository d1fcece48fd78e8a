//! Logging through the `log` facade, so that the core explains its decisions with `log::debug!`
//! and friends without a host import. The adapter installs one `log::Log` (wasm32 only) that
//! forwards to `proxy_log` at Envoy's level and never panics: a failed log call is dropped.
//!
//! Every line starts with the context id the adapter is acting for (`#42 mesh-authz: ...`) so an
//! operator can grep one request's story. Never log a credential, a cookie or the whole config.

use std::cell::Cell;

thread_local! {
    /// The context the adapter is acting for: set at each entry point, read by the logger.
    static CONTEXT: Cell<u32> = const { Cell::new(0) };
}

/// Later log lines are about context `ctx`.
pub fn context(ctx: u32) {
    CONTEXT.with(|c| c.set(ctx));
}

pub fn current_context() -> u32 {
    CONTEXT.with(Cell::get)
}

/// Envoy's wasm log level number (0 trace .. 5 critical) as the facade's filter.
pub fn filter_of(envoy_level: u32) -> log::LevelFilter {
    match envoy_level {
        0 => log::LevelFilter::Trace,
        1 => log::LevelFilter::Debug,
        2 => log::LevelFilter::Info,
        3 => log::LevelFilter::Warn,
        4 | 5 => log::LevelFilter::Error,
        _ => log::LevelFilter::Off,
    }
}

#[cfg(target_arch = "wasm32")]
mod proxy {
    use crate::abi::LogLevel;
    use crate::wasm;

    struct ProxyLogger;

    static LOGGER: ProxyLogger = ProxyLogger;

    impl log::Log for ProxyLogger {
        fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
            metadata.level() <= log::max_level()
        }

        fn log(&self, record: &log::Record<'_>) {
            if !self.enabled(record.metadata()) {
                return;
            }
            let level = match record.level() {
                log::Level::Error => LogLevel::Error,
                log::Level::Warn => LogLevel::Warn,
                log::Level::Info => LogLevel::Info,
                log::Level::Debug => LogLevel::Debug,
                log::Level::Trace => LogLevel::Trace,
            };
            let ctx = super::current_context();
            let _ = wasm::log(level, &format!("#{ctx} mesh-authz: {}", record.args()));
        }

        fn flush(&self) {}
    }

    /// Installs the logger (at `Warn` until the first configuration reads Envoy's level) and a
    /// panic hook: a panic still kills the VM (panic = abort), but first says where.
    pub fn install() {
        if log::set_logger(&LOGGER).is_ok() {
            log::set_max_level(log::LevelFilter::Warn);
        }
        std::panic::set_hook(Box::new(|info| {
            let _ = wasm::log(LogLevel::Critical, &format!("mesh-authz: panic: {info}"));
        }));
    }
}

#[cfg(target_arch = "wasm32")]
pub use proxy::install;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envoy_levels_map_to_the_facade() {
        assert_eq!(filter_of(0), log::LevelFilter::Trace);
        assert_eq!(filter_of(3), log::LevelFilter::Warn);
        assert_eq!(filter_of(5), log::LevelFilter::Error);
        assert_eq!(filter_of(99), log::LevelFilter::Off);
        context(42);
        assert_eq!(current_context(), 42);
    }
}
