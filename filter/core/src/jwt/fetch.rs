//! When to fetch each remote JWKS, for one configuration in one VM, and what every VM of the Envoy
//! shares about it. Pure decisions over the host's clock and shared data; the adapter dispatches.
//!
//! Every worker has its own VM, but a JWKS is fetched once per interval per Envoy: each issuer has
//! one shared-data record (when the last good document was fetched, when a fetch was last
//! attempted and when a refetch for an unknown `kid` last ran) and the document beside it. A VM adopts a newer document from
//! the record on its tick (or when a token needs it) and fetches only when the record is due and
//! it won the compare-and-swap that claims the attempt.
//!
//! - Start-up and refresh: due when the record was never filled or is `refreshSeconds` old. A
//!   failed attempt is retried after `RETRY_MS`; the last good keys stay in use meanwhile.
//! - Unknown `kid`: one refetch per issuer per `REFETCH_INTERVAL_MS` per Envoy, and never while an
//!   attempt is in flight anywhere; the request waits for it and is decided when it lands (or, when
//!   another VM fetches, at this VM's next tick).

use super::config::{Jwks, JwtConfig, RemoteJwks};
use super::jwks::{KeySet, MAX_JWKS_BYTES};
use super::keys::Keys;
use crate::host::{Host, Metric};

pub const REFETCH_INTERVAL_MS: u64 = 30_000;
pub const RETRY_MS: u64 = 5_000;
mod record;

#[cfg(test)]
use record::RECORD_PREFIX;
use record::{publish_document, read_document, update, CREATE_ONLY};
pub use record::{record_name, Record};

/// How much of a JWKS answer to read (its `:status`, `None` when no answer came at all): the
/// whole body of a 200 within `MAX_JWKS_BYTES`, or why the answer is no document.
pub fn body_to_read(status: Option<&[u8]>, body_size: usize) -> Result<usize, String> {
    let Some(status) = status else {
        return Err("no answer (connection failed or timed out)".into());
    };
    if status != b"200" {
        return Err(format!("answered {}", String::from_utf8_lossy(status)));
    }
    if body_size > MAX_JWKS_BYTES {
        return Err(format!(
            "document of {body_size} bytes is over the {MAX_JWKS_BYTES}-byte limit"
        ));
    }
    Ok(body_size)
}

/// Why a fetch is made: counted and logged differently, and only a refetch is rate-limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    Refresh,
    UnknownKid,
}

/// A fetch the adapter should dispatch from the root context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetch {
    pub provider: usize,
    pub why: Why,
}

/// What a request whose token names an unknown `kid` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KidPlan {
    /// Newer keys were adopted from the shared record: check the token again now.
    Recheck,
    /// Wait for the fetch this VM has in flight (or will dispatch: `Some`), or for another VM's.
    Wait(Option<Fetch>),
    /// No refetch now (one ran less than 30 s ago): the `kid` is unknown, 401.
    Unknown,
}

/// Per VM and configuration: which fetch this VM has in flight, and which record it adopted.
#[derive(Debug, Default)]
pub struct Fetcher {
    sources: Vec<Option<SourceState>>,
}

#[derive(Debug)]
struct SourceState {
    remote: RemoteJwks,
    name: String,
    /// The record's `fetched_ms` whose body is in `Keys` (0: none).
    adopted_ms: u64,
    in_flight: bool,
    /// This VM's last unknown-`kid` refetch: the limit holds even where shared data does not.
    refetch_ms: u64,
}

impl Fetcher {
    pub fn new(config: &JwtConfig) -> Fetcher {
        let sources = config
            .providers
            .iter()
            .map(|p| match &p.jwks {
                Jwks::Remote(r) => Some(SourceState {
                    name: record_name(r),
                    remote: r.clone(),
                    adopted_ms: 0,
                    in_flight: false,
                    refetch_ms: 0,
                }),
                Jwks::Inline(_) => None,
            })
            .collect();
        Fetcher { sources }
    }

    pub fn remote(&self, provider: usize) -> Option<&RemoteJwks> {
        Some(&self.sources.get(provider)?.as_ref()?.remote)
    }

    pub fn has_remote(&self) -> bool {
        self.sources.iter().any(Option::is_some)
    }

