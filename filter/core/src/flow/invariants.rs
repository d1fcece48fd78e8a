//! The flow's promises, checked after every step of random interleavings: requests (credentials,
//! paths, tokens with various `exp`, bypassed and not, forged identity spellings), dispatches
//! accepted or refused, answers (allow, deny, made for one client, short `max-age`, 5xx, timeouts,
//! malformed), requests that go away at any point, JWKS fetches landing or failing, and the clock.
//! The test adapter (`drive.rs`) carries out what the flow says, as the real adapter does; the
//! checks look at every conclusion it carried out.
//!
//! 1. nothing continues upstream without a decision (allow, bypass, a configured fail-open, shadow);
//! 2. identity on a continued request comes only from an allow made for that request's key, or
//!    from its own verified token in authenticate mode; a forged spelling is always stripped;
//! 3. no decision is served for a token after its `exp`, from either cache level or a flight;
//! 4. an answer made for one client is never given to another request;
//! 5. once every request is gone and every callout answered, nothing is left waiting;
//! 6. no order of events panics (a panic fails the property);
//! 7. no decision for a revoked subject made before the revocation is served after the feed's
//!    answer applied it (nor one made before a flush), from either cache level or a flight; only
//!    the request whose own callout it answered gets it.
//!
//! The auth service's feed answers the reads the flow makes at random points: a revocation of a
//! subject any callout so far minted (in flight ones included), a flush, nothing new, or a
//! failure (a read Envoy ends at its timeout fails too).
//!
//! `FLOW_CASES` sets the number of cases (`make test`: the default; `make fuzz`: many more).

use super::drive::{pairs, Driver, Owned};
use super::*;
use crate::config::{Config, ErrorPolicy};
use crate::decision::{Cause, Decision};
use crate::host::fake::FakeHost;
use crate::jwt::testing::{claims, ec, forge, jwks, rsa, sign, two_providers, NOW};
use crate::Outcome;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::OnceLock;

/// The configurations the flow runs under: gate mode with decisions served before the token
/// checks, gate mode with the token checked first and fail-open for missing keys, no cache with
/// fail-open everywhere in shadow mode, authenticate mode, and the first one asking its auth
/// service with gRPC (clients from two addresses, which the key must tell apart).
fn config(which: usize) -> Config {
    let auth = |forward: Value| json!({"cluster": "auth", "authority": "a", "forwardHeaders": forward, "timeoutMs": 200});
    let identity = json!(["x-user-id", "x-user-roles", "x-tenant-id"]);
    let cache = json!({"allowTtlSeconds": 60, "denyTtlSeconds": 5, "staleIfErrorSeconds": 30});
    let revocation = json!({"subjectHeader": "x-user-id", "intervalMs": 1000, "timeoutMs": 300, "maxStaleSeconds": 60});
    let text = match which % CONFIGS {
        0 => json!({
            "authService": auth(json!(["authorization", "cookie"])),
            "identityHeaders": identity, "cache": cache,
            "bypass": [{"pathPrefix": "/healthz"}, {"corsPreflight": true}],
            "jwt": two_providers("gate"), "revocation": revocation,
        }),
        1 => json!({
            "authService": auth(json!(["authorization"])),
            "identityHeaders": identity, "cache": cache,
            "onError": {"mode": "deny", "jwks": {"mode": "allow"}, "timeout": {"mode": "allow"}},
            "jwt": two_providers("gate"), "revocation": revocation,
        }),
        2 => json!({
            "authService": auth(json!(["authorization", "cookie"])),
            "identityHeaders": identity, "cache": {"enabled": false},
            "mode": "shadow", "onError": {"mode": "allow"},
            "bypass": [{"pathPrefix": "/healthz"}],
        }),
        3 => json!({"identityHeaders": identity, "jwt": two_providers("authenticate")}),
        _ => {
            let mut a = auth(json!(["authorization", "cookie"]));
            a["protocol"] = json!("grpc");
            json!({
                "authService": a,
                "identityHeaders": identity, "cache": cache,
                "bypass": [{"pathPrefix": "/healthz"}, {"corsPreflight": true}],
                "jwt": two_providers("gate"),
            })
        }
    };
    Config::parse(text.to_string().as_bytes()).unwrap()
}

