//! The token step of a request, for one configuration in one VM: find the token, judge it (from
//! the verified-token cache, else by `verify`), and say what the request does next. It owns the
//! VM's keys, its verified-token cache and its JWKS fetch state.

use super::cache::{token_key, TokenCache};
use super::config::{JwtConfig, Mode};
use super::envoy_verify::EnvoyVerify;
use super::error::JwtError;
use super::extract::{extract, removal, Extracted, Removal};
use super::fetch::{Fetch, Fetcher, KidPlan};
use super::keys::Keys;
use super::shared_tokens;
use super::signature::{RustCrypto, Unavailable};
use super::verify::{verify_with, Verified};
use crate::host::{Host, Metric};
use crate::key::CacheKey;
use crate::request::RequestHead;
use crate::tagged::TaggedHeaders;
use std::cell::RefCell;

/// Verified tokens kept per VM: a bound on entries; bytes are bounded by `TOKEN_CACHE_BYTES`.
pub const TOKEN_CACHE_ENTRIES: usize = 10_000;
pub const TOKEN_CACHE_BYTES: usize = 4 << 20;

/// What the token step decided for a request.
#[derive(Debug)]
pub enum Step {
    /// No token, and none is required: on to the auth service as before.
    NoToken,
    /// A valid token. `removal`: what to take out before the request goes upstream
    /// (`forwardToken: false`).
    Valid {
        identity: TaggedHeaders,
        exp_ms: u64,
        removal: Option<Removal>,
    },
    /// 401; `presented`: a token was there (`error="invalid_token"`).
    Rejected { presented: bool, why: &'static str },
    /// The token needs keys this VM does not have yet (`onError`).
    NoKeys,
    /// The token names an unknown `kid`: wait for the issuer's JWKS (`fetch`: dispatch it).
    AwaitKeys {
        provider: usize,
        fetch: Option<Fetch>,
    },
}

pub struct TokenChecks {
    keys: RefCell<Keys>,
    tokens: RefCell<TokenCache>,
    fetcher: RefCell<Fetcher>,
    /// Whether the host's `verify_signature` (BoringSSL, outside the VM) checks signatures.
    envoy_verify: bool,
    /// Slots of the shared level of verified tokens (0: none).
    shared_slots: u32,
}

impl TokenChecks {
    pub fn new(config: &JwtConfig, envoy_verify: bool, shared_slots: u32) -> TokenChecks {
        TokenChecks {
            keys: RefCell::new(Keys::new(config)),
            tokens: RefCell::new(TokenCache::new(TOKEN_CACHE_ENTRIES, TOKEN_CACHE_BYTES)),
            fetcher: RefCell::new(Fetcher::new(config)),
            envoy_verify,
            shared_slots,
        }
    }

    pub fn envoy_verify(&self) -> bool {
        self.envoy_verify
    }

    pub fn fetcher(&self) -> &RefCell<Fetcher> {
        &self.fetcher
    }

    pub fn keys(&self) -> &RefCell<Keys> {
        &self.keys
    }