    /// The providers this VM is not fetching keys for right now.
    pub fn idle_providers(&self) -> Vec<usize> {
        (0..self.sources.len())
            .filter(|p| {
                !self
                    .sources
                    .get(*p)
                    .and_then(Option::as_ref)
                    .is_some_and(|s| s.in_flight)
            })
            .collect()
    }

    /// The tick (and the configuration's start): adopt newer shared keys, and the fetches due.
    pub fn tick(&mut self, host: &dyn Host, keys: &mut Keys, now: u64) -> Vec<Fetch> {
        let mut due = Vec::new();
        for provider in 0..self.sources.len() {
            let Some((record, cas)) = self.read(host, provider) else {
                continue;
            };
            self.adopt(host, provider, &record, keys);
            let Some(s) = self.sources.get(provider).and_then(Option::as_ref) else {
                continue;
            };
            let refresh_ms = u64::from(s.remote.refresh_secs) * 1000;
            let stale =
                record.fetched_ms == 0 || now >= record.fetched_ms.saturating_add(refresh_ms);
            let retry_ok = now >= record.failed_ms.saturating_add(RETRY_MS);
            // A VM with no keys at all does not wait on another's attempt: that one may be the
            // main thread's, made before Envoy's clusters were up, while this worker serves now.
            let keyless = keys.get(provider).is_none() && s.adopted_ms == 0;
            let elsewhere = self.in_flight(provider, &record, now) && !keyless;
            if stale && retry_ok && !s.in_flight && !elsewhere {
                let claim = Record {
                    attempt_ms: now,
                    ..record
                };
                if self.claim(host, provider, &claim, cas) {
                    due.push(Fetch {
                        provider,
                        why: Why::Refresh,
                    });
                }
            }
        }
        due
    }

    /// A token names a `kid` its issuer's keys lack.
    pub fn unknown_kid(
        &mut self,
        host: &dyn Host,
        keys: &mut Keys,
        provider: usize,
        now: u64,
    ) -> KidPlan {
        let Some((record, cas)) = self.read(host, provider) else {
            return KidPlan::Unknown;
        };
        if self.adopt(host, provider, &record, keys) {
            return KidPlan::Recheck;
        }
        let (in_flight, local_refetch) = self
            .sources
            .get(provider)
            .and_then(Option::as_ref)
            .map_or((false, 0), |s| (s.in_flight, s.refetch_ms));
        if in_flight || self.in_flight(provider, &record, now) {
            return KidPlan::Wait(None);
        }
        let last = record.refetch_ms.max(local_refetch);
        if last != 0 && now < last.saturating_add(REFETCH_INTERVAL_MS) {
            return KidPlan::Unknown;
        }
        let claim = Record {
            attempt_ms: now,
            refetch_ms: now,
            ..record
        };
        if let Some(Some(s)) = self.sources.get_mut(provider) {
            s.refetch_ms = now;
        }
        if self.claim(host, provider, &claim, cas) {
            KidPlan::Wait(Some(Fetch {
                provider,
                why: Why::UnknownKid,
            }))
        } else {
            // Another VM claimed it between our read and write: its result comes at the tick.
            KidPlan::Wait(None)
        }
    }

    /// A token needs keys this VM lacks: takes them from the shared record if another VM fetched
    /// them. Whether it did.
    pub fn adopt_now(&mut self, host: &dyn Host, keys: &mut Keys, provider: usize) -> bool {
        match self.read(host, provider) {
            Some((record, _)) => self.adopt(host, provider, &record, keys),
            None => false,
        }
    }

    /// The fetch of `provider` was dispatched (or refused, `false`).
    pub fn dispatched(&mut self, provider: usize, ok: bool) {
        if let Some(Some(s)) = self.sources.get_mut(provider) {
            s.in_flight = ok;
        }
    }