const CONFIGS: usize = 5;

/// A token in the pool: its value, its `exp` (seconds), and whether it verifies (once its keys
/// are there).
struct PoolToken {
    value: String,
    exp: u64,
    sub: &'static str,
}

/// Tokens: long-lived, short-lived (expiring within a case), expired, forged (bad signature), and
/// the `other` provider's (its keys come from a remote JWKS the case may or may not fetch).
fn tokens() -> &'static [PoolToken] {
    static POOL: OnceLock<Vec<PoolToken>> = OnceLock::new();
    POOL.get_or_init(|| {
        let corp = |sub: &'static str, exp: u64| PoolToken {
            value: sign(rsa(), &claims(json!({"sub": sub, "exp": exp}))),
            exp,
            sub,
        };
        let forged = forge(
            &json!({"alg": "RS256", "kid": "rsa-1"}),
            &claims(json!({"sub": "admin"})),
            &[7; 256],
        );
        let other_claims = claims(
            json!({"iss": "https://other.example.com", "aud": null, "sub": "carol", "exp": NOW + 40}),
        );
        vec![
            corp("alice", NOW + 3_600),
            corp("bob", NOW + 20),
            corp("dave", NOW - 120),
            PoolToken {
                value: forged,
                exp: NOW + 600,
                sub: "admin",
            },
            PoolToken {
                value: sign(ec(2), &other_claims),
                exp: NOW + 40,
                sub: "carol",
            },
        ]
    })
}

/// `authService.timeoutMs` of the configurations.
const TIMEOUT_MS: u64 = 200;

/// The clock skew both providers of `two_providers` allow.
const SKEW_SECS: u64 = 60;

/// The `other` provider's JWKS, as its issuer serves it.
fn other_jwks() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| jwks(&[ec(2)]))
}

#[derive(Debug, Clone)]
struct Shape {
    path: u8,
    credential: u8,
    forged_identity: bool,
    /// A body follows the headers (a preflight-shaped request with one is no preflight).
    body: bool,
    /// The client's address (`source.address`): one of two.
    peer: bool,
}

fn request(shape: &Shape) -> Vec<(String, Vec<u8>)> {
    let path = match shape.path % 5 {
        0 | 1 => "/orders",
        2 => "/healthz/live",
        3 => "/a/../admin",
        _ => "/api",
    };
    let method = if shape.path % 5 == 4 {
        "OPTIONS"
    } else {
        "GET"
    };
    let mut h = vec![
        (":method".to_string(), method.as_bytes().to_vec()),
        (":path".to_string(), path.as_bytes().to_vec()),
        (":authority".to_string(), b"app".to_vec()),
    ];
    if method == "OPTIONS" {
        h.push(("origin".into(), b"https://app.example".to_vec()));
        h.push(("access-control-request-method".into(), b"DELETE".to_vec()));
    }
    let bearer = |v: &str| {
        (
            "authorization".to_string(),
            format!("Bearer {v}").into_bytes(),
        )
    };
    match shape.credential % 8 {
        0 => {}
        1 => h.push(bearer("key-1")),
        2 => h.push(bearer("key-2")),
        n => {
            let t = tokens()
                .get(usize::from(n) - 3)
                .map_or("", |t| t.value.as_str());
            h.push(bearer(t));
        }
    }
    if shape.forged_identity {
        h.push(("X-User-Id".into(), b"mallory".to_vec()));
        h.push(("x_tenant_id".into(), b"evil".to_vec()));
    }
    h
}

/// What the auth service answers.
#[derive(Debug, Clone, Copy)]
enum Reply {
    Allow,
    AllowForOne,
    AllowBriefly,
    Deny,
    DenyForOne,
    ServerError,
    Timeout,
    Malformed,
}

#[derive(Debug, Clone)]
enum Step {
    Arrive {
        shape: Shape,
        refuse: bool,
    },
    Answer {
        pick: usize,
        reply: Reply,
    },
    Gone {
        pick: usize,
    },
    Advance {
        ms: u64,
    },
    Tick,
    Keys {
        pick: usize,
        ok: bool,
    },
    /// The feed read in flight (if any) is answered.
    Feed {
        pick: usize,
        page: Page,
    },
}

