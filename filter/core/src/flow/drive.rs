//! The adapter, played natively for the flow's tests: it carries out every action as the real one
//! does (with a fake host) and records what each request ended with.

use super::*;
use crate::host::fake::FakeHost;
use crate::reply::Verdict;
use crate::Config;
use crate::Outcome;
use std::collections::BTreeMap;

pub type Owned = Vec<(String, Vec<u8>)>;

pub fn owned(h: &[(&str, &[u8])]) -> Owned {
    h.iter().map(|(n, v)| (n.to_string(), v.to_vec())).collect()
}

pub fn pairs(h: &Owned) -> Vec<(&str, &[u8])> {
    h.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect()
}

/// The answer being delivered: its callout, headers and whole body.
type Delivery<'a> = (CallId, &'a [(&'a str, &'a [u8])], &'a [u8]);

/// What a request ended with, as the host saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// Went upstream with these identity headers set.
    Continued {
        identity: Owned,
        removal: Option<Removal>,
        resumed: bool,
    },
    Replied(u16),
    FailedClosed,
}

/// A callout the host took.
pub struct Sent {
    pub ctx: Ctx,
    /// An HTTP callout's headers (empty for a gRPC call).
    pub headers: Owned,
    /// A gRPC call's CheckRequest (`None` for an HTTP callout).
    pub grpc: Option<Vec<u8>>,
}

/// One conclusion as it was carried out, for the invariant checks.
pub struct Concluded {
    pub ctx: Ctx,
    pub outcome: Outcome,
    pub cached: bool,
    pub identity: Option<Owned>,
    pub authz: Rc<Authorizer>,
    /// Asked again because a revocation dropped its cached decision.
    pub revoked: bool,
}

pub struct Driver {
    pub flow: Flow,
    pub host: FakeHost,
    /// The request headers the host holds, per request (stripped names removed).
    pub heads: BTreeMap<Ctx, Owned>,
    pub fates: BTreeMap<Ctx, Fate>,
    pub calls: BTreeMap<CallId, Sent>,
    pub jwks_calls: Vec<CallId>,
    /// Revocation feed reads the host took, with the path each asked for.
    pub feed_calls: Vec<(CallId, String)>,
    /// The next dispatch is refused with this reason.
    pub refuse: Option<String>,
    pub gauges: Option<Gauges>,
    /// Every conclusion, in order.
    pub concluded: Vec<Concluded>,
    /// Each request's client address (`source.address`), as the host gives it in that request's
    /// context; a request without one sees whatever the host's properties say.
    pub peers: BTreeMap<Ctx, Vec<u8>>,
    next_call: CallId,
}

impl Driver {
    pub fn new(config: Config) -> Driver {
        Driver::with(Authorizer::new(config), FakeHost::default())
    }

    pub fn with(authz: Authorizer, host: FakeHost) -> Driver {
        let mut d = Driver::empty(host);
        d.feed(Event::Configure(Box::new(authz)));
        d
    }

    /// Not configured yet.
    pub fn empty(host: FakeHost) -> Driver {
        Driver {
            flow: Flow::default(),
            host,
            heads: BTreeMap::new(),
            fates: BTreeMap::new(),
            calls: BTreeMap::new(),
            jwks_calls: Vec::new(),
            feed_calls: Vec::new(),
            refuse: None,
            gauges: None,
            concluded: Vec::new(),
            peers: BTreeMap::new(),
            next_call: 0,
        }
    }

    pub fn parse(json: &str) -> Driver {
        Driver::new(Config::parse(json.as_bytes()).unwrap())
    }

    pub fn reconfigure(&mut self, json: &str) {
        let authz = Authorizer::new(Config::parse(json.as_bytes()).unwrap());
        self.feed(Event::Configure(Box::new(authz)));
    }

    /// Request headers of `ctx` arrive; whether the request goes on at once.
    pub fn arrive(&mut self, ctx: Ctx, headers: &[(&str, &[u8])], end_of_stream: bool) -> bool {
        self.heads.insert(ctx, owned(headers));
        self.enter(ctx);
        let h = owned(headers);
        let p = pairs(&h);
        self.feed(Event::RequestHeaders {
            ctx,
            headers: &p,
            end_of_stream,
        })
    }

    pub fn body(&mut self, ctx: Ctx) -> bool {
        self.feed(Event::RequestBody { ctx })
    }

    pub fn trailers(&mut self, ctx: Ctx, trailers: &[(&str, &[u8])]) -> bool {
        self.feed(Event::RequestTrailers { ctx, trailers })
    }

    pub fn gone(&mut self, ctx: Ctx) {
        self.heads.remove(&ctx);
        self.feed(Event::Gone { ctx });
    }

    pub fn tick(&mut self) {
        self.feed(Event::Tick);
    }

    /// Callout `call` answered with `headers` and `body` (the host gives what is asked of it).
    pub fn answer(&mut self, call: CallId, headers: &[(&str, &[u8])], body: &[u8]) {
        self.calls.remove(&call);
        self.jwks_calls.retain(|c| *c != call);
        self.feed_calls.retain(|(c, _)| *c != call);
        let out = self.flow.handle(
            &self.host,
            Event::AnswerHead {
                call,
                headers: Some(headers),
                body_size: body.len(),
            },
        );
        self.run(out, Some((call, headers, body)));
    }

    /// gRPC call `call` answered with `message`, or (none) closed with `code` and `status`, as
    /// Envoy ends a unary call: one or the other.
    pub fn grpc_answer(&mut self, call: CallId, message: Option<&[u8]>, code: u32, status: &[u8]) {
        self.calls.remove(&call);
        match message {
            Some(m) => {
                let size = m.len();
                let out = self
                    .flow
                    .handle(&self.host, Event::GrpcReceived { call, size });
                self.run(out, Some((call, &[], m)));
            }
            None => {
                let message = status;
                self.feed(Event::GrpcClosed {
                    call,
                    code,
                    message,
                });
            }
        }
    }

