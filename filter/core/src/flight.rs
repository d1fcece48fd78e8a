//! One callout per key: requests that miss the cache on the same key while a callout for it is in
//! flight wait for that callout instead of making their own, and all get its outcome.
//!
//! Callouts are owned by the root context, not by the request that triggered them, so a client that
//! goes away (waiter or first requester alike) only leaves its own place: the callout goes on for
//! the others and still fills the cache. Waiters are context ids; `Owner` is whatever judges the
//! answer (the `Authorizer` of the configuration the callout was made under).

use crate::cache::DigestHasher;
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

pub struct Flight<O> {
    pub key: CacheKey,
    pub owner: O,
    pub waiters: Vec<u32>,
    /// The request the callout was made for.
    opener: u32,
    shared: bool,
}

impl<O> Flight<O> {
    /// (the waiters that get the answer, the waiters that must ask the auth service themselves).
    pub fn recipients(&self, sharing: Sharing) -> (Vec<u32>, Vec<u32>) {
        match sharing {
            Sharing::All => (self.waiters.clone(), Vec::new()),
            Sharing::OpenerOnly => self.waiters.iter().partition(|w| **w == self.opener),
        }
    }
}

pub struct Flights<O> {
    by_token: HashMap<u32, Flight<O>>,
    by_key: HashMap<CacheKey, u32, BuildHasherDefault<DigestHasher>>,
    /// The flight each waiting request waits on: its body and trailers are held meanwhile.
    by_waiter: HashMap<u32, u32>,
}

impl<O> Default for Flights<O> {
    fn default() -> Self {
        Flights {
            by_token: HashMap::new(),
            by_key: HashMap::default(),
            by_waiter: HashMap::new(),
        }
    }
}

impl<O> Flights<O> {
    /// The token of a shared callout in flight for `key`, which a new request can wait on.
    pub fn find(&self, key: &CacheKey) -> Option<u32> {
        self.by_key.get(key).copied()
    }

    /// Records a dispatched callout and its first waiter. `shared`: later requests with the same key
    /// may join (false when caching is off, where every request must be checked on its own).
    pub fn open(&mut self, token: u32, key: CacheKey, owner: O, waiter: u32, shared: bool) {
        if shared {
            self.by_key.insert(key, token);
        }
        self.by_waiter.insert(waiter, token);
        self.by_token.insert(
            token,
            Flight {
                key,
                owner,
                waiters: vec![waiter],
                opener: waiter,
                shared,
            },
        );
    }

    /// Adds a waiter to a flight; false when it has already landed.
    pub fn join(&mut self, token: u32, waiter: u32) -> bool {
        match self.by_token.get_mut(&token) {
            Some(f) => {
                f.waiters.push(waiter);
                self.by_waiter.insert(waiter, token);
                true
            }
            None => false,
        }
    }

    /// The callout answered (or failed): the flight and everyone still waiting on it.
    pub fn land(&mut self, token: u32) -> Option<Flight<O>> {
        let flight = self.by_token.remove(&token)?;
        for w in &flight.waiters {
            self.by_waiter.remove(w);
        }
        if flight.shared && self.by_key.get(&flight.key) == Some(&token) {
            self.by_key.remove(&flight.key);
        }
        Some(flight)
    }

    /// A request went away: if it was waiting, forget it there, and nothing else (the callout goes
    /// on for the others).
    pub fn leave(&mut self, waiter: u32) {
        let Some(token) = self.by_waiter.remove(&waiter) else {
            return;
        };
        if let Some(f) = self.by_token.get_mut(&token) {
            f.waiters.retain(|w| *w != waiter);
        }
    }

    /// Who judges the answer to callout `token`.
    pub fn owner(&self, token: u32) -> Option<&O> {
        self.by_token.get(&token).map(|f| &f.owner)
    }

    /// Whether `waiter` waits on a callout in flight.
    pub fn is_waiting(&self, waiter: u32) -> bool {
        self.by_waiter.contains_key(&waiter)
    }

    pub fn in_flight(&self) -> usize {
        self.by_token.len()
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

    #[test]
    fn later_requests_join_the_first_callout() {
        let mut f = Flights::default();
        assert_eq!(f.find(&k(1)), None);
        f.open(7, k(1), "cfg", 100, true);
        assert_eq!(f.find(&k(1)), Some(7));
        assert!(f.join(7, 101));
        assert!(f.join(7, 102));
        let landed = f.land(7).unwrap();
        assert_eq!(landed.waiters, [100, 101, 102]);
        assert_eq!(f.waiting(), 0, "landing ends every wait");
        assert_eq!(landed.owner, "cfg");
        assert_eq!(f.find(&k(1)), None, "the next miss calls out again");
        assert_eq!(f.in_flight(), 0);
    }

    #[test]
    fn unshared_flights_are_not_found() {
        let mut f = Flights::default();
        f.open(7, k(1), (), 100, false);
        assert_eq!(f.find(&k(1)), None);
        assert!(f.land(7).is_some());
    }

    #[test]
    fn a_waiter_that_leaves_leaves_nothing_behind() {
        let mut f = Flights::default();
        f.open(7, k(1), (), 100, true);
        f.join(7, 101);
        assert!(f.is_waiting(100) && f.is_waiting(101));
        f.leave(100);
        assert_eq!(f.waiting(), 1);
        assert!(!f.is_waiting(100));
        f.leave(101);
        assert_eq!(f.waiting(), 0);
        // The callout itself goes on; when it lands nobody is resumed and the maps are empty.
        assert_eq!(f.land(7).unwrap().waiters, Vec::<u32>::new());
        assert_eq!((f.in_flight(), f.find(&k(1))), (0, None));
        f.leave(100); // late: harmless
    }

    #[test]
    fn joining_a_landed_flight_fails() {
        let mut f: Flights<()> = Flights::default();
        assert!(!f.join(9, 1));
    }

    #[test]
    fn an_answer_for_one_client_goes_to_its_opener_only() {
        let mut f = Flights::default();
        f.open(7, k(1), (), 100, true);
        f.join(7, 101);
        f.join(7, 102);
        let landed = f.land(7).unwrap();
        assert_eq!(
            landed.recipients(Sharing::All),
            (vec![100, 101, 102], vec![])
        );
        assert_eq!(
            landed.recipients(Sharing::OpenerOnly),
            (vec![100], vec![101, 102])
        );
        // The opener gone: nobody gets the answer, everyone asks again.
        f.open(8, k(1), (), 100, true);
        f.join(8, 101);
        f.leave(100);
        let landed = f.land(8).unwrap();
        assert_eq!(landed.recipients(Sharing::OpenerOnly), (vec![], vec![101]));
    }
}