    /// The fetch of `provider` landed: `Ok(body)` for a 200. Good keys go into `keys` and the
    /// shared record; anything else keeps the last good keys (`Err`: why, for the log). `Ok`
    /// says whether the keys changed.
    pub fn landed(
        &mut self,
        host: &dyn Host,
        keys: &mut Keys,
        provider: usize,
        body: Result<&[u8], String>,
        now: u64,
    ) -> Result<bool, String> {
        let Some(Some(s)) = self.sources.get_mut(provider) else {
            return Err("a fetch for a provider without a remote JWKS".into());
        };
        s.in_flight = false;
        let name = s.name.clone();
        let parsed = body.and_then(|b| {
            let (set, skipped) = KeySet::parse(b).map_err(|e| e.to_string())?;
            Ok((b, set, skipped.len()))
        });
        let (body, set, skipped) = match parsed {
            Ok(p) => p,
            Err(why) => {
                host.count(Metric::JwksFetchFailures);
                update(host, &name, |r| Record {
                    attempt_ms: 0,
                    failed_ms: now,
                    ..r
                });
                return Err(why);
            }
        };
        if skipped > 0 {
            log::debug!("JWKS of provider {provider}: {skipped} key(s) of a kind the filter does not use skipped");
        }
        host.count(Metric::JwksFetches);
        let changed = keys.replace(provider, set);
        s.adopted_ms = now;
        // The document first, then the record that points at it; both only move forward, so
        // whatever order two VMs' writes take, the record never names a document older than the
        // one there (and a VM that reads the record finds that document or a newer one).
        match publish_document(host, &name, now, body) {
            Some(stamp) => update(host, &name, |r| Record {
                fetched_ms: r.fetched_ms.max(stamp),
                attempt_ms: 0,
                failed_ms: 0,
                ..r
            }),
            None => update(host, &name, |r| Record { attempt_ms: 0, ..r }),
        }
        Ok(changed)
    }

    fn read(&self, host: &dyn Host, provider: usize) -> Option<(Record, u32)> {
        let s = self.sources.get(provider)?.as_ref()?;
        let read = || match host.shared_get(&s.name) {
            Ok(Some((bytes, cas))) => Some((Record::decode(&bytes).unwrap_or_default(), cas)),
            _ => None,
        };
        if let Some(found) = read() {
            return Some(found);
        }
        // A claim on a record nobody wrote yet could not lose a race (a missing key is written
        // whatever the CAS): the record is created first (unless another VM just did), and
        // claimed with its CAS.
        let _ = host.shared_set(&s.name, &Record::default().encode(), CREATE_ONLY);
        // Without shared data, this VM fetches on its own.
        Some(read().unwrap_or_default())
    }

    /// Takes the record's keys when they are newer than this VM's.
    fn adopt(
        &mut self,
        host: &dyn Host,
        provider: usize,
        record: &Record,
        keys: &mut Keys,
    ) -> bool {
        let Some(Some(s)) = self.sources.get_mut(provider) else {
            return false;
        };
        if record.fetched_ms <= s.adopted_ms {
            return false;
        }
        let Some((stamp, document)) = read_document(host, &s.name, record.fetched_ms) else {
            return false;
        };
        s.adopted_ms = stamp;
        match KeySet::parse(&document) {
            Ok((set, _)) => keys.replace(provider, set),
            Err(_) => false,
        }
    }

    /// An attempt is in flight in some VM: it started, has not landed, and is not past its timeout.
    fn in_flight(&self, provider: usize, record: &Record, now: u64) -> bool {
        let timeout = self
            .sources
            .get(provider)
            .and_then(Option::as_ref)
            .map_or(0, |s| u64::from(s.remote.timeout_ms));
        record.attempt_ms != 0 && now < record.attempt_ms.saturating_add(timeout)
    }

    fn claim(&self, host: &dyn Host, provider: usize, record: &Record, cas: u32) -> bool {
        let Some(Some(s)) = self.sources.get(provider) else {
            return false;
        };
        match host.shared_set(&s.name, &record.encode(), cas) {
            Ok(()) => true,
            Err(crate::host::SharedError::CasMismatch) => false,
            // Without shared data this VM is on its own: it fetches.
            Err(crate::host::SharedError::Host(_)) => true,
        }
    }
}

#[cfg(test)]
mod race_tests;

#[cfg(test)]
mod answer_tests {
    use super::*;

    #[test]
    fn only_a_200_within_the_limit_is_read() {
        assert_eq!(body_to_read(Some(b"200"), 10), Ok(10));
        assert_eq!(
            body_to_read(Some(b"200"), MAX_JWKS_BYTES),
            Ok(MAX_JWKS_BYTES)
        );
        for (status, size, why) in [
            (None, 10, "no answer"),
            (Some(&b"503"[..]), 10, "answered 503"),
            (Some(&b"204"[..]), 0, "answered 204"),
            (Some(&b"200"[..]), MAX_JWKS_BYTES + 1, "over the"),
        ] {
            let e = body_to_read(status, size).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
    }
}
#[cfg(test)]
mod tests;