/// What the auth service's revocation feed answers.
#[derive(Debug, Clone, Copy)]
enum Page {
    Revoke,
    Flush,
    Unchanged,
    Fail,
}

fn step() -> impl Strategy<Value = Step> {
    // Few credentials, mostly the short-lived token: requests meet on one key and its exp.
    let credential = prop_oneof![
        1 => 0u8..3,
        1 => 3u8..8,
        2 => Just(4u8),
    ];
    let path = prop_oneof![3 => Just(0u8), 1 => 1u8..5];
    let shape = (
        path,
        credential,
        any::<bool>(),
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.3),
    )
        .prop_map(|(path, credential, forged_identity, body, peer)| Shape {
            path,
            credential,
            forged_identity,
            body,
            peer,
        });
    let reply = prop_oneof![
        3 => Just(Reply::Allow),
        2 => Just(Reply::AllowForOne),
        1 => Just(Reply::AllowBriefly),
        2 => Just(Reply::Deny),
        1 => Just(Reply::DenyForOne),
        1 => Just(Reply::ServerError),
        1 => Just(Reply::Timeout),
        1 => Just(Reply::Malformed),
    ];
    let page = prop_oneof![
        4 => Just(Page::Revoke),
        1 => Just(Page::Flush),
        1 => Just(Page::Unchanged),
        1 => Just(Page::Fail),
    ];
    prop_oneof![
        6 => (shape, prop::bool::weighted(0.1)).prop_map(|(shape, refuse)| Step::Arrive { shape, refuse }),
        5 => (any::<usize>(), reply).prop_map(|(pick, reply)| Step::Answer { pick, reply }),
        2 => any::<usize>().prop_map(|pick| Step::Gone { pick }),
        2 => prop_oneof![Just(500u64), Just(2_000), Just(15_000), Just(45_000)]
            .prop_map(|ms| Step::Advance { ms }),
        1 => Just(Step::Tick),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(pick, ok)| Step::Keys { pick, ok }),
        2 => (any::<usize>(), page).prop_map(|(pick, page)| Step::Feed { pick, page }),
    ]
}

/// A callout as the test's auth service sees it.
struct Call {
    /// The request it was made for, and that request's key.
    opener: Ctx,
    key: Option<crate::key::CacheKey>,
    started_ms: u64,
}

struct Live {
    headers: Owned,
    /// The key of the configuration the request arrived under (`None`: a bad request).
    key: Option<crate::key::CacheKey>,
    body: bool,
}

/// The flow under the test adapter, with the checks of every promise.
struct Sim {
    which: usize,
    d: Driver,
    live: BTreeMap<Ctx, Live>,
    calls: BTreeMap<CallId, Call>,
    /// Every identity value an allow minted, with the key of the callout that asked.
    origins: HashMap<Vec<u8>, Option<crate::key::CacheKey>>,
    /// The identity values minted by answers made for one client.
    for_one: HashSet<Vec<u8>>,
    /// Conclusions already checked.
    checked: usize,
    next_ctx: Ctx,
    /// When the service made each minted identity's decision: at its callout's dispatch (the
    /// earliest it can; the answer may come later).
    made: HashMap<Vec<u8>, u64>,
    /// Every subject a callout minted or will mint (`u<call>`), in order.
    subjects: Vec<Vec<u8>>,
    /// When the feed's answer applied a revocation of each subject, and the last flush.
    revoked: HashMap<Vec<u8>, u64>,
    flushed: Option<u64>,
    cursor: u32,
    /// The answer being delivered: its opener and the identity it minted, which that opener
    /// alone may get whatever was revoked since.
    landing: Option<(Ctx, Vec<u8>)>,
}

impl Sim {
    fn new(which: usize) -> Sim {
        let host = FakeHost::default();
        host.now.set(NOW * 1000);
        Sim {
            which,
            d: Driver::with(Authorizer::new(config(which)), host),
            live: BTreeMap::new(),
            calls: BTreeMap::new(),
            origins: HashMap::new(),
            for_one: HashSet::new(),
            checked: 0,
            next_ctx: 100,
            made: HashMap::new(),
            subjects: Vec::new(),
            revoked: HashMap::new(),
            flushed: None,
            cursor: 0,
            landing: None,
        }
    }

    fn now(&self) -> u64 {
        self.d.host.now.get()
    }

