//! The state of one VM: its root contexts (one per plugin configuration sharing the VM) and, for
//! each live request, its root. Callbacks borrow it only for bookkeeping and never across a
//! hostcall that could call back into the module; a refused borrow is handled, never a panic.

use crate::root::Root;
use mesh_authz_core::ids::IdMap;
use mesh_authz_core::throttle::Throttle;
use std::cell::RefCell;

#[derive(Default)]
pub struct Vm {
    pub roots: IdMap<Root>,
    /// Request context id -> its root context id.
    pub streams: IdMap<u32>,
    /// The adapter's own log lines that every request could repeat.
    pub log_throttle: Throttle,
}

thread_local! {
    static VM: RefCell<Vm> = RefCell::new(Vm::default());
}

/// Runs `f` on the VM state; `None` if it is already borrowed (a re-entrant callback).
pub fn with<R>(f: impl FnOnce(&mut Vm) -> R) -> Option<R> {
    VM.with(|vm| vm.try_borrow_mut().ok().map(|mut vm| f(&mut vm)))
}

/// A fresh VM (tests may share a thread).
#[cfg(test)]
pub fn reset() {
    VM.with(|vm| {
        if let Ok(mut vm) = vm.try_borrow_mut() {
            *vm = Vm::default();
        }
    });
}
