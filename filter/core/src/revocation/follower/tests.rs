use super::*;
use crate::host::fake::FakeHost;
use std::rc::Rc;

fn feed() -> Feed {
    Feed {
        cluster: "auth".into(),
        authority: "auth.local".into(),
        path: "/revocations".into(),
        interval_ms: 1_000,
        timeout_ms: 500,
        max_stale_ms: 10_000,
        subject_index: 0,
        subject_header: "x-user-id".into(),
        max_entries: 100,
        max_bytes: 1 << 20,
        keep_ms: 301_000,
    }
}

/// Two VMs of one Envoy: hosts sharing one shared-data map and one clock reading.
fn two_vms() -> (FakeHost, FakeHost) {
    let a = FakeHost::default();
    let b = FakeHost {
        shared: Rc::clone(&a.shared),
        ..FakeHost::default()
    };
    (a, b)
}

fn page(cursor: &str, subjects: &[&str]) -> String {
    let revs: Vec<String> = subjects
        .iter()
        .map(|s| format!(r#"{{"subject":"{s}"}}"#))
        .collect();
    format!(
        r#"{{"version":1,"cursor":"{cursor}","revocations":[{}]}}"#,
        revs.join(",")
    )
}

#[test]
fn a_fresh_envoy_counts_its_start_as_a_flush_and_reads_at_once() {
    let host = FakeHost::default();
    let mut f = Follower::new(&feed(), 7);
    assert_eq!(
        f.verdict(&host, Some(b"alice"), 999, 1_000),
        Verdict::Revoked,
        "made before this VM knew the feed"
    );
    assert_eq!(
        f.verdict(&host, Some(b"alice"), 1_001, 1_000),
        Verdict::Serve
    );
    let fetch = f.tick(&host, 1_000).unwrap();
    assert_eq!(
        fetch,
        FeedFetch {
            cluster: "auth".into(),
            authority: "auth.local".into(),
            path: "/revocations".into(),
            timeout_ms: 500,
        }
    );
    assert_eq!(f.tick(&host, 1_100), None, "one read in flight");
}

#[test]
fn a_page_revokes_its_subjects_and_moves_the_cursor() {
    let host = FakeHost::default();
    let mut f = Follower::new(&feed(), 7);
    f.tick(&host, 1_000).unwrap();
    assert_eq!(
        f.landed(&host, Ok(page("c1", &["alice"]).as_bytes()), 1_200),
        Ok(1)
    );
    assert_eq!(host.count_of(Metric::RevocationsApplied), 1);
    assert_eq!(host.count_of(Metric::RevocationFetches), 1);
    assert_eq!(
        f.verdict(&host, Some(b"alice"), 1_200, 1_300),
        Verdict::Revoked
    );
    assert_eq!(
        f.verdict(&host, Some(b"alice"), 1_201, 1_300),
        Verdict::Serve,
        "asked again after it: fresh"
    );
    assert_eq!(f.verdict(&host, Some(b"bob"), 1_100, 1_300), Verdict::Serve);
    assert_eq!(
        f.verdict(&host, None, 1_100, 1_300),
        Verdict::Serve,
        "a deny is not a subject's"
    );
    // Due after the interval plus at most a fifth of it.
    assert_eq!(f.tick(&host, 2_199), None);
    let next = (2_200..=2_400).find_map(|t| f.tick(&host, t)).unwrap();
    assert_eq!(next.path, "/revocations?cursor=c1");
}

#[test]
fn a_flush_drops_every_decision_made_before_it() {
    let host = FakeHost::default();
    let mut f = Follower::new(&feed(), 7);
    f.tick(&host, 1_000).unwrap();
    let flush = br#"{"version":1,"cursor":"c2","flush":true}"#;
    assert_eq!(f.landed(&host, Ok(flush), 5_000), Ok(1));
    assert_eq!(f.verdict(&host, None, 5_000, 5_001), Verdict::Revoked);
    assert_eq!(f.verdict(&host, Some(b"x"), 4_000, 5_001), Verdict::Revoked);
    assert_eq!(f.verdict(&host, None, 5_001, 5_002), Verdict::Serve);
}

#[test]
fn more_pages_are_read_at_once() {
    let host = FakeHost::default();
    let mut f = Follower::new(&feed(), 7);
    f.tick(&host, 1_000).unwrap();
    let first = br#"{"version":1,"cursor":"c1","revocations":[{"subject":"a"}],"more":true}"#;
    f.landed(&host, Ok(first), 1_100).unwrap();
    assert_eq!(f.tick(&host, 1_100).unwrap().path, "/revocations?cursor=c1");
}

#[test]
fn one_read_per_envoy_and_the_others_merge_what_it_applied() {
    let (ha, hb) = two_vms();
    let mut a = Follower::new(&feed(), 1);
    let mut b = Follower::new(&feed(), 2);
    assert!(a.tick(&ha, 1_000).is_some());
    assert_eq!(b.tick(&hb, 1_000), None, "claimed by the other VM");
    a.landed(&ha, Ok(page("c1", &["alice"]).as_bytes()), 1_200)
        .unwrap();
    assert_eq!(
        b.verdict(&hb, Some(b"alice"), 1_100, 1_250),
        Verdict::Serve,
        "not merged before its tick"
    );
    assert_eq!(b.tick(&hb, 1_250), None, "not due yet");
    assert_eq!(
        b.verdict(&hb, Some(b"alice"), 1_100, 1_250),
        Verdict::Revoked,
        "merged at the tick"
    );
    // B reads next, from A's cursor.
    let next = (2_200..=2_500)
        .find_map(|t| b.tick(&hb, t).or_else(|| a.tick(&ha, t)))
        .unwrap();
    assert_eq!(next.path, "/revocations?cursor=c1");
}

#[test]
fn a_vm_that_starts_later_takes_the_shared_state_instead_of_flushing() {
    let (ha, hb) = two_vms();
    let mut a = Follower::new(&feed(), 1);
    a.tick(&ha, 1_000).unwrap();
    a.landed(&ha, Ok(page("c1", &["alice"]).as_bytes()), 1_200)
        .unwrap();
    let mut late = Follower::new(&feed(), 3);
    assert_eq!(
        late.verdict(&hb, Some(b"bob"), 1_100, 1_500),
        Verdict::Serve,
        "another VM's decision of bob still serves"
    );
    assert_eq!(
        late.verdict(&hb, Some(b"alice"), 1_100, 1_500),
        Verdict::Revoked
    );
}

#[test]
fn failures_keep_serving_until_max_stale_then_nothing_serves() {
    let host = FakeHost::default();
    let mut f = Follower::new(&feed(), 7);
    f.tick(&host, 1_000).unwrap();
    f.landed(&host, Ok(page("c1", &[]).as_bytes()), 1_000)
        .unwrap();
    let mut t = 1_000;
    let mut failures = 0;
    while t < 20_000 {
        t += 100;
        if f.tick(&host, t).is_some() {
            assert!(f.landed(&host, Err("answered 503".into()), t).is_err());
            failures += 1;
        }
        let verdict = f.verdict(&host, Some(b"bob"), 1_500, t);
        let want = if t <= 11_000 {
            Verdict::Serve
        } else {
            Verdict::FeedStale
        };
        assert_eq!(verdict, want, "at {t}");
    }
    assert!((14..=19).contains(&failures), "{failures} reads in 19 s");
    assert_eq!(host.count_of(Metric::RevocationFetchFailures), failures);
    assert_eq!(f.lag_ms(t), 19_000);
    // Back: the next good read serves again.
    let t = (t..t + 2_000)
        .find(|x| f.tick(&host, *x).is_some())
        .unwrap();
    f.landed(&host, Ok(page("c1", &[]).as_bytes()), t).unwrap();
    assert_eq!(f.verdict(&host, Some(b"bob"), 1_500, t + 1), Verdict::Serve);
    assert_eq!(f.lag_ms(t + 1), 1);
}

#[test]
fn a_bad_page_is_a_failed_read_that_changes_nothing() {
    let host = FakeHost::default();
    let mut f = Follower::new(&feed(), 7);
    f.tick(&host, 1_000).unwrap();
    assert!(f
        .landed(&host, Ok(b"{\"version\":2,\"cursor\":\"x\"}"), 1_100)
        .is_err());
    assert_eq!(host.count_of(Metric::RevocationFetchFailures), 1);
    let next = (2_100..=2_400).find_map(|t| f.tick(&host, t)).unwrap();
    assert_eq!(next.path, "/revocations", "the cursor stayed");
}

#[test]
fn a_read_whose_answer_never_comes_frees_the_follower_after_its_timeout() {
    let (ha, hb) = two_vms();
    let mut a = Follower::new(&feed(), 1);
    let mut b = Follower::new(&feed(), 2);
    a.tick(&ha, 1_000).unwrap();
    assert_eq!(b.tick(&hb, 1_499), None, "in flight elsewhere");
    assert!(
        b.tick(&hb, 1_500).is_some(),
        "the other VM's attempt timed out"
    );
    assert_eq!(a.tick(&ha, 1_900), None, "b's read is in flight");
}

#[test]
fn without_shared_data_each_vm_reads_on_its_own() {
    struct NoShared(FakeHost);
    impl Host for NoShared {
        fn now_ms(&self) -> Result<u64, crate::host::HostError> {
            self.0.now_ms()
        }
        fn count(&self, m: Metric) {
            self.0.count(m)
        }
        fn observe(&self, h: crate::host::Histogram, v: u64) {
            self.0.observe(h, v)
        }
        fn shared_get(&self, _: &str) -> Result<Option<(Vec<u8>, u32)>, crate::host::HostError> {
            Err(crate::host::HostError("no shared data".into()))
        }
        fn shared_set(&self, _: &str, _: &[u8], _: u32) -> Result<(), crate::host::SharedError> {
            Err(crate::host::SharedError::Host(crate::host::HostError(
                "no".into(),
            )))
        }
    }
    let host = NoShared(FakeHost::default());
    let mut f = Follower::new(&feed(), 7);
    assert!(f.tick(&host, 1_000).is_some());
    f.landed(&host, Ok(page("c1", &["alice"]).as_bytes()), 1_100)
        .unwrap();
    assert_eq!(
        f.verdict(&host, Some(b"alice"), 1_050, 1_200),
        Verdict::Revoked
    );
    assert_eq!(f.tick(&host, 2_000), None);
    let next = (2_100..=2_400).find_map(|t| f.tick(&host, t)).unwrap();
    assert_eq!(
        next.path, "/revocations",
        "a page no other VM could see is read again"
    );
}