    pub fn step(
        &self,
        host: &dyn Host,
        config: &JwtConfig,
        generation: &[u8; 32],
        req: &RequestHead<'_>,
        now_ms: u64,
    ) -> Step {
        let token = match extract(config, req) {
            Extracted::Absent => {
                return if config.mode == Mode::Authenticate || config.require_token {
                    Step::Rejected {
                        presented: false,
                        why: "no token",
                    }
                } else {
                    Step::NoToken
                };
            }
            Extracted::Invalid(e) => return rejected(e),
            Extracted::Token(t) => t,
        };
        let key = token_key(generation, &token);
        let mut recheck = true;
        loop {
            // The keys are only borrowed mutably for a fetch's landing, never during a step.
            let Ok(generation_now) = self.keys.try_borrow().map(|k| k.generation()) else {
                return Step::NoKeys;
            };
            let cached = self
                .tokens
                .try_borrow_mut()
                .ok()
                .and_then(|mut c| c.get(&key, now_ms, generation_now));
            let verdict = match cached {
                Some(v) => {
                    host.count(Metric::JwtCacheHits);
                    v
                }
                None => {
                    let shared_key = self
                        .keys
                        .try_borrow()
                        .ok()
                        .filter(|_| self.shared_slots > 0)
                        .map(|keys| shared_tokens::key(generation, keys.fingerprint(), &token));
                    let from_shared = shared_key.and_then(|k| self.shared_get(host, &k, now_ms));
                    let v = match from_shared {
                        Some(v) => {
                            host.count(Metric::JwtCacheHits);
                            Ok(v)
                        }
                        None => {
                            let v = self.verify(host, config, &token, now_ms);
                            if !matches!(v, Err(JwtError::UnknownKid { .. })) {
                                host.count(Metric::JwtVerified);
                            }
                            if let (Ok(verified), Some(k)) = (&v, shared_key) {
                                self.shared_put(host, config, &k, verified, now_ms);
                            }
                            v
                        }
                    };
                    if let Ok(mut c) = self.tokens.try_borrow_mut() {
                        c.put(config, key, &v, generation_now, now_ms);
                    }
                    v
                }
            };
            return match verdict {
                Ok(Verified {
                    provider,
                    identity,
                    exp,
                }) => {
                    let removal = config
                        .providers
                        .get(provider)
                        .filter(|p| !p.forward_token)
                        .map(|_| removal(config, req, &token));
                    Step::Valid {
                        identity,
                        exp_ms: exp.saturating_mul(1000),
                        removal,
                    }
                }
                Err(JwtError::UnknownKid { provider }) => {
                    let plan = match (self.fetcher.try_borrow_mut(), self.keys.try_borrow_mut()) {
                        (Ok(mut f), Ok(mut k)) => f.unknown_kid(host, &mut k, provider, now_ms),
                        _ => KidPlan::Unknown,
                    };
                    match plan {
                        KidPlan::Recheck if recheck => {
                            recheck = false;
                            continue;
                        }
                        KidPlan::Recheck | KidPlan::Unknown => {
                            rejected(JwtError::UnknownKid { provider })
                        }
                        KidPlan::Wait(fetch) => Step::AwaitKeys { provider, fetch },
                    }
                }
                Err(JwtError::KeysMissing { provider }) if recheck => {
                    recheck = false;
                    let adopted = match (self.fetcher.try_borrow_mut(), self.keys.try_borrow_mut())
                    {
                        (Ok(mut f), Ok(mut k)) => f.adopt_now(host, &mut k, provider),
                        _ => false,
                    };
                    if adopted {
                        continue;
                    }
                    log::debug!("token not checked: {}", JwtError::KeysMissing { provider });
                    Step::NoKeys
                }
                Err(e) if e.is_own_failure() => {
                    log::debug!("token not checked: {e}");
                    Step::NoKeys
                }
                Err(e) => rejected(e),
            };
        }
    }

    /// A token another VM (or this one) verified with the same keys, still live.
    fn shared_get(&self, host: &dyn Host, key: &CacheKey, now_ms: u64) -> Option<Verified> {
        let (bytes, _) = host
            .shared_get(&shared_tokens::slot_name(key, self.shared_slots))
            .ok()??;
        shared_tokens::decode(&bytes, key, now_ms).map(|(v, _)| v)
    }

    /// Publishes a verified token; a lost race or a host error leaves the slot as it is.
    fn shared_put(
        &self,
        host: &dyn Host,
        config: &JwtConfig,
        key: &CacheKey,
        v: &Verified,
        now_ms: u64,
    ) {
        let skew = config
            .providers
            .get(v.provider)
            .map_or(0, |p| u64::from(p.clock_skew_secs));
        let expires = v.exp.saturating_add(skew).saturating_mul(1000);
        if expires <= now_ms {
            return;
        }
        let name = shared_tokens::slot_name(key, self.shared_slots);
        let cas = match host.shared_get(&name) {
            Ok(Some((_, cas))) => cas,
            Ok(None) => 0,
            Err(_) => return,
        };
        if let Some(value) = shared_tokens::encode(key, expires, v) {
            let _ = host.shared_set(&name, &value, cas);
        }
    }

    fn verify(
        &self,
        host: &dyn Host,
        config: &JwtConfig,
        token: &super::extract::Token<'_>,
        now_ms: u64,
    ) -> Result<Verified, JwtError> {
        let Ok(keys) = self.keys.try_borrow() else {
            return Err(JwtError::CheckUnavailable);
        };
        let now = now_ms / 1000;
        if self.envoy_verify {
            let checker = EnvoyVerify(|args: &[u8]| {
                host.call_foreign(super::envoy_verify::FUNCTION, args)
                    .map_err(|_| Unavailable)
            });
            verify_with(config, &keys, token, now, &checker)
        } else {
            verify_with(config, &keys, token, now, &RustCrypto)
        }
    }
}

fn rejected(e: JwtError) -> Step {
    log::debug!("token refused: {e}");
    Step::Rejected {
        presented: true,
        why: e.reason(),
    }
}

#[cfg(test)]
mod tests;
