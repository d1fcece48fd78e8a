use super::record::publish_document;
use super::*;
use crate::host::fake::FakeHost;
use crate::jwt::testing::{ec, jwks, jwt_config};
use serde_json::json;
use std::rc::Rc;

pub(super) const T0: u64 = 1_800_000_000_000;

/// Provider 0 has a remote JWKS, provider 1 inline keys.
pub(super) fn config() -> JwtConfig {
    jwt_config(&json!({
        "mode": "gate",
        "providers": [{
            "name": "corp",
            "issuer": "https://id.example.com",
            "jwks": {"cluster": "outbound|443||id.example.com", "path": "/jwks.json",
                     "refreshSeconds": 60, "timeoutMs": 1000},
        }, {
            "name": "inline",
            "issuer": "https://inline.example.com",
            "jwks": {"inline": jwks(&[ec(0)])},
        }],
    }))
}

/// One VM: its fetcher and keys, on a host whose shared data other VMs may share.
struct Vm {
    fetcher: Fetcher,
    keys: Keys,
    host: FakeHost,
}

impl Vm {
    fn new(shared: &crate::host::fake::SharedData) -> Vm {
        let c = config();
        let host = FakeHost {
            shared: Rc::clone(shared),
            ..FakeHost::default()
        };
        Vm {
            fetcher: Fetcher::new(&c),
            keys: Keys::new(&c),
            host,
        }
    }

    fn tick(&mut self, now: u64) -> Vec<Fetch> {
        self.fetcher.tick(&self.host, &mut self.keys, now)
    }

    fn land(&mut self, body: Result<&[u8], String>, now: u64) -> Result<bool, String> {
        self.fetcher
            .landed(&self.host, &mut self.keys, 0, body, now)
    }

    fn kid(&mut self, now: u64) -> KidPlan {
        self.fetcher.unknown_kid(&self.host, &mut self.keys, 0, now)
    }
}

fn refresh() -> Vec<Fetch> {
    vec![Fetch {
        provider: 0,
        why: Why::Refresh,
    }]
}

#[test]
fn the_first_tick_fetches_each_remote_jwks_once() {
    let mut vm = Vm::new(&Default::default());
    assert_eq!(
        vm.tick(T0),
        refresh(),
        "the inline provider is never fetched"
    );
    vm.fetcher.dispatched(0, true);
    assert_eq!(vm.tick(T0 + 500), vec![], "in flight");
    assert!(vm.keys.get(0).is_none());
    let body = jwks(&[ec(1)]);
    assert_eq!(vm.land(Ok(body.as_bytes()), T0 + 600), Ok(true));
    assert_eq!(vm.keys.get(0).map(KeySet::len), Some(1));
    assert_eq!(vm.host.count_of(Metric::JwksFetches), 1);
    assert_eq!(vm.tick(T0 + 59_000), vec![], "fresh for refreshSeconds");
    assert_eq!(vm.tick(T0 + 61_000), refresh(), "due again");
}

#[test]
fn one_fetch_per_interval_per_envoy_and_every_vm_adopts_it() {
    let shared = crate::host::fake::SharedData::default();
    let (mut a, mut b) = (Vm::new(&shared), Vm::new(&shared));
    let mut c = Vm::new(&shared);
    assert_eq!(a.tick(T0), refresh());
    a.fetcher.dispatched(0, true);
    // At start, a VM with no keys fetches for itself rather than wait on another's attempt
    // (the main thread's may sit until Envoy's clusters are up).
    assert_eq!(b.tick(T0 + 10), refresh(), "keyless: fetches too");
    let body = jwks(&[ec(1)]);
    a.land(Ok(body.as_bytes()), T0 + 100).unwrap();
    assert_eq!(c.tick(T0 + 1_000), vec![], "fresh in the shared record");
    assert_eq!(c.keys.get(0), a.keys.get(0), "c adopted a's keys");
    assert_eq!(c.keys.generation(), 1);
    let mut d = Vm::new(&shared);
    assert!(
        d.fetcher.adopt_now(&d.host, &mut d.keys, 0),
        "a token needing keys takes them at once"
    );
    assert_eq!(d.keys.get(0), a.keys.get(0));
    b.land(Ok(body.as_bytes()), T0 + 200).unwrap();
    // Due again: whoever ticks first claims it; the other one does not fetch.
    assert_eq!(
        b.tick(T0 + 61_000),
        refresh(),
        "due again: whoever ticks first claims it"
    );
    assert_eq!(a.tick(T0 + 61_001), vec![], "the others do not fetch");
    assert_eq!(c.tick(T0 + 61_002), vec![]);
}

