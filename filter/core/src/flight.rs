//! One callout per key: requests that miss the cache on the same key while a callout for it is in
//! flight wait for that callout instead of making their own, and all get its outcome.
//!
//! Callouts are owned by the root context, not by the request that triggered them, so a client that
//! goes away (waiter or first requester alike) only leaves its own place: the callout goes on for
//! the others and still fills the cache. Waiters are context ids; `Owner` is whatever judges the
//! answer (the `Authorizer` of the configuration the callout was made under).

use crate::cache::DigestHasher;
use crate::ids::IdMap;
use crate::key::CacheKey;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;

/// Whether a landed answer may go to every request waiting on its flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// The same for everyone (or an error): every waiter gets it.
    All,
    /// Made for the request it was asked for (it sets a cookie, or is `private`, `no-store` or
    /// `no-cache`): only that request gets it; every other waiter makes its own callout, as nginx's
    /// `proxy_cache_lock` releases its waiters when the response is not cacheable.
    OpenerOnly,
}

/// A request waiting on a flight, with what its own callout would carry if it must ask again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waiter {
    pub ctx: u32,
    /// Its decision must not be cached past this (its token's `exp`).
    pub cap_ms: Option<u64>,
}

/// A callout in flight: everything known about it lives here, so that no path that lands,
/// leaves or asks again can lose part of it.
pub struct Flight<O> {
    pub key: CacheKey,
    pub owner: O,
    pub waiters: Vec<Waiter>,
    /// When it was dispatched (`None`: no clock), for `callout_duration_ms`.
    pub started_ms: Option<u64>,
    /// Its decision is not cached past this (the opener's token's `exp`).
    pub cap_ms: Option<u64>,
    /// The request the callout was made for.
    opener: u32,
    shared: bool,
}

impl<O> Flight<O> {
    /// (the waiters that get the answer, the waiters that must ask the auth service themselves).
    pub fn recipients(&self, sharing: Sharing) -> (Vec<u32>, Vec<Waiter>) {
        match sharing {
            Sharing::All => (self.waiters.iter().map(|w| w.ctx).collect(), Vec::new()),
            Sharing::OpenerOnly => {
                let (opener, others): (Vec<Waiter>, Vec<Waiter>) =
                    self.waiters.iter().partition(|w| w.ctx == self.opener);
                (opener.into_iter().map(|w| w.ctx).collect(), others)
            }
        }
    }
}

/// What a new flight is opened with.
pub struct Opening<O> {
    pub key: CacheKey,
    pub owner: O,
    pub opener: Waiter,
    pub started_ms: Option<u64>,
    /// Later requests with the same key may join (false when caching is off, where every
    /// request must be checked on its own).
    pub shared: bool,
}

pub struct Flights<O> {
    by_call: IdMap<Flight<O>>,
    by_key: HashMap<CacheKey, u32, BuildHasherDefault<DigestHasher>>,
    /// The flight each waiting request waits on: its body and trailers are held meanwhile.
    by_waiter: IdMap<u32>,
}

impl<O> Default for Flights<O> {
    fn default() -> Self {
        Flights {
            by_call: IdMap::default(),
            by_key: HashMap::default(),
            by_waiter: IdMap::default(),
        }
    }
}

impl<O> Flights<O> {
    /// The id of a shared callout in flight for `key`, which a new request can wait on.
    pub fn find(&self, key: &CacheKey) -> Option<u32> {
        self.by_key.get(key).copied()
    }

    /// Records a dispatched callout and its first waiter.
    pub fn open(&mut self, call: u32, o: Opening<O>) {
        if o.shared {
            self.by_key.insert(o.key, call);
        }
        self.by_waiter.insert(o.opener.ctx, call);
        self.by_call.insert(
            call,
            Flight {
                key: o.key,
                owner: o.owner,
                waiters: vec![o.opener],
                started_ms: o.started_ms,
                cap_ms: o.opener.cap_ms,
                opener: o.opener.ctx,
                shared: o.shared,
            },
        );
    }

    /// Adds a waiter to a flight; false when it has already landed.
    pub fn join(&mut self, call: u32, waiter: Waiter) -> bool {
        match self.by_call.get_mut(&call) {
            Some(f) => {
                f.waiters.push(waiter);
                self.by_waiter.insert(waiter.ctx, call);
                true
            }
            None => false,
        }
    }

