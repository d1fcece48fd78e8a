//! Logging that follows Envoy's level and never panics: a failed log call is dropped. Every line starts
//! with the context id and `mesh-authz:` so an operator can grep one request's story.
//! Never pass a credential, a cookie or the whole config to these functions.

use crate::abi::{self, LogLevel};
use std::cell::Cell;

thread_local! {
    /// Envoy's level, read at configure time; `Warn` until then.
    static LEVEL: Cell<u32> = const { Cell::new(LogLevel::Warn as u32) };
}

pub fn refresh_level() {
    if let Ok(level) = abi::log_level() {
        LEVEL.with(|l| l.set(level));
    }
}

pub fn enabled(level: LogLevel) -> bool {
    LEVEL.with(|l| level as u32 >= l.get())
}

pub fn log(level: LogLevel, context_id: u32, message: std::fmt::Arguments<'_>) {
    if enabled(level) {
        let _ = abi::log(level, &format!("#{context_id} mesh-authz: {message}"));
    }
}

/// A panic still kills the VM (panic = abort), but first says where, so the cause can be found.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let _ = abi::log(LogLevel::Critical, &format!("mesh-authz: panic: {info}"));
    }));
}

#[macro_export]
macro_rules! log_at {
    ($level:ident, $ctx:expr, $($arg:tt)*) => {
        $crate::log::log($crate::abi::LogLevel::$level, $ctx, format_args!($($arg)*))
    };
}
