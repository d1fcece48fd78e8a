//! One configuration's decisions: path check, bypass, cache lookup (both levels), judging the
//! auth service's answer, counting. `flow::Flow` drives it: `start` at request headers, `finish`
//! when the callout returns, `count` for an outcome a request ended with.

use crate::cache::DecisionCache;
use crate::callout::{self, BadRequest, Walk};
use crate::config::{Config, ErrorPolicy};
use crate::decision::{CalloutError, Cause, Decision, Outcome};
use crate::flight::Sharing;
use crate::host::{Host, Metric};
use crate::jwt::checks::{Step, TokenChecks};
use crate::jwt::config::Source;
use crate::jwt::fetch::Fetch;
use crate::jwt::{JwtConfig, Mode as JwtMode, Removal};
use crate::key::CacheKey;
use crate::path::{self, DotSegment};
use crate::reply::{self, Label};
use crate::request::RequestHead;
use crate::response::{self, Answer};
use crate::revocation::{Follower, Verdict};
use crate::shared;
use std::cell::RefCell;
use std::rc::Rc;

pub enum Start<'r> {
    Done(Outcome),
    /// Not decided here: the answer must come from the auth service (or a callout in flight).
    /// With the clock reading of the lookup, when one was taken, the time the decision must
    /// not outlive (the token's `exp`), when there is one, and whether a cached decision was
    /// there but made before a revocation of its subject (or a flush): asked again because of it.
    Miss(Walk<'r>, Option<u64>, Option<u64>, Revoked),
    /// The token names a `kid` its issuer's keys lack: wait for its JWKS (`fetch`: dispatch it).
    AwaitKeys {
        provider: usize,
        fetch: Option<Fetch>,
    },
}

/// Whether a request misses because its cached decision was revoked (the access log says so).
pub type Revoked = bool;

/// The cap of a decision made for a token that could not be checked: before any clock reading, so
/// that nothing is cached or served stale for it.
pub const UNCHECKED_CAP_MS: u64 = 0;

pub struct Authorizer {
    config: Config,
    cache: Option<RefCell<DecisionCache<Decision>>>,
    jwt: Option<TokenChecks>,
    /// Gate mode, every place a token can be is in the decision key, and every token is
    /// forwarded: a cached decision was made for these very tokens after they passed, and lives
    /// no longer than their `exp`, so it is served before the token checks.
    decision_first: bool,
    /// The revocation feed this VM follows (`revocation`), and the rule a cached decision meets.
    revocation: Option<RefCell<Follower>>,
}

impl Authorizer {
    pub fn new(config: Config) -> Self {
        Self::with_signatures(config, false)
    }

    /// `envoy_verify`: the host's `verify_signature` checks token signatures (else RustCrypto in
    /// the VM).
    pub fn with_signatures(config: Config, envoy_verify: bool) -> Self {
        let cache = config.cache.map(|p| {
            RefCell::new(DecisionCache::with_stale(
                p.max_entries,
                p.max_bytes,
                p.stale_ms,
            ))
        });
        let jwt = config
            .jwt
            .as_ref()
            .map(|j| TokenChecks::new(j, envoy_verify, config.cache.map_or(0, |c| c.shared_slots)));
        let decision_first = cache.is_some()
            && config
                .jwt
                .as_ref()
                .is_some_and(|j| tokens_in_key(&config, j));
        let revocation = config.revocation.as_ref().map(|feed| {
            let [a, b, c, d, e, f, g, h, ..] = config.generation;
            RefCell::new(Follower::new(
                feed,
                u64::from_le_bytes([a, b, c, d, e, f, g, h]),
            ))
        });
        Authorizer {
            config,
            cache,
            jwt,
            decision_first,
            revocation,
        }
    }

