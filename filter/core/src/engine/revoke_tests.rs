//! Revocations at the cache lookup, both levels and stale-if-error, on a fake clock.

use super::*;
use crate::decision::{CalloutError, Outcome};
use crate::engine::Start;
use crate::host::fake::FakeHost;
use crate::request::RequestHead;
use crate::response::Answer;
use crate::Config;

fn authorizer() -> Authorizer {
    let text = r#"{"authService": {"cluster": "c", "authority": "a"}, "identityHeaders": ["x-user-id"],
        "cache": {"staleIfErrorSeconds": 60}, "revocation": {"subjectHeader": "x-user-id"}}"#;
    Authorizer::new(Config::parse(text.as_bytes()).unwrap())
}

type Headers<'a> = &'a [(&'a str, &'a [u8])];

fn allow(user: &[u8]) -> Vec<(&str, &[u8])> {
    vec![(":status", b"200"), ("x-user-id", user)]
}

/// One request of `token` at the host's clock: `true` when it called out (answered `answer`).
fn called(a: &Authorizer, host: &FakeHost, token: &'static [u8], answer: Headers<'_>) -> bool {
    let h: Vec<(&str, &[u8])> = vec![
        (":method", b"GET"),
        (":path", b"/x"),
        (":authority", b"app"),
        ("authorization", token),
    ];
    match a.start(host, &RequestHead::new(&h).ending(true)) {
        Start::Done(_) => false,
        Start::Miss(walk, ..) => {
            let answer = Answer {
                headers: answer,
                body: b"",
            };
            a.finish(host, &walk.key, Ok(answer));
            true
        }
        Start::AwaitKeys { .. } => panic!("no token checks here"),
    }
}

/// The root tick at `t`: reads the feed when due, answered with `page`.
fn tick(a: &Authorizer, host: &FakeHost, t: u64, page: &str) {
    host.now.set(t);
    let mut f = a.follower().unwrap().borrow_mut();
    if f.tick(host, t).is_some() {
        f.landed(host, Ok(page.as_bytes()), t).unwrap();
    }
}

const EMPTY: &str = r#"{"version":1,"cursor":"c0"}"#;
const ALICE: &str = r#"{"version":1,"cursor":"c1","revocations":[{"subject":"alice"}]}"#;

fn at(host: &FakeHost, t: u64) -> &FakeHost {
    host.now.set(t);
    host
}

#[test]
fn a_revoked_allow_is_asked_again_and_others_still_serve() {
    let a = authorizer();
    let host = FakeHost::default();
    tick(&a, &host, 1_000, EMPTY);
    assert!(called(&a, at(&host, 2_000), b"Bearer a", &allow(b"alice")));
    assert!(called(&a, at(&host, 2_000), b"Bearer b", &allow(b"bob")));
    assert!(
        !called(&a, at(&host, 3_000), b"Bearer a", &allow(b"alice")),
        "cached"
    );
    tick(&a, &host, 3_500, ALICE);
    assert!(
        called(&a, at(&host, 3_600), b"Bearer a", &allow(b"alice")),
        "revoked"
    );
    // Dropped at lookup from this VM's level and the shared one, and the answer that landed.
    assert_eq!(host.count_of(Metric::RevocationDropped), 3);
    assert!(
        !called(&a, at(&host, 3_600), b"Bearer b", &allow(b"bob")),
        "bob's stays"
    );
    // The answer at 3_600 may have been made before the revocation (its callout went out at
    // most timeoutMs = 200 ms earlier): not cached. One landing after that is.
    assert!(called(&a, at(&host, 3_650), b"Bearer a", &allow(b"alice")));
    assert!(called(&a, at(&host, 3_800), b"Bearer a", &allow(b"alice")));
    assert!(!called(&a, at(&host, 3_900), b"Bearer a", &allow(b"alice")));
}

#[test]
fn the_shared_level_is_checked_by_the_vm_that_reads_it() {
    let (a, b) = (authorizer(), authorizer());
    let ha = FakeHost::default();
    let hb = FakeHost {
        shared: std::rc::Rc::clone(&ha.shared),
        ..FakeHost::default()
    };
    tick(&a, &ha, 1_000, EMPTY);
    tick(&b, &hb, 1_000, EMPTY);
    assert!(called(&a, at(&ha, 2_000), b"Bearer a", &allow(b"alice")));
    assert!(
        !called(&b, at(&hb, 2_500), b"Bearer a", &allow(b"alice")),
        "from the shared level"
    );
    assert_eq!(hb.count_of(Metric::SharedHits), 1);
    tick(&a, &ha, 3_000, ALICE);
    tick(&b, &hb, 3_100, ALICE);
    assert!(
        called(&b, at(&hb, 3_200), b"Bearer a", &allow(b"alice")),
        "b merged a's read at its tick"
    );
    assert!(hb.count_of(Metric::RevocationDropped) >= 1);
}

#[test]
fn a_feed_not_read_for_max_stale_seconds_serves_nothing_cached() {
    let a = authorizer();
    let host = FakeHost::default();
    tick(&a, &host, 1_000, EMPTY);
    assert!(called(&a, at(&host, 2_000), b"Bearer a", &allow(b"alice")));
    assert!(
        !called(&a, at(&host, 11_000), b"Bearer a", &allow(b"alice")),
        "10 s after the last read"
    );
    assert!(called(&a, at(&host, 11_001), b"Bearer a", &allow(b"alice")));
    assert!(
        called(&a, at(&host, 11_500), b"Bearer a", &allow(b"alice")),
        "every request, until the feed is back"
    );
    assert_eq!(
        host.count_of(Metric::RevocationDropped),
        0,
        "not revoked: held back"
    );
    tick(&a, &host, 12_000, EMPTY);
    assert!(!called(
        &a,
        at(&host, 12_100),
        b"Bearer a",
        &allow(b"alice")
    ));
}

#[test]
fn stale_if_error_never_serves_a_revoked_decision() {
    let a = authorizer();
    let host = FakeHost::default();
    tick(&a, &host, 1_000, EMPTY);
    let h: Vec<(&str, &[u8])> = vec![
        (":method", b"GET"),
        (":path", b"/x"),
        (":authority", b"app"),
        ("authorization", b"Bearer a"),
    ];
    assert!(called(&a, at(&host, 2_000), b"Bearer a", &allow(b"alice")));
    let Start::Miss(walk, ..) = a.start(at(&host, 62_500), &RequestHead::new(&h).ending(true))
    else {
        panic!("expired: a miss");
    };
    tick(&a, &host, 62_500, EMPTY);
    let failed = || a.failed(&host, &walk.key, CalloutError::Timeout, Some(62_600), None);
    assert!(
        matches!(failed(), Outcome::Stale(..)),
        "stale-if-error serves"
    );
    tick(&a, &host, 64_000, ALICE);
    assert!(
        matches!(
            a.failed(&host, &walk.key, CalloutError::Timeout, Some(64_100), None),
            Outcome::Error(_)
        ),
        "not once revoked"
    );
}