    fn run(&mut self, step: &Step) {
        match step {
            Step::Arrive { shape, refuse } => {
                let ctx = self.next_ctx;
                self.next_ctx += 1;
                let headers = request(shape);
                let h = pairs(&headers);
                let head = crate::request::RequestHead::new(&h);
                let peer: &[u8] = if shape.peer {
                    b"10.0.0.2:5000"
                } else {
                    b"10.0.0.1:4000"
                };
                self.d.peers.insert(ctx, peer.to_vec());
                self.d
                    .host
                    .properties
                    .borrow_mut()
                    .insert("source.address".into(), peer.to_vec());
                let key = self
                    .d
                    .flow
                    .authz
                    .as_ref()
                    .and_then(|a| a.walk(&self.d.host, &head).ok().map(|w| w.key));
                self.live.insert(
                    ctx,
                    Live {
                        headers: headers.clone(),
                        key,
                        body: shape.body,
                    },
                );
                if *refuse {
                    self.d.refuse = Some("unknown cluster".into());
                }
                self.d.arrive(ctx, &h, !shape.body);
                self.d.refuse = None;
                // 2: every spelling of a configured identity header the client sent is stripped.
                if let Some(now) = self.d.heads.get(&ctx) {
                    for forged in ["X-User-Id", "x_tenant_id"] {
                        assert!(
                            !now.iter().any(|(n, _)| n == forged),
                            "{forged} not stripped"
                        );
                    }
                }
                self.settle(None);
            }
            Step::Answer { pick, reply } => {
                let Some(call) = self
                    .calls
                    .keys()
                    .nth(pick % self.calls.len().max(1))
                    .copied()
                else {
                    return;
                };
                self.answer(call, *reply);
            }
            Step::Gone { pick } => {
                let Some(ctx) = self.live.keys().nth(pick % self.live.len().max(1)).copied() else {
                    return;
                };
                self.live.remove(&ctx);
                self.d.gone(ctx);
            }
            Step::Advance { ms } => {
                self.d.host.now.set(self.now() + ms);
                // Envoy ends every callout within its timeout: whatever is older now timed out.
                let late: Vec<CallId> = self
                    .calls
                    .iter()
                    .filter(|(_, c)| self.now() >= c.started_ms + TIMEOUT_MS)
                    .map(|(t, _)| *t)
                    .collect();
                for t in late {
                    self.answer(t, Reply::Timeout);
                }
                while !self.d.jwks_calls.is_empty() {
                    self.run(&Step::Keys { pick: 0, ok: false });
                }
                // A feed read ends at its timeout (under the shortest step) too.
                while !self.d.feed_calls.is_empty() {
                    self.run(&Step::Feed {
                        pick: 0,
                        page: Page::Fail,
                    });
                }
            }
            Step::Feed { pick, page } => self.feed(*pick, *page),
            Step::Tick => {
                self.d.tick();
                self.settle(None);
            }
            Step::Keys { pick, ok } => {
                if self.d.jwks_calls.is_empty() {
                    return;
                }
                let call = self.d.jwks_calls[pick % self.d.jwks_calls.len()];
                if *ok {
                    self.d
                        .answer(call, &[(":status", b"200")], other_jwks().as_bytes());
                } else {
                    self.d.answer(call, &[(":status", b"503")], b"");
                }
                self.settle(None);
            }
        }
    }

    fn feed(&mut self, pick: usize, page: Page) {
        let Some((call, _)) = self.d.feed_calls.first().cloned() else {
            return;
        };
        self.cursor += 1;
        let cursor = self.cursor;
        let subject =
            (!self.subjects.is_empty()).then(|| self.subjects[pick % self.subjects.len()].clone());
        let body = match (page, &subject) {
            (Page::Revoke, Some(s)) => json!({"version": 1, "cursor": format!("c{cursor}"),
                "revocations": [{"subject": String::from_utf8_lossy(s)}]}),
            (Page::Flush, _) => {
                json!({"version": 1, "cursor": format!("c{cursor}"), "flush": true})
            }
            (Page::Revoke | Page::Unchanged, _) => json!({"version": 1, "cursor": "c0"}),
            (Page::Fail, _) => Value::Null,
        };
        if matches!(page, Page::Fail) {
            self.d.answer(call, &[(":status", b"503")], b"");
        } else {
            self.d
                .answer(call, &[(":status", b"200")], body.to_string().as_bytes());
            let now = self.now();
            match (page, subject) {
                (Page::Revoke, Some(s)) => {
                    self.revoked.insert(s, now);
                }
                (Page::Flush, _) => self.flushed = Some(now),
                _ => {}
            }
        }
        self.settle(None);
    }