    /// Callout `call` failed without an answer (a reset: Envoy reports no headers).
    pub fn reset(&mut self, call: CallId) {
        self.answer(call, &[], b"");
    }

    /// The most recent callout the host took.
    pub fn last_call(&self) -> Option<CallId> {
        self.calls.keys().next_back().copied()
    }

    pub fn fate(&self, ctx: Ctx) -> Option<&Fate> {
        self.fates.get(&ctx)
    }

    pub fn feed(&mut self, event: Event<'_>) -> bool {
        let out = self.flow.handle(&self.host, event);
        self.run(out, None)
    }

    fn run(&mut self, out: Output<'_>, answer: Option<Delivery<'_>>) -> bool {
        let mut proceed = out.proceed;
        for action in out.actions {
            proceed |= self.execute(action, answer);
        }
        proceed
    }

    fn execute(&mut self, action: Action<'_>, answer: Option<Delivery<'_>>) -> bool {
        match action {
            Action::Strip { ctx, part, names } => {
                if part == Part::Headers {
                    if let Some(h) = self.heads.get_mut(&ctx) {
                        h.retain(|(n, _)| !names.iter().any(|s| s == n));
                    }
                }
                false
            }
            Action::CallOut(call) => {
                let ctx = call.ctx;
                let (headers, grpc) = match call.request() {
                    Some(Request::Http { headers, .. }) => (
                        headers
                            .iter()
                            .map(|(n, v)| (n.to_string(), v.to_vec()))
                            .collect(),
                        None,
                    ),
                    Some(Request::Grpc(g)) => (Owned::new(), Some(g.message)),
                    None => panic!("a callout without an auth service"),
                };
                let result = match self.refuse.take() {
                    Some(why) => Err(why),
                    None => {
                        self.next_call += 1;
                        let sent = Sent { ctx, headers, grpc };
                        self.calls.insert(self.next_call, sent);
                        Ok(self.next_call)
                    }
                };
                self.feed(Event::CalledOut { call, result })
            }
            Action::FetchJwks(fetch) => {
                self.next_call += 1;
                self.jwks_calls.push(self.next_call);
                let result = Ok(self.next_call);
                self.feed(Event::JwksDispatched { fetch, result })
            }
            Action::FetchFeed(read) => {
                let result = match self.refuse.take() {
                    Some(why) => Err(why),
                    None => {
                        self.next_call += 1;
                        self.feed_calls
                            .push((self.next_call, read.fetch.path.clone()));
                        Ok(self.next_call)
                    }
                };
                self.feed(Event::FeedDispatched { read, result })
            }
            Action::ReadBody { bytes } => {
                let Some((call, headers, body)) = answer else {
                    panic!("a body read outside an answer");
                };
                let end = bytes.min(body.len());
                let out = self.flow.handle(
                    &self.host,
                    Event::AnswerBody {
                        call,
                        headers,
                        body: Some(&body[..end]),
                    },
                );
                self.run(out, None)
            }
            Action::ReadGrpc { call, bytes } => {
                let Some((delivered, _, message)) = answer else {
                    panic!("a gRPC read outside a delivery");
                };
                assert_eq!(call, delivered, "the read names the call being delivered");
                let end = bytes.min(message.len());
                let message = Some(&message[..end]);
                let out = self
                    .flow
                    .handle(&self.host, Event::GrpcRead { call, message });
                self.run(out, None)
            }
            Action::ReadHeaders { ctx } => {
                let Some(h) = self.heads.get(&ctx).cloned() else {
                    return false;
                };
                let p = pairs(&h);
                self.enter(ctx);
                self.feed(Event::HeadersReread { ctx, headers: &p })
            }
            Action::Conclude(c) => {
                let identity = match c.verdict() {
                    Verdict::Continue { identity } => Some(owned(&identity)),
                    Verdict::Respond { .. } => None,
                };
                let fate = match c.verdict() {
                    Verdict::Continue { identity } => Fate::Continued {
                        identity: owned(&identity),
                        removal: c.removal().cloned(),
                        resumed: c.resume,
                    },
                    Verdict::Respond { status, .. } => Fate::Replied(status),
                };
                let goes_on = identity.is_some() && !c.resume;
                assert!(
                    self.fates.insert(c.ctx, fate).is_none(),
                    "request {} concluded twice",
                    c.ctx
                );
                self.concluded.push(Concluded {
                    ctx: c.ctx,
                    outcome: c.outcome().clone(),
                    cached: c.cached,
                    identity,
                    authz: Rc::clone(&c.authz),
                    revoked: c.revoked,
                });
                goes_on
            }
            Action::FailClosed { ctx } => {
                self.fates.insert(ctx, Fate::FailedClosed);
                false
            }
            Action::Gauges(g) => {
                self.gauges = Some(g);
                false
            }
        }
    }

    /// The host works on request `ctx` now: its properties are that request's.
    fn enter(&mut self, ctx: Ctx) {
        if let Some(peer) = self.peers.get(&ctx) {
            self.host
                .properties
                .borrow_mut()
                .insert("source.address".into(), peer.clone());
        }
    }

    /// Nothing held: no flight, no waiter, no request kept.
    pub fn is_empty(&self) -> bool {
        self.flow.flights.in_flight() == 0
            && self.flow.flights.waiting() == 0
            && self.flow.requests.is_empty()
    }
}
