//! Two VMs landing fetches of one JWKS at once: whatever order their shared-data writes take, the
//! record never names a document that is not there, and every VM ends up adopting the newest one.

use super::tests::{config, T0};
use super::*;
use crate::host::fake::{FakeHost, SharedData};
use crate::host::{Histogram, HostError, SharedError};
use crate::jwt::testing::{ec, jwks};
use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// A host that runs `hook` (another VM's step) just before its `at`-th shared-data call.
struct Interleaved<'a> {
    inner: &'a FakeHost,
    at: usize,
    calls: Cell<usize>,
    hook: RefCell<Option<Box<dyn FnOnce() + 'a>>>,
}

impl Interleaved<'_> {
    fn before_call(&self) {
        let n = self.calls.get();
        self.calls.set(n + 1);
        if n == self.at {
            if let Some(hook) = self.hook.borrow_mut().take() {
                hook();
            }
        }
    }
}

impl Host for Interleaved<'_> {
    fn now_ms(&self) -> Result<u64, HostError> {
        self.inner.now_ms()
    }
    fn count(&self, metric: Metric) {
        self.inner.count(metric)
    }
    fn observe(&self, histogram: Histogram, value: u64) {
        self.inner.observe(histogram, value)
    }
    fn shared_get(&self, key: &str) -> Result<Option<(Vec<u8>, u32)>, HostError> {
        self.before_call();
        self.inner.shared_get(key)
    }
    fn shared_set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), SharedError> {
        self.before_call();
        self.inner.shared_set(key, value, cas)
    }
}

fn host_on(shared: &SharedData) -> FakeHost {
    FakeHost {
        shared: Rc::clone(shared),
        ..FakeHost::default()
    }
}

/// VM `a` lands the fetch it made at `t_a`, and VM `b` lands its own (made at `t_b`) entirely
/// between `a`'s `at`-th and next shared-data call. Then a third VM looks: which keys it adopts.
fn race(at: usize, t_a: u64, t_b: u64) -> (Record, Option<bool>) {
    let c = config();
    let shared = SharedData::default();
    let (host_a, host_b, host_c) = (host_on(&shared), host_on(&shared), host_on(&shared));
    let (mut fa, mut ka) = (Fetcher::new(&c), Keys::new(&c));
    let (mut fb, mut kb) = (Fetcher::new(&c), Keys::new(&c));
    let (doc_a, doc_b) = (jwks(&[ec(0)]), jwks(&[ec(1)]));
    let hook = || {
        fb.landed(&host_b, &mut kb, 0, Ok(doc_b.as_bytes()), t_b)
            .unwrap();
    };
    let interleaved = Interleaved {
        inner: &host_a,
        at,
        calls: Cell::new(0),
        hook: RefCell::new(Some(Box::new(hook))),
    };
    fa.landed(&interleaved, &mut ka, 0, Ok(doc_a.as_bytes()), t_a)
        .unwrap();
    // Past the end of `a`'s calls: `b` lands after `a` altogether.
    let late = interleaved.hook.borrow_mut().take();
    if let Some(hook) = late {
        hook();
    }
    drop(interleaved);
    let (mut fc, mut kc) = (Fetcher::new(&c), Keys::new(&c));
    fc.tick(&host_c, &mut kc, t_a.max(t_b) + 1);
    let name = fc.sources[0].as_ref().unwrap().name.clone();
    let record = shared
        .borrow()
        .get(&name)
        .and_then(|(b, _)| Record::decode(b))
        .unwrap();
    // Whether the third VM holds the newer fetch's keys (`Some(true)`), the older's, or none.
    let newer_kid = if t_b > t_a { "ec-1" } else { "ec-0" };
    (record, kc.get(0).map(|k| k.has_kid(newer_kid)))
}

#[test]
fn every_interleaving_of_two_landings_leaves_the_newest_document_adoptable() {
    for (t_a, t_b) in [(T0 + 1, T0 + 2), (T0 + 2, T0 + 1)] {
        for at in 0..8 {
            let (record, newest) = race(at, t_a, t_b);
            assert_eq!(
                record.fetched_ms,
                t_a.max(t_b),
                "at {at}, a {t_a}, b {t_b}: the record names the newest fetch"
            );
            assert_eq!(
                newest,
                Some(true),
                "at {at}, a {t_a}, b {t_b}: a third VM adopts the newest keys"
            );
        }
    }
}