    fn answer(&mut self, call: CallId, reply: Reply) {
        let minted = format!("u{call}").into_bytes();
        let mut headers: Vec<(&str, &[u8])> = Vec::new();
        let for_one = matches!(reply, Reply::AllowForOne | Reply::DenyForOne);
        match reply {
            Reply::Allow | Reply::AllowForOne | Reply::AllowBriefly => {
                headers.push((":status", b"200"));
                headers.push(("x-user-id", &minted));
                match reply {
                    Reply::AllowForOne => headers.push(("set-cookie", b"session=1")),
                    Reply::AllowBriefly => headers.push(("cache-control", b"max-age=1")),
                    _ => {}
                }
            }
            Reply::Deny | Reply::DenyForOne => {
                headers.push((":status", b"401"));
                if for_one {
                    headers.push(("cache-control", b"private"));
                }
            }
            Reply::ServerError => {
                headers.push((":status", b"503"));
                headers.push(("x-envoy-upstream-service-time", b"1"));
            }
            // Envoy's own 504 without the upstream's service time: its timeout.
            Reply::Timeout => headers.push((":status", b"504")),
            Reply::Malformed => headers.push((":status", b"abc")),
        }
        let Some(c) = self.calls.remove(&call) else {
            panic!("an answer for a callout never made")
        };
        self.origins.insert(minted.clone(), c.key);
        self.made.insert(minted.clone(), c.started_ms);
        if for_one {
            self.for_one.insert(minted.clone());
        }
        self.landing = Some((c.opener, minted.clone()));
        match self.d.calls.get(&call).map(|s| s.grpc.is_some()) {
            Some(true) => {
                let (message, code, status) = grpc_reply(reply, &minted);
                self.d.grpc_answer(call, message.as_deref(), code, status);
            }
            _ => self.d.answer(call, &headers, b""),
        }
        self.settle(Some((c.opener, for_one)));
        self.landing = None;
    }

    /// After a step: new callouts are noted, and every new conclusion checked. `answered`: the
    /// step was an answer to a callout for this opener (made for it alone: `true`).
    fn settle(&mut self, answered: Option<(Ctx, bool)>) {
        let known = self.calls.keys().next_back().copied().unwrap_or(0);
        let new: Vec<(CallId, Ctx)> = self
            .d
            .calls
            .iter()
            .filter(|(id, _)| **id > known && !self.calls.contains_key(id))
            .map(|(id, s)| (*id, s.ctx))
            .collect();
        for (id, ctx) in new {
            let key = self.live.get(&ctx).and_then(|l| l.key);
            let started_ms = self.now();
            self.subjects.push(format!("u{id}").into_bytes());
            self.calls.insert(
                id,
                Call {
                    opener: ctx,
                    key,
                    started_ms,
                },
            );
        }
        // The driver's record of callouts is the flow's: those answered are gone from both.
        self.calls.retain(|id, _| self.d.calls.contains_key(id));
        while self.checked < self.d.concluded.len() {
            let i = self.checked;
            self.checked += 1;
            let (ctx, outcome) = {
                let c = &self.d.concluded[i];
                (c.ctx, c.outcome.clone())
            };
            // 4: an answer made for one client goes to that client alone.
            if let (Some((opener, true)), Outcome::Decided(_), false) =
                (answered, &outcome, self.d.concluded[i].cached)
            {
                assert_eq!(ctx, opener, "an answer made for {opener} went to {ctx}");
            }
            self.check(i);
        }
    }

