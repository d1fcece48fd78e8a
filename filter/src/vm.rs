//! The state of one VM: its root contexts (one per plugin configuration sharing the VM) and the
//! request contexts alive in it. Callbacks borrow it only for bookkeeping and never across a
//! hostcall that could call back into the module; a refused borrow is handled, never a panic.

use crate::root::Root;
use std::cell::RefCell;
use std::collections::HashMap;

pub struct Stream {
    pub root: u32,
    /// The token of the callout this request waits on.
    pub waiting: Option<u32>,
}

#[derive(Default)]
pub struct Vm {
    pub roots: HashMap<u32, Root>,
    pub streams: HashMap<u32, Stream>,
}

thread_local! {
    static VM: RefCell<Vm> = RefCell::new(Vm::default());
}

/// Runs `f` on the VM state; `None` if it is already borrowed (a re-entrant callback).
pub fn with<R>(f: impl FnOnce(&mut Vm) -> R) -> Option<R> {
    VM.with(|vm| vm.try_borrow_mut().ok().map(|mut vm| f(&mut vm)))
}