    /// The callout answered (or failed): the flight and everyone still waiting on it.
    pub fn land(&mut self, call: u32) -> Option<Flight<O>> {
        let flight = self.by_call.remove(&call)?;
        for w in &flight.waiters {
            self.by_waiter.remove(&w.ctx);
        }
        if flight.shared && self.by_key.get(&flight.key) == Some(&call) {
            self.by_key.remove(&flight.key);
        }
        Some(flight)
    }

    /// A request went away: if it was waiting, forget it there, and nothing else (the callout goes
    /// on for the others).
    pub fn leave(&mut self, waiter: u32) {
        let Some(call) = self.by_waiter.remove(&waiter) else {
            return;
        };
        if let Some(f) = self.by_call.get_mut(&call) {
            f.waiters.retain(|w| w.ctx != waiter);
        }
    }

    /// Who judges the answer to callout `call`.
    pub fn owner(&self, call: u32) -> Option<&O> {
        self.by_call.get(&call).map(|f| &f.owner)
    }

    /// Whether `waiter` waits on a callout in flight.
    pub fn is_waiting(&self, waiter: u32) -> bool {
        self.by_waiter.contains_key(&waiter)
    }

    pub fn in_flight(&self) -> usize {
        self.by_call.len()
    }

    pub fn waiting(&self) -> usize {
        self.by_waiter.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(n: u8) -> CacheKey {
        CacheKey([n; 32])
    }

    fn w(ctx: u32) -> Waiter {
        Waiter { ctx, cap_ms: None }
    }

    fn open<O>(f: &mut Flights<O>, call: u32, key: CacheKey, owner: O, opener: u32, shared: bool) {
        f.open(
            call,
            Opening {
                key,
                owner,
                opener: w(opener),
                started_ms: None,
                shared,
            },
        );
    }

    fn ctxs(f: &Flight<impl Sized>) -> Vec<u32> {
        f.waiters.iter().map(|w| w.ctx).collect()
    }

    #[test]
    fn later_requests_join_the_first_callout() {
        let mut f = Flights::default();
        assert_eq!(f.find(&k(1)), None);
        open(&mut f, 7, k(1), "cfg", 100, true);
        assert_eq!(f.find(&k(1)), Some(7));
        assert!(f.join(7, w(101)));
        assert!(f.join(7, w(102)));
        let landed = f.land(7).unwrap();
        assert_eq!(ctxs(&landed), [100, 101, 102]);
        assert_eq!(f.waiting(), 0, "landing ends every wait");
        assert_eq!(landed.owner, "cfg");
        assert_eq!(f.find(&k(1)), None, "the next miss calls out again");
        assert_eq!(f.in_flight(), 0);
    }

    #[test]
    fn unshared_flights_are_not_found() {
        let mut f = Flights::default();
        open(&mut f, 7, k(1), (), 100, false);
        assert_eq!(f.find(&k(1)), None);
        assert!(f.land(7).is_some());
    }

    #[test]
    fn a_waiter_that_leaves_leaves_nothing_behind() {
        let mut f = Flights::default();
        open(&mut f, 7, k(1), (), 100, true);
        f.join(7, w(101));
        assert!(f.is_waiting(100) && f.is_waiting(101));
        f.leave(100);
        assert_eq!(f.waiting(), 1);
        assert!(!f.is_waiting(100));
        f.leave(101);
        assert_eq!(f.waiting(), 0);
        // The callout itself goes on; when it lands nobody is resumed and the maps are empty.
        assert_eq!(ctxs(&f.land(7).unwrap()), Vec::<u32>::new());
        assert_eq!((f.in_flight(), f.find(&k(1))), (0, None));
        f.leave(100); // late: harmless
    }

    #[test]
    fn joining_a_landed_flight_fails() {
        let mut f: Flights<()> = Flights::default();
        assert!(!f.join(9, w(1)));
    }

    #[test]
    fn an_answer_for_one_client_goes_to_its_opener_only() {
        let mut f = Flights::default();
        open(&mut f, 7, k(1), (), 100, true);
        f.join(7, w(101));
        f.join(7, w(102));
        let landed = f.land(7).unwrap();
        assert_eq!(
            landed.recipients(Sharing::All),
            (vec![100, 101, 102], vec![])
        );
        assert_eq!(
            landed.recipients(Sharing::OpenerOnly),
            (vec![100], vec![w(101), w(102)])
        );
        // The opener gone: nobody gets the answer, everyone asks again.
        open(&mut f, 8, k(1), (), 100, true);
        f.join(8, w(101));
        f.leave(100);
        let landed = f.land(8).unwrap();
        assert_eq!(
            landed.recipients(Sharing::OpenerOnly),
            (vec![], vec![w(101)])
        );
    }
}
