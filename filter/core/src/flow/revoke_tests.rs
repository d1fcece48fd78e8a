//! The revocation feed through the flow's one entry point: reads dispatched at `Configure` and on
//! the tick, answers routed by call id, and a request asked again because of a revocation.

use super::drive::{Driver, Fate};
use super::*;
use crate::config::Config;
use crate::host::fake::FakeHost;
use crate::host::Metric;

const CONFIG: &str = r#"{"authService": {"cluster": "auth", "authority": "a", "timeoutMs": 200},
    "identityHeaders": ["x-user-id"], "accessLog": true,
    "revocation": {"subjectHeader": "x-user-id", "cluster": "feed", "intervalMs": 1000,
                   "timeoutMs": 300, "maxStaleSeconds": 10}}"#;

const EMPTY: &[u8] = br#"{"version":1,"cursor":"c0"}"#;
const ALICE: &[u8] = br#"{"version":1,"cursor":"c1","revocations":[{"subject":"alice"}]}"#;
const OK: &[(&str, &[u8])] = &[(":status", b"200")];
const ALLOW: &[(&str, &[u8])] = &[(":status", b"200"), ("x-user-id", b"alice")];

fn at(t: u64) -> Driver {
    let host = FakeHost::default();
    host.now.set(t);
    let authz = Authorizer::new(Config::parse(CONFIG.as_bytes()).unwrap());
    Driver::with(authz, host)
}

fn req() -> Vec<(&'static str, &'static [u8])> {
    vec![
        (":method", b"GET"),
        (":path", b"/orders"),
        (":authority", b"app"),
        ("authorization", b"Bearer alice-token"),
    ]
}

/// The one feed read in flight: its call and path.
fn feed_read(d: &Driver) -> (CallId, String) {
    assert_eq!(d.feed_calls.len(), 1, "one feed read in flight");
    d.feed_calls[0].clone()
}

fn revoked_property(d: &Driver, i: usize) -> bool {
    d.concluded[i].revoked
}

#[test]
fn the_feed_is_read_at_configure_and_on_the_tick_and_a_revocation_asks_again() {
    let mut d = at(10_000);
    let (call, path) = feed_read(&d);
    assert_eq!(path, "/revocations");
    d.answer(call, OK, EMPTY);
    assert!(d.feed_calls.is_empty());
    assert_eq!(d.host.count_of(Metric::RevocationFetches), 1);

    // Allowed and cached; the second request is a hit.
    d.host.now.set(11_000);
    d.arrive(1, &req(), true);
    let call = d.last_call().unwrap();
    d.answer(call, ALLOW, b"");
    d.arrive(2, &req(), true);
    assert!(d.concluded[1].cached, "served from the cache");
    assert!(!revoked_property(&d, 1));

    // The next read is due an interval (plus jitter) later, from the cursor.
    d.host.now.set(10_900);
    d.tick();
    assert!(d.feed_calls.is_empty(), "not due yet");
    d.host.now.set(12_500);
    d.tick();
    let (call, path) = feed_read(&d);
    assert_eq!(path, "/revocations?cursor=c0");
    d.answer(call, OK, ALICE);
    assert_eq!(d.host.count_of(Metric::RevocationsApplied), 1);

    // The same credential is asked again, and the access log says why.
    d.arrive(3, &req(), true);
    let call = d.last_call().expect("asked the auth service again");
    d.answer(call, &[(":status", b"401")], b"");
    assert_eq!(d.fate(3), Some(&Fate::Replied(401)));
    assert!(revoked_property(&d, 2));
    // Dropped from both levels: the worker's, and the shared copy the lookup found next.
    assert_eq!(d.host.count_of(Metric::RevocationDropped), 2);
    assert!(d.is_empty(), "a revoked request leaves nothing held");
}

#[test]
fn a_feed_answer_over_the_page_limit_or_not_200_is_a_failed_read_never_read() {
    let mut d = at(10_000);
    let (call, _) = feed_read(&d);
    let big = vec![b' '; crate::revocation::feed::MAX_PAGE_BYTES + 1];
    let out = d.flow.handle(
        &d.host,
        Event::AnswerHead {
            call,
            headers: Some(OK),
            body_size: big.len(),
        },
    );
    assert!(out.actions.is_empty(), "no body read past the page limit");
    assert_eq!(d.host.count_of(Metric::RevocationFetchFailures), 1);
    d.feed_calls.clear();
    // An answer for a read no longer in flight does nothing.
    let out = d.flow.handle(
        &d.host,
        Event::AnswerHead {
            call,
            headers: Some(OK),
            body_size: 10,
        },
    );
    assert!(out.actions.is_empty());
    d.host.now.set(12_500);
    d.tick();
    let (call, _) = feed_read(&d);
    d.answer(call, &[(":status", b"503")], b"");
    assert_eq!(d.host.count_of(Metric::RevocationFetchFailures), 2);
}

#[test]
fn a_refused_read_counts_as_a_failed_one_and_the_gauge_shows_the_lag() {
    let host = FakeHost::default();
    host.now.set(10_000);
    let mut d = Driver::empty(host);
    d.refuse = Some("unknown cluster".into());
    d.feed(Event::Configure(Box::new(Authorizer::new(
        Config::parse(CONFIG.as_bytes()).unwrap(),
    ))));
    assert!(d.feed_calls.is_empty());
    assert_eq!(d.host.count_of(Metric::RevocationFetchFailures), 1);
    d.host.now.set(13_500);
    d.tick();
    assert_eq!(
        d.gauges.and_then(|g| g.revocation_lag_ms),
        Some(3_500),
        "since the VM's start, which counts as a good read"
    );
}
