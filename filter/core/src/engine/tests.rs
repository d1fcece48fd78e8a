//! The flow against a fake host: clock and counters we control.

use super::*;
use crate::host::HostError;
use std::cell::{Cell, RefCell};

#[derive(Default)]
struct FakeHost {
    now: Cell<u64>,
    broken_clock: Cell<bool>,
    counts: RefCell<Vec<Metric>>,
}

impl Host for FakeHost {
    fn now_ms(&self) -> Result<u64, HostError> {
        if self.broken_clock.get() {
            return Err(HostError("no clock".into()));
        }
        Ok(self.now.get())
    }
    fn count(&self, metric: Metric) {
        self.counts.borrow_mut().push(metric);
    }
}

impl FakeHost {
    fn count_of(&self, m: Metric) -> usize {
        self.counts.borrow().iter().filter(|x| **x == m).count()
    }
}

fn authorizer(extra: &str) -> Authorizer {
    let text = format!(
        r#"{{"authService": {{"cluster": "c", "authority": "a"}}, "identityHeaders": ["x-user-id"],
            "bypass": [{{"pathPrefix": "/healthz"}}] {extra} }}"#
    );
    Authorizer::new(Config::parse(text.as_bytes()).unwrap())
}

fn req(path: &'static [u8], token: &'static [u8]) -> Vec<(&'static str, &'static [u8])> {
    vec![
        (":method", b"GET"),
        (":path", path),
        (":authority", b"app"),
        ("authorization", token),
    ]
}

/// Runs one request through the flow; `answer` plays the auth service when a callout is made.
fn run(
    a: &Authorizer,
    host: &FakeHost,
    h: &[(&str, &[u8])],
    answer: Result<Pairs<'_>, CalloutError>,
) -> (Verdict, bool) {
    match a.start(host, &RequestHead::new(h)) {
        Start::Done(v) => (v, false),
        Start::Miss(key) => {
            let answer = answer.map(|(headers, body)| Answer { headers, body });
            (a.finish(host, &key, answer), true)
        }
    }
}

type Pairs<'a> = (&'a [(&'a str, &'a [u8])], &'a [u8]);

const ALLOW: &[(&str, &[u8])] = &[(":status", b"200"), ("x-user-id", b"alice")];

#[test]
fn an_allow_is_cached_until_its_ttl() {
    let a = authorizer("");
    let host = FakeHost::default();
    let h = req(b"/x", b"Bearer a");
    let (_, called) = run(&a, &host, &h, Ok((ALLOW, b"")));
    assert!(called);
    host.now.set(59_999);
    let (v, called) = run(&a, &host, &h, Ok((ALLOW, b"")));
    assert!(!called, "served from cache");
    assert!(matches!(
        v,
        Outcome::Decided {
            from_cache: true,
            ..
        }
    ));
    host.now.set(60_000);
    let (_, called) = run(&a, &host, &h, Ok((ALLOW, b"")));
    assert!(called, "expired after allowTtlSeconds");
    assert_eq!(host.count_of(Metric::CacheHits), 1);
    assert_eq!(host.count_of(Metric::CacheMisses), 2);
}

#[test]
fn two_credentials_never_share_a_decision() {
    let a = authorizer("");
    let host = FakeHost::default();
    run(&a, &host, &req(b"/x", b"Bearer a"), Ok((ALLOW, b"")));
    let deny: &[(&str, &[u8])] = &[(":status", b"401")];
    let (v, called) = run(&a, &host, &req(b"/x", b"Bearer b"), Ok((deny, b"")));
    assert!(called);
    let Outcome::Decided { decision, .. } = v else {
        panic!()
    };
    assert!(matches!(*decision, Decision::Deny { status: 401, .. }));
}

#[test]
fn bypass_makes_no_callout_and_no_cache_lookup() {
    let a = authorizer("");
    let host = FakeHost::default();
    let (v, called) = run(
        &a,
        &host,
        &req(b"/healthz/live", b""),
        Err(CalloutError::NoResponse),
    );
    assert!(!called);
    assert_eq!(v, Outcome::Bypass);
    assert_eq!(host.count_of(Metric::CacheMisses), 0);
    let action = a.conclude(&host, &v);
    assert_eq!(action, Action::Continue { identity: vec![] });
    assert_eq!(host.count_of(Metric::Bypassed), 1);
}

#[test]
fn errors_are_never_cached() {
    let a = authorizer("");
    let host = FakeHost::default();
    let h = req(b"/x", b"Bearer a");
    let (v, _) = run(&a, &host, &h, Err(CalloutError::NoResponse));
    assert_eq!(v, Outcome::Error(CalloutError::NoResponse));
    let five: &[(&str, &[u8])] = &[(":status", b"500")];
    let (_, called) = run(&a, &host, &h, Ok((five, b"")));
    assert!(called);
    let (_, called) = run(&a, &host, &h, Ok((ALLOW, b"")));
    assert!(called, "neither error left a cache entry");
    assert_eq!(a.cached_entries(), 1);
}

#[test]
fn no_cache_means_every_request_calls_out() {
    let a = authorizer(r#", "cache": {"enabled": false}"#);
    let host = FakeHost::default();
    let h = req(b"/x", b"Bearer a");
    for _ in 0..3 {
        assert!(run(&a, &host, &h, Ok((ALLOW, b""))).1);
    }
    assert_eq!(
        host.count_of(Metric::CacheMisses),
        0,
        "no cache, no misses to count"
    );
}

#[test]
fn a_broken_clock_degrades_to_no_cache() {
    let a = authorizer("");
    let host = FakeHost::default();
    host.broken_clock.set(true);
    let h = req(b"/x", b"Bearer a");
    assert!(run(&a, &host, &h, Ok((ALLOW, b""))).1);
    assert!(run(&a, &host, &h, Ok((ALLOW, b""))).1);
}

#[test]
fn conclude_counts_each_outcome_once() {
    let a = authorizer("");
    let host = FakeHost::default();
    let (v, _) = run(&a, &host, &req(b"/x", b"Bearer a"), Ok((ALLOW, b"")));
    a.conclude(&host, &v);
    let (v, _) = run(
        &a,
        &host,
        &req(b"/y", b"Bearer a"),
        Err(CalloutError::ServerError(502)),
    );
    a.conclude(&host, &v);
    assert_eq!(host.count_of(Metric::Allowed), 1);
    assert_eq!(host.count_of(Metric::Errors), 1);
}