    pub fn tokens(&self) -> Option<&TokenChecks> {
        self.jwt.as_ref()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn cached_entries(&self) -> usize {
        self.cache
            .as_ref()
            .and_then(|c| c.try_borrow().ok())
            .map_or(0, |c| c.len())
    }

    /// Requests that miss on the same key may share one callout (only with the cache on: without
    /// it, every request is checked on its own).
    pub fn coalesces(&self) -> bool {
        self.cache.is_some()
    }

    /// `start_with` without the removal: the engine's own tests look at decisions alone.
    #[cfg(test)]
    pub(crate) fn start<'r>(&self, host: &dyn Host, req: &RequestHead<'r>) -> Start<'r> {
        self.start_with(host, req).0
    }

    /// How request `req` starts: decided now, or a miss to ask the auth service about (or a
    /// token waiting for its JWKS); and what to take out of the request before it goes upstream
    /// (a token that must not be forwarded).
    pub fn start_with<'r>(
        &self,
        host: &dyn Host,
        req: &RequestHead<'r>,
    ) -> (Start<'r>, Option<Removal>) {
        let mut now = None;
        let mut cap = None;
        let mut removal = None;
        let mut revoked = false;
        let done = |o| (Start::Done(o), None);
        if let Some(outcome) = self.screen(req) {
            return done(outcome);
        }
        if let (Some(checks), Some(jwt)) = (&self.jwt, &self.config.jwt) {
            now = host.now_ms().ok();
            let mut walked = None;
            let step = match now {
                None => Step::NoKeys,
                Some(now_ms) => {
                    if self.decision_first {
                        let walk = match self.walk(host, req) {
                            Ok(w) => w,
                            Err(bad) => return done(Outcome::BadRequest(bad)),
                        };
                        match self.cached(host, &walk.key, now_ms) {
                            Ok(outcome) => return done(outcome),
                            Err(r) => revoked = r,
                        }
                        walked = Some(walk);
                    }
                    checks.step(host, jwt, &self.config.generation, req, now_ms)
                }
            };
            match step {
                Step::NoToken => {}
                Step::Valid {
                    identity,
                    exp_ms,
                    removal: r,
                } => {
                    if jwt.mode == JwtMode::Authenticate {
                        return (Start::Done(Outcome::Authenticated(identity)), r);
                    }
                    cap = Some(exp_ms);
                    removal = r;
                }
                Step::Rejected { presented, .. } => {
                    host.count(Metric::JwtRejected);
                    return done(Outcome::Unauthenticated { presented });
                }
                Step::NoKeys => {
                    // A token that could not be checked never skips the auth service. With
                    // onError.jwks allow (gate mode only: authenticate mode refuses it at load)
                    // the service decides, and nothing about the token is trusted: its `exp` is
                    // the client's word, so the decision is neither cached nor served stale.
                    let allow = self.config.on_error.policy(Cause::Jwks) == ErrorPolicy::Allow;
                    if jwt.mode == JwtMode::Authenticate || !allow {
                        return done(Outcome::Error(CalloutError::NoKeys));
                    }
                    log::debug!("token not checked (its issuer's keys are missing): asking the auth service, decision not cached");
                    cap = Some(UNCHECKED_CAP_MS);
                }
                Step::AwaitKeys { provider, fetch } => {
                    return (Start::AwaitKeys { provider, fetch }, None)
                }
            }
            if let Some(walk) = walked {
                host.count(Metric::CacheMisses);
                return (Start::Miss(walk, now, cap, revoked), removal);
            }
        }
        (self.lookup(host, req, now, cap), removal)
    }

    /// Path check and bypass rules: decided before anything else.
    fn screen(&self, req: &RequestHead<'_>) -> Option<Outcome> {
        // Before bypass and callout: both judge the path, and must judge the one the upstream serves.
        let path = match req.path().map(path::check).transpose() {
            Ok(p) => p,
            Err(DotSegment) => return Some(Outcome::BadRequest(BadRequest::DotSegment)),
        };
        if self
            .config
            .bypass
            .iter()
            .any(|r| r.matches(req, path.as_ref()))
        {
            return Some(Outcome::Bypass);
        }
        None
    }

    /// The callout's walk and the cache lookup. `now`: the clock, when already read.
    fn lookup<'r>(
        &self,
        host: &dyn Host,
        req: &RequestHead<'r>,
        mut now: Option<u64>,
        cap: Option<u64>,
    ) -> Start<'r> {
        let walk = match self.walk(host, req) {
            Ok(w) => w,
            Err(bad) => return Start::Done(Outcome::BadRequest(bad)),
        };
        let mut revoked = false;
        if self.cache.is_some() {
            if now.is_none() {
                now = host.now_ms().ok();
            }
            if let Some(now) = now {
                match self.cached(host, &walk.key, now) {
                    Ok(outcome) => return Start::Done(outcome),
                    Err(r) => revoked = r,
                }
            }
            host.count(Metric::CacheMisses);
        }
        Start::Miss(walk, now, cap, revoked)
    }

    /// The callout's walk of `req` (the request the host works on now): in gRPC mode with the
    /// attributes the CheckRequest carries beyond the headers, read from the host and keyed.
    pub fn walk<'r>(&self, host: &dyn Host, req: &RequestHead<'r>) -> Result<Walk<'r>, BadRequest> {
        let walk = callout::walk(&self.config, req)?;
        match &self.config.auth {
            Some(a) if a.protocol == crate::config::Protocol::Grpc => {
                Ok(walk.with_grpc(crate::grpc::attrs::read(host, req)))
            }
            _ => Ok(walk),
        }
    }

    /// A live decision for `key` from either level (a miss is not counted here), or whether one
    /// was there but revoked.
    fn cached(&self, host: &dyn Host, key: &CacheKey, now: u64) -> Result<Outcome, Revoked> {
        let Some(cache) = self.cache.as_ref() else {
            return Err(false);
        };
        let local = cache
            .try_borrow_mut()
            .ok()
            .and_then(|mut c| c.get_decided(key, now));
        let mut revoked = false;
        if let Some((d, at)) = local {
            match self.servable_or_drop(host, cache, key, d, at, now) {
                Ok(decision) => {
                    host.count(Metric::CacheHits);
                    log::trace!("{key:?} allowed or denied from this worker's cache");
                    return Ok(Outcome::Decided(decision));
                }
                Err(verdict) => revoked = verdict == Verdict::Revoked,
            }
        }
        let decision = match self.shared_lookup(host, cache, key, now) {
            Some(Ok(d)) => d,
            Some(Err(verdict)) => return Err(revoked || verdict == Verdict::Revoked),
            None => return Err(revoked),
        };
        host.count(Metric::CacheHits);
        host.count(Metric::SharedHits);
        log::trace!("{key:?} decided from the shared cache level");
        Ok(Outcome::Decided(decision))
    }

    /// The callout's answer (`Err` when it never came), judged and cached as its TTL allows, and
    /// whether the other requests waiting on the callout may be given it. An error is the same for
    /// everyone (and asking again would only load a failing service more), so it is shared.
    pub fn finish(
        &self,
        host: &dyn Host,
        key: &CacheKey,
        answer: Result<Answer<'_>, CalloutError>,
    ) -> (Outcome, Sharing) {
        self.finish_at(host, key, answer, host.now_ms().ok(), None)
    }

    /// `finish` with the clock already read (`None`: no clock, so nothing is cached or served
    /// stale). `cap_ms`: the decision is not cached past it (the token's `exp`).
    pub fn finish_at(
        &self,
        host: &dyn Host,
        key: &CacheKey,
        answer: Result<Answer<'_>, CalloutError>,
        now: Option<u64>,
        cap_ms: Option<u64>,
    ) -> (Outcome, Sharing) {
        let judged = answer.and_then(|a| response::judge(&self.config, a.headers, a.body));
        self.finish_judged(host, key, judged, now, cap_ms)
    }

    /// `finish_at` for an answer already judged (a gRPC CheckResponse, or its call's status).
    pub fn finish_judged(
        &self,
        host: &dyn Host,
        key: &CacheKey,
        judged: Result<response::Judged, CalloutError>,
        now: Option<u64>,
        cap_ms: Option<u64>,
    ) -> (Outcome, Sharing) {
        let judged = match judged {
            Ok(j) => j,
            // The same for every request waiting on this key.
            Err(e) => return (self.failed(host, key, e, now, cap_ms), Sharing::All),
        };
        let sharing = if judged.shareable {
            Sharing::All
        } else {
            Sharing::OpenerOnly
        };
        let decision = Rc::new(judged.decision);
        let decided = now.map(|now| self.decided_at(now));
        if let (Some(decided), Some(now)) = (decided, now) {
            if self.revoked_at_landing(host, &decision, decided, now) {
                return (Outcome::Decided(decision), Sharing::OpenerOnly);
            }
        }
        if let (Some(cache), Some(now), Some(decided)) = (&self.cache, now, decided) {
            let expires = now.saturating_add(u64::from(judged.ttl_secs) * 1000);
            let expires = cap_ms.map_or(expires, |cap| expires.min(cap));
            if expires > now {
                if let Ok(mut c) = cache.try_borrow_mut() {
                    c.put_decided(*key, Rc::clone(&decision), decided, expires);
                }
                self.shared_store(host, key, &decision, decided, expires);
            }
        }
        (Outcome::Decided(decision), sharing)
    }

    /// No decision came for `key` (the callout failed, or was never dispatched): a decision that
    /// expired less than `staleIfErrorSeconds` ago beats onError (stale-if-error), except past
    /// `cap_ms` (the request's token's `exp`: a stale decision never outlives the token it was
    /// made for).
    pub fn failed(
        &self,
        host: &dyn Host,
        key: &CacheKey,
        error: CalloutError,
        now: Option<u64>,
        cap_ms: Option<u64>,
    ) -> Outcome {
        let live = |now: &u64| cap_ms.is_none_or(|cap| *now < cap);
        match now.filter(live).and_then(|now| self.stale(host, key, now)) {
            Some(d) => {
                log::debug!("{key:?}: no decision from the auth service ({}); serving the expired decision (cache.staleIfErrorSeconds)", error.cause().name());
                Outcome::Stale(d, error)
            }
            None => Outcome::Error(error),
        }
    }

    /// A decision for `key` that expired less than `staleIfErrorSeconds` ago, from either level.
    fn stale(&self, host: &dyn Host, key: &CacheKey, now: u64) -> Option<Rc<Decision>> {
        let policy = self.config.cache?;
        if policy.stale_ms == 0 {
            return None;
        }
        let cache = self.cache.as_ref()?;
        let local = cache.try_borrow_mut().ok()?.get_stale_decided(key, now);
        if let Some((d, at)) = local {
            return self.servable_or_drop(host, cache, key, d, at, now).ok();
        }
        if policy.shared_slots == 0 {
            return None;
        }
        let (bytes, _) = host
            .shared_get(&shared::slot_name(key, policy.shared_slots))
            .ok()??;
        if bytes.len() > shared::MAX_VALUE_BYTES {
            return None;
        }
        let e = shared::decode_entry(&bytes, key)?;
        let window = e.expires_ms <= now && now < e.expires_ms.saturating_add(policy.stale_ms);
        let servable = || self.servable(host, &e.decision, e.decided_ms, now) == Verdict::Serve;
        (window && servable()).then(|| Rc::new(e.decision))
    }

    fn shared_slots(&self) -> u32 {
        self.config.cache.map_or(0, |p| p.shared_slots)
    }

    /// A live decision another worker (or this one) left in the shared level; copied into this
    /// VM's cache. `Some(Err)`: one was there, but may not serve (why).
    fn shared_lookup(
        &self,
        host: &dyn Host,
        cache: &RefCell<DecisionCache<Decision>>,
        key: &CacheKey,
        now: u64,
    ) -> Option<Result<Rc<Decision>, Verdict>> {
        let slots = self.shared_slots();
        if slots == 0 {
            return None;
        }
        let (bytes, _) = host.shared_get(&shared::slot_name(key, slots)).ok()??;
        if bytes.len() > shared::MAX_VALUE_BYTES {
            return None;
        }
        let e = shared::decode(&bytes, key, now)?;
        let verdict = self.servable(host, &e.decision, e.decided_ms, now);
        if verdict != Verdict::Serve {
            return Some(Err(verdict));
        }
        let decision = Rc::new(e.decision);
        if let Ok(mut c) = cache.try_borrow_mut() {
            c.put_decided(*key, Rc::clone(&decision), e.decided_ms, e.expires_ms);
        }
        Some(Ok(decision))
    }

    /// Publishes a decision to the shared level. The slot is written only if nobody wrote it since we
    /// read it; a lost race or a host error just leaves the slot as it is.
    fn shared_store(
        &self,
        host: &dyn Host,
        key: &CacheKey,
        decision: &Decision,
        decided: u64,
        expires: u64,
    ) {
        let slots = self.shared_slots();
        if slots == 0 {
            return;
        }
        let name = shared::slot_name(key, slots);
        let cas = match host.shared_get(&name) {
            Ok(Some((_, cas))) => cas,
            Ok(None) => 0,
            Err(_) => return,
        };
        let value = shared::encode(key, expires, decided, decision);
        if value.len() <= shared::MAX_VALUE_BYTES {
            let _ = host.shared_set(&name, &value, cas);
        }
    }

    /// Counts the outcome a request ended with.
    pub fn count(&self, host: &dyn Host, outcome: &Outcome) {
        host.count(match outcome {
            Outcome::Bypass => Metric::Bypassed,
            Outcome::Decided(decision) | Outcome::Stale(decision, _) => match decision.as_ref() {
                Decision::Allow { .. } => Metric::Allowed,
                Decision::Deny { .. } => Metric::Denied,
            },
            Outcome::Error(_) => Metric::Errors,
            Outcome::BadRequest(_) | Outcome::Unauthenticated { .. } => Metric::Denied,
            Outcome::Authenticated(_) => Metric::Allowed,
        });
        match outcome {
            Outcome::BadRequest(BadRequest::DotSegment) => host.count(Metric::BadPaths),
            Outcome::Stale(..) => host.count(Metric::StaleServed),
            _ => {}
        }
        match reply::label(&self.config, outcome) {
            Label::ShadowDeny => host.count(Metric::ShadowDenied),
            Label::ShadowError => host.count(Metric::ShadowErrors),
            _ => {}
        }
    }
}

/// Whether every place a token is read from enters the decision key (a forwarded header, the
/// forwarded `cookie`, the query of a forwarded path) and every provider forwards its token.
fn tokens_in_key(config: &Config, jwt: &JwtConfig) -> bool {
    let Some(auth) = &config.auth else {
        return false;
    };
    let forwarded = |name: &str| auth.forward_headers.iter().any(|h| h == name);
    jwt.mode == JwtMode::Gate
        && jwt.providers.iter().all(|p| p.forward_token)
        && jwt.sources.iter().all(|s| match s {
            Source::Header { name, .. } => forwarded(name),
            Source::Cookie(_) => forwarded("cookie"),
            Source::Query(_) => auth.include_request_path,
        })
}

mod revoke;
#[cfg(test)]
mod tests;