    /// Every promise about what reaches the upstream, for the `i`th conclusion.
    fn check(&mut self, i: usize) {
        let c = &self.d.concluded[i];
        let ctx = c.ctx;
        let Some(live) = self.live.get(&ctx) else {
            panic!("concluded for request {ctx}, which is gone")
        };
        let key = live.key;
        let outcome = &c.outcome;
        let at_arrival = c.cached;
        // 1 again: a bypass is only for what its rule names; a body makes no preflight.
        let options = live
            .headers
            .iter()
            .any(|(n, v)| n == ":method" && v == b"OPTIONS");
        assert!(
            !(live.body && options && matches!(outcome, Outcome::Bypass)),
            "a preflight-shaped request carrying a body was bypassed"
        );
        let now = self.now();
        let config = c.authz.config();
        // 3: no decision served for a token past its exp.
        let bearer = live
            .headers
            .iter()
            .find(|(n, _)| n == "authorization")
            .and_then(|(_, v)| v.strip_prefix(b"Bearer "));
        let token = bearer.and_then(|b| tokens().iter().find(|t| t.value.as_bytes() == b));
        // A fresh decision may come within the provider's clock skew; one from a cache never
        // past `exp` itself.
        let skew_ms = SKEW_SECS * 1000;
        if let (Some(t), Some(_), Outcome::Decided(_) | Outcome::Stale(..)) =
            (token, &config.jwt, outcome)
        {
            let limit = if at_arrival || matches!(outcome, Outcome::Stale(..)) {
                t.exp * 1000
            } else {
                t.exp * 1000 + skew_ms
            };
            assert!(
                now < limit,
                "a decision served for {}'s token {} ms past its exp (from a cache: {at_arrival})",
                t.sub,
                now.saturating_sub(t.exp * 1000)
            );
        }
        let Some(identity) = &c.identity else {
            return;
        };
        // 7: nothing made before a revocation of its subject, or a flush, served after it.
        if let Outcome::Decided(_) | Outcome::Stale(..) = outcome {
            for (name, value) in identity {
                let Some(made) = self.made.get(value).filter(|_| name == "x-user-id") else {
                    continue;
                };
                let own = !at_arrival && self.landing.as_ref() == Some(&(ctx, value.clone()));
                let revoked = self.revoked.get(value).is_some_and(|r| made <= r);
                let flushed = self.flushed.is_some_and(|f| *made <= f);
                assert!(
                    own || !(revoked || flushed),
                    "request {ctx} got {value:?}, decided at {made} before its revocation (at {:?}) or a flush (at {:?}); from a cache: {at_arrival}",
                    self.revoked.get(value),
                    self.flushed
                );
            }
        }
        // 1: nothing upstream without a decision.
        let shadow = config.mode == crate::config::Mode::Shadow;
        let allowed = match outcome {
            Outcome::Bypass | Outcome::Authenticated(_) => true,
            Outcome::Decided(d) | Outcome::Stale(d, _) => {
                matches!(d.as_ref(), Decision::Allow { .. }) || shadow
            }
            Outcome::Error(e) => shadow || config.on_error.policy(e.cause()) == ErrorPolicy::Allow,
            Outcome::BadRequest(_) | Outcome::Unauthenticated { .. } => shadow,
        };
        assert!(allowed, "request {ctx} continued on {outcome:?}");
        if let Outcome::Error(e) = outcome {
            assert!(
                e.cause() != Cause::Jwks || shadow,
                "a token whose keys are missing skipped the auth service"
            );
        }
        // 2: identity only from an allow for this request's key, or its own verified token.
        for (name, value) in identity {
            match outcome {
                Outcome::Authenticated(_) => {
                    let t = token.unwrap_or_else(|| panic!("authenticated without a token"));
                    if name == "x-user-id" {
                        assert_eq!(value, t.sub.as_bytes(), "identity not from the token");
                    }
                    assert_ne!(t.sub, "admin", "a forged token authenticated");
                }
                _ => {
                    let origin = self.origins.get(value);
                    assert!(origin.is_some(), "identity {value:?} not from an allow");
                    assert_eq!(
                        origin.copied().flatten(),
                        key,
                        "request {ctx} got identity {value:?} minted for another key"
                    );
                    // 4 again, through the caches: an answer for one client is never reused,
                    // and its opener got it straight from its flight.
                    assert!(
                        !self.for_one.contains(value) || !at_arrival,
                        "an answer made for one client was served from a cache to request {ctx}"
                    );
                }
            }
        }
    }

