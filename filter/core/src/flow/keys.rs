//! The gate's side of JWKS fetches: a fetch to dispatch from the root context, its answer, the
//! tick, and the requests that wait for keys (a token with an unknown `kid`).

use super::{Ctx, Gate, Token};
use crate::engine::Authorizer;
use crate::host::Host;
use crate::jwt::config::Jwks;
use crate::jwt::fetch::Why;
use std::rc::Rc;

/// A JWKS fetch to dispatch from the root context.
pub struct KeyFetch {
    pub(super) authz: Rc<Authorizer>,
    pub provider: usize,
    pub why: Why,
}

/// The HTTP call of a JWKS fetch.
pub struct FetchRequest<'a> {
    pub cluster: &'a str,
    pub timeout_ms: u32,
    pub headers: Vec<(&'a str, &'a [u8])>,
}

impl KeyFetch {
    pub fn request(&self) -> Option<FetchRequest<'_>> {
        let remote = self
            .authz
            .config()
            .jwt
            .as_ref()?
            .providers
            .get(self.provider)?;
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
}

/// A JWKS fetch landed: the requests to run again (through `request_headers`) now.
pub struct KeysLanded {
    pub rerun: Vec<Rerun>,
}

/// A request to run again through `request_headers`, with what the host told of it at first
/// (whether its headers ended the stream), which a second read of its headers cannot tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rerun {
    pub ctx: Ctx,
    pub headers_only: bool,
}

/// A request waiting for a provider's keys.
pub(super) struct KeyWaiter {
    pub(super) rerun: Rerun,
    pub(super) provider: usize,
}

impl Gate {
    /// The JWKS fetch was dispatched (`Ok(token)`) or refused. A refused one leaves its waiters
    /// to the next tick, which decides them on the keys there are.
    pub fn keys_dispatched(&mut self, fetch: KeyFetch, result: Result<Token, String>) {
        let provider = fetch.provider;
        if let Some(checks) = fetch.authz.tokens() {
            if let Ok(mut f) = checks.fetcher().try_borrow_mut() {
                f.dispatched(provider, result.is_ok());
            }
        }
        match result {
            Ok(token) => {
                self.key_fetches.insert(token, (fetch.authz, provider));
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

    pub fn is_key_fetch(&self, token: Token) -> bool {
        self.key_fetches.contains_key(&token)
    }

    /// A JWKS fetch landed (`Ok(body)` for a 200, else why not): keys updated, its waiters to run.
    pub fn keys_answered(
        &mut self,
        host: &dyn Host,
        token: Token,
        body: Result<&[u8], String>,
    ) -> Option<KeysLanded> {
        let (authz, provider) = self.key_fetches.remove(&token)?;
        let checks = authz.tokens()?;
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
        Some(KeysLanded {
            rerun: self.take_key_waiters(|p| p == provider),
        })
    }

    /// The tick: JWKS fetches due (dispatch each, then `keys_dispatched`), and the requests whose
    /// keys another VM was fetching, to run again on what the shared record holds now.
    pub fn tick(&mut self, host: &dyn Host) -> (Vec<KeyFetch>, Vec<Rerun>) {
        let Some(authz) = self.authz.clone() else {
            return (Vec::new(), Vec::new());
        };
        let Some(checks) = authz.tokens() else {
            return (Vec::new(), Vec::new());
        };
        let Ok(now) = host.now_ms() else {
            return (Vec::new(), Vec::new());
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
            _ => return (Vec::new(), Vec::new()),
        };
        let fetches = due
            .into_iter()
            .map(|f| KeyFetch {
                authz: Rc::clone(&authz),
                provider: f.provider,
                why: f.why,
            })
            .collect();
        let rerun = self.take_key_waiters(|p| idle.contains(&p));
        (fetches, rerun)
    }

    fn take_key_waiters(&mut self, pick: impl Fn(usize) -> bool) -> Vec<Rerun> {
        let mut out = Vec::new();
        self.key_waiters.retain(|w| {
            let take = pick(w.provider);
            if take {
                out.push(w.rerun);
            }
            !take
        });
        out
    }
}
