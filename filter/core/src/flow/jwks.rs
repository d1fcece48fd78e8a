//! JWKS fetches, from the root context: when one is due (the tick, or a token with an unknown
//! `kid`), its answer, and the requests that wait for keys, decided again when they come.

use super::event::Pairs;
use super::{Action, CallId, Ctx, Flow, Gauges, JwksFetch, Output, Waits};
use crate::config::Config;
use crate::host::Host;
use crate::jwt::config::Jwks;
use crate::jwt::fetch;
use std::rc::Rc;

/// The HTTP call of a JWKS fetch.
pub struct FetchRequest<'a> {
    pub cluster: &'a str,
    pub timeout_ms: u32,
    pub headers: Vec<(&'a str, &'a [u8])>,
}

pub(super) fn request(config: &Config, provider: usize) -> Option<FetchRequest<'_>> {
    let remote = config.jwt.as_ref()?.providers.get(provider)?;
    let Jwks::Remote(r) = &remote.jwks else {
        return None;
    };
    let headers = vec![
        (":method", b"GET".as_slice()),
        (":path", r.path.as_bytes()),
        (":authority", r.authority.as_bytes()),
        ("accept", b"application/json"),
    ];
    Some(FetchRequest {
        cluster: r.cluster.as_str(),
        timeout_ms: r.timeout_ms,
        headers,
    })
}

impl Flow {
    /// The JWKS fetch was dispatched or refused. A refused one leaves its waiters to the next
    /// tick, which decides them on the keys there are.
    pub(super) fn jwks_dispatched(&mut self, fetch: JwksFetch, result: Result<CallId, String>) {
        let provider = fetch.provider;
        if let Some(checks) = fetch.authz.tokens() {
            if let Ok(mut f) = checks.fetcher().try_borrow_mut() {
                f.dispatched(provider, result.is_ok());
            }
        }
        match result {
            Ok(call) => {
                self.jwks_fetches.insert(call, (fetch.authz, provider));
            }
            Err(s) => {
                let cluster = fetch
                    .request()
                    .map(|r| r.cluster.to_string())
                    .unwrap_or_default();
                log::warn!("JWKS fetch for provider {provider} not dispatched ({s}): check that cluster '{cluster}' exists in Envoy's configuration");
            }
        }
    }

    /// A JWKS answer's headers: its body is read only for a 200 (the core says which answers
    /// are a document).
    pub(super) fn jwks_head(
        &mut self,
        host: &dyn Host,
        out: &mut Output<'_>,
        call: CallId,
        headers: Option<Pairs<'_>>,
        body_size: usize,
    ) {
        let status = match super::event::fetch_status(headers) {
            Ok(status) => status,
            Err(why) => return self.jwks_landed(host, out, call, Err(why)),
        };
        match fetch::body_to_read(status, body_size) {
            Ok(bytes) => out.actions.push(Action::ReadBody {
                bytes: bytes.max(1),
            }),
            Err(why) => self.jwks_landed(host, out, call, Err(why)),
        }
    }

    /// A JWKS fetch landed (`Ok(body)` for a 200, else why not): keys updated, its waiters
    /// decided again.
    pub(super) fn jwks_landed(
        &mut self,
        host: &dyn Host,
        out: &mut Output<'_>,
        call: CallId,
        body: Result<&[u8], String>,
    ) {
        let Some((authz, provider)) = self.jwks_fetches.remove(&call) else {
            return;
        };
        let Some(checks) = authz.tokens() else {
            return;
        };
        let now = host.now_ms().unwrap_or(0);
        let result = match (
            checks.fetcher().try_borrow_mut(),
            checks.keys().try_borrow_mut(),
        ) {
            (Ok(mut f), Ok(mut k)) => f.landed(host, &mut k, provider, body, now),
            _ => Err("state busy".to_string()),
        };
        let config = authz
            .config()
            .jwt
            .as_ref()
            .and_then(|j| j.providers.get(provider));
        let name = config.map_or("?", |p| p.name.as_str());
        // Keys none of the accepted algorithms fit (an issuer signing with EdDSA or PS*, which
        // must be listed) would answer 401 to every token of the issuer without saying why.
        let usable = match (config, checks.keys().try_borrow()) {
            (Some(p), Ok(keys)) => keys.get(provider).is_some_and(|set| {
                p.algorithms
                    .iter()
                    .any(|a| set.fitting(*a).next().is_some())
            }),
            _ => true,
        };
        match result {
            Ok(true) if !usable => log::warn!("JWKS of provider '{name}' fetched, but none of its keys fits the provider's algorithms: every token of it gets 401; list in algorithms the ones its keys use (PS256/384/512 and EdDSA are accepted only when listed)"),
            Ok(true) => log::info!("JWKS of provider '{name}' fetched: new keys in use"),
            Ok(false) => log::debug!("JWKS of provider '{name}' fetched: unchanged"),
            Err(why) => log::warn!("JWKS fetch for provider '{name}' failed ({why}): the last good keys stay in use; tokens that need keys it never had get onError"),
        }
        self.reread_jwks_waiters(out, |p| p == provider);
    }

    /// The tick (and a new configuration): JWKS fetches and the feed read due, the requests whose keys another VM
    /// was fetching (decided again on what the shared record holds now), and the gauges.
    pub(super) fn tick(&mut self, host: &dyn Host, out: &mut Output<'_>, gauges: bool) {
        self.jwks_tick(host, out);
        self.feed_tick(host, out);
        if gauges {
            out.actions.push(Action::Gauges(Gauges {
                cache_entries: self.cached_entries(),
                in_flight: self.flights.in_flight(),
                waiting: self.flights.waiting(),
                revocation_lag_ms: self.revocation_lag_ms(host),
            }));
        }
    }

    fn jwks_tick(&mut self, host: &dyn Host, out: &mut Output<'_>) {
        let Some(authz) = self.authz.clone() else {
            return;
        };
        let Some(checks) = authz.tokens() else {
            return;
        };
        let Ok(now) = host.now_ms() else {
            return;
        };
        let (due, idle) = match (
            checks.fetcher().try_borrow_mut(),
            checks.keys().try_borrow_mut(),
        ) {
            (Ok(mut f), Ok(mut k)) => {
                let due = f.tick(host, &mut k, now);
                let idle = f.idle_providers();
                (due, idle)
            }
            _ => return,
        };
        for f in due {
            out.actions.push(Action::FetchJwks(JwksFetch {
                authz: Rc::clone(&authz),
                provider: f.provider,
            }));
        }
        self.reread_jwks_waiters(out, |p| idle.contains(&p));
    }

    /// The requests waiting for the JWKS of a provider `pick` chooses read their headers again.
    fn reread_jwks_waiters(&mut self, out: &mut Output<'_>, pick: impl Fn(usize) -> bool) {
        let mut ready: Vec<Ctx> = self
            .requests
            .iter()
            .filter(|(_, held)| {
                matches!(held.waits, Some(Waits::Jwks { provider, .. }) if pick(provider))
            })
            .map(|(ctx, _)| *ctx)
            .collect();
        // In arrival order (context ids grow), as they queued.
        ready.sort_unstable();
        out.actions
            .extend(ready.into_iter().map(|ctx| Action::ReadHeaders { ctx }));
    }
}