    /// Every callout and fetch answered, time past every TTL, every request gone: nothing left.
    fn drain(&mut self) {
        for _ in 0..4 {
            let calls: Vec<CallId> = self.calls.keys().copied().collect();
            for t in calls {
                self.answer(t, Reply::Allow);
            }
            while !self.d.jwks_calls.is_empty() {
                self.run(&Step::Keys { pick: 0, ok: false });
            }
            self.run(&Step::Feed {
                pick: 0,
                page: Page::Unchanged,
            });
            self.run(&Step::Tick);
        }
        let ctxs: Vec<Ctx> = self.live.keys().copied().collect();
        for ctx in ctxs {
            self.live.remove(&ctx);
            self.d.gone(ctx);
        }
        assert!(self.calls.is_empty(), "callouts never answered");
        self.d.tick();
        assert_eq!(
            self.d.gauges.map(|g| (g.in_flight, g.waiting)),
            Some((0, 0)),
            "state left after every request is gone ({})",
            self.which
        );
        assert!(self.d.is_empty(), "requests left held ({})", self.which);
    }
}

/// What a gRPC auth service answers for `reply`: (the CheckResponse, the close's code and
/// message). Failures are statuses: INTERNAL, DEADLINE_EXCEEDED, and UNAVAILABLE for a timeout
/// as Envoy reports its own.
fn grpc_reply(reply: Reply, minted: &[u8]) -> (Option<Vec<u8>>, u32, &'static [u8]) {
    use crate::grpc::envoy_protos::{self as pb, header};
    use prost::Message;
    let user = String::from_utf8_lossy(minted).into_owned();
    let ok = |extra: Option<(bool, pb::HeaderValueOption)>| {
        let mut r = pb::OkHttpResponse {
            headers: vec![header("x-user-id", &user)],
            ..Default::default()
        };
        match extra {
            Some((true, h)) => r.response_headers_to_add.push(h),
            Some((false, h)) => r.headers.push(h),
            None => {}
        }
        pb::CheckResponse {
            status: Some(pb::Status::default()),
            ok_response: Some(r),
            ..Default::default()
        }
    };
    let denied = |headers| pb::CheckResponse {
        status: Some(pb::Status {
            code: 16,
            message: String::new(),
        }),
        denied_response: Some(pb::DeniedHttpResponse {
            status: Some(pb::HttpStatus { code: 401 }),
            headers,
            body: String::new(),
        }),
        ..Default::default()
    };
    let message = match reply {
        Reply::Allow => ok(None),
        Reply::AllowForOne => ok(Some((true, header("set-cookie", "session=1")))),
        Reply::AllowBriefly => ok(Some((false, header("cache-control", "max-age=1")))),
        Reply::Deny => denied(vec![]),
        Reply::DenyForOne => denied(vec![header("cache-control", "private")]),
        Reply::ServerError => return (None, 13, b""),
        Reply::Timeout if minted.len() % 2 == 0 => return (None, 4, b""),
        Reply::Timeout => return (None, 14, b"upstream request timeout"),
        Reply::Malformed => return (Some(b"\x0a\x02\x08".to_vec()), 0, b""),
    };
    (Some(message.encode_to_vec()), 0, b"")
}

fn cases() -> u32 {
    std::env::var("FLOW_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn every_interleaving_keeps_the_promises(which in 0usize..CONFIGS, steps in prop::collection::vec(step(), 1..60)) {
        let mut sim = Sim::new(which);
        for s in &steps {
            sim.run(s);
        }
        sim.drain();
    }
}

#[test]
fn the_promises_are_checked_for_real() {
    // A forged identity value in an allow for another key, or a decision past exp, must trip
    // the checks: make sure the sim's own bookkeeping sees a decision at all.
    let mut sim = Sim::new(0);
    let shape = Shape {
        path: 0,
        credential: 1,
        forged_identity: true,
        body: false,
        peer: false,
    };
    sim.run(&Step::Arrive {
        shape: shape.clone(),
        refuse: false,
    });
    assert_eq!(sim.calls.len(), 1);
    sim.run(&Step::Answer {
        pick: 0,
        reply: Reply::Allow,
    });
    assert_eq!(sim.checked, 1);
    assert!(sim.d.fates.len() == 1);
    assert_eq!(sim.origins.len(), 1);
}