#[test]
fn a_failed_fetch_keeps_the_last_good_keys_and_is_retried_later() {
    let mut vm = Vm::new(&Default::default());
    vm.tick(T0);
    vm.fetcher.dispatched(0, true);
    let body = jwks(&[ec(1)]);
    vm.land(Ok(body.as_bytes()), T0).unwrap();
    assert_eq!(vm.tick(T0 + 61_000), refresh());
    vm.fetcher.dispatched(0, true);
    let cases: [Result<&[u8], String>; 3] = [
        Err("answered 503".into()),
        Ok(b"{\"keys\": 5}"),
        Ok(b"not json"),
    ];
    let mut now = T0 + 61_100;
    for (i, body) in cases.into_iter().enumerate() {
        assert!(vm.land(body, now).is_err(), "case {i}");
        assert_eq!(
            vm.keys.get(0).map(KeySet::len),
            Some(1),
            "case {i}: keys kept"
        );
        assert_eq!(
            vm.tick(now + RETRY_MS - 1),
            vec![],
            "case {i}: not before the retry delay"
        );
        assert_eq!(vm.tick(now + RETRY_MS), refresh(), "case {i}: retried");
        vm.fetcher.dispatched(0, true);
        now += RETRY_MS + 1;
    }
    assert_eq!(vm.host.count_of(Metric::JwksFetchFailures), 3);
}

#[test]
fn an_unknown_kid_refetches_at_most_once_per_interval() {
    let shared = crate::host::fake::SharedData::default();
    let (mut a, mut b) = (Vm::new(&shared), Vm::new(&shared));
    a.tick(T0);
    a.fetcher.dispatched(0, true);
    let old = jwks(&[ec(0)]);
    a.land(Ok(old.as_bytes()), T0).unwrap();
    assert_eq!(b.tick(T0 + 500), vec![], "b adopts the keys a fetched");
    let refetch = Fetch {
        provider: 0,
        why: Why::UnknownKid,
    };
    assert_eq!(a.kid(T0 + 1_000), KidPlan::Wait(Some(refetch.clone())));
    a.fetcher.dispatched(0, true);
    assert_eq!(
        a.kid(T0 + 1_001),
        KidPlan::Wait(None),
        "joins the fetch in flight"
    );
    assert_eq!(
        b.kid(T0 + 1_002),
        KidPlan::Wait(None),
        "another VM's fetch in flight"
    );
    let rotated = jwks(&[ec(0), ec(1)]);
    assert_eq!(a.land(Ok(rotated.as_bytes()), T0 + 1_100), Ok(true));
    assert_eq!(b.kid(T0 + 1_200), KidPlan::Recheck, "b adopts the new keys");
    assert_eq!(
        b.kid(T0 + 1_300),
        KidPlan::Unknown,
        "rate-limited per Envoy"
    );
    assert_eq!(a.kid(T0 + 30_999), KidPlan::Unknown);
    assert_eq!(a.kid(T0 + 31_000), KidPlan::Wait(Some(refetch)));
}

#[test]
fn records_round_trip_and_damaged_ones_are_ignored() {
    let r = Record {
        fetched_ms: 1,
        attempt_ms: 2,
        failed_ms: 3,
        refetch_ms: 4,
    };
    assert_eq!(Record::decode(&r.encode()), Some(r.clone()));
    let bytes = r.encode();
    assert_eq!(Record::decode(&bytes[..10]), None);
    assert_eq!(Record::decode(&[]), None);
    let mut other = bytes.clone();
    other[0] = 9;
    assert_eq!(Record::decode(&other), None);
    let a = RemoteJwks {
        cluster: "c".into(),
        authority: "a".into(),
        path: "/p".into(),
        refresh_secs: 10,
        timeout_ms: 1,
    };
    let b = RemoteJwks {
        path: "/q".into(),
        ..a.clone()
    };
    assert_ne!(record_name(&a), record_name(&b));
    assert!(record_name(&a).starts_with(RECORD_PREFIX));
}

#[test]
fn the_document_is_read_when_it_is_the_one_the_record_names_or_newer() {
    let shared = crate::host::fake::SharedData::default();
    let mut a = Vm::new(&shared);
    a.tick(T0);
    a.fetcher.dispatched(0, true);
    let body = jwks(&[ec(1)]);
    a.land(Ok(body.as_bytes()), T0 + 100).unwrap();
    let name = a.fetcher.sources[0].as_ref().unwrap().name.clone();
    assert_eq!(
        read_document(&a.host, &name, T0 + 100),
        Some((T0 + 100, body.clone().into_bytes()))
    );
    assert_eq!(
        read_document(&a.host, &name, T0 + 101),
        None,
        "older than the record names"
    );
    // A writer between its document and its record: its document is whole already (one write),
    // and newer, so it is the one adopted.
    let newer = jwks(&[ec(0)]);
    assert_eq!(
        publish_document(&a.host, &name, T0 + 999, newer.as_bytes()),
        Some(T0 + 999)
    );
    assert_eq!(
        publish_document(&a.host, &name, T0 + 500, body.as_bytes()),
        Some(T0 + 999),
        "a late writer never replaces a newer document"
    );
    let mut b = Vm::new(&shared);
    assert!(b.fetcher.adopt_now(&b.host, &mut b.keys, 0));
    assert!(b.keys.get(0).is_some_and(|k| k.has_kid("ec-0")));
    // The record is small: the document is not in it.
    let (record, _) = a.host.shared_get(&name).unwrap().unwrap();
    assert!(record.len() < 64, "{} bytes", record.len());
}
