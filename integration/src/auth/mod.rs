//! The example auth service, ext_authz HTTP style: it receives the filter's callout
//! (`<pathPrefix><original path>`, the forwarded headers) and answers allow (200 + identity
//! headers) or deny. In-process, `AuthService` also counts and records callouts and has knobs a
//! test turns at run time: added latency, a forced status (and body size), extra response headers
//! (also raw bytes), a fresh `set-cookie` on every answer, hung (reads the callout, never
//! answers), and on `AuthService`, killed (port closed, connections dropped) and restored on the
//! same port.
//!
//! A JWT bearer is an identity only when a key of the JWKS it serves verifies it (`jwt_subject`):
//! the service never trusts a token the filter may not have checked.
//!
//! It also serves the JWKS a JWT-checking filter fetches: `GET <jwks path>` (default
//! `/.well-known/jwks.json`) answers the document it was given, which a test can replace
//! (rotation), fail with a status, or hang. A JWKS fetch is counted apart (`jwks_fetches`) and is
//! neither a callout nor recorded as one; the callout knobs (latency, hung, forced status) leave
//! it alone. The JWKS path never starts with a callout's
//! `pathPrefix` (`/check`), so the two cannot be confused (with an empty prefix, a request for
//! exactly the JWKS path would get the JWKS).
//!
//! It publishes a revocation feed (`GET /revocations`) and takes logouts (`POST /logout` with
//! the bearer token, `POST /revoke?subject=`): a revoked subject is denied from then on, and the
//! feed tells the sidecars to drop what they cached for it (`revocations`). None of these is a
//! callout.

pub mod decide;
pub mod jwks;
pub mod jwt_subject;
pub mod revocations;
pub mod tokens;

pub use decide::{Answer, CalloutHead, REASON_HEADER};
pub use jwks::{JwksEndpoint, DEFAULT_JWKS_PATH};
pub use revocations::{Revocations, FEED_PATH, LOGOUT_PATH, REVOKE_PATH};
pub use tokens::Tokens;

use crate::server::{header_pairs, response, Body, Handler, ServerHandle};
use crate::HarnessError;
use hyper::body::Incoming;
use hyper::{Request, Response};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Recorded callouts are capped so a benchmark cannot grow memory without bound.
const MAX_RECORDED: usize = 10_000;
/// A hung answer still ends after this long, so a forgotten knob cannot hold a test forever.
const MAX_HANG: Duration = Duration::from_secs(60);
const HANG_POLL: Duration = Duration::from_millis(10);

/// One callout as the service received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callout {
    pub method: String,
    pub path: String,
    /// Values as lossy UTF-8, for readable assertions.
    pub headers: Vec<(String, String)>,
    /// The same values as the exact bytes received.
    pub raw_headers: Vec<(String, Vec<u8>)>,
}

impl Callout {
    /// Every value of `name` (case-insensitive) as received, byte for byte.
    pub fn raw_header_all(&self, name: &str) -> Vec<&[u8]> {
        self.raw_headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
            .collect()
    }

    pub fn header_all(&self, name: &str) -> Vec<&str> {
        crate::server::values_of(&self.headers, name)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_all(name).into_iter().next()
    }
}

/// Shared state of one service: tokens, knobs and the record. Cheap to read on the hot path.
#[derive(Debug)]
pub struct AuthState {
    tokens: Tokens,
    prefix: String,
    calls: AtomicU64,
    latency_ms: AtomicU64,
    hung: AtomicBool,
    forced_status: AtomicU16,
    forced_body_bytes: AtomicU64,
    fresh_cookie: AtomicBool,
    /// Answers still to set a fresh cookie after `fresh_cookie` is off (`set_fresh_cookies`).
    fresh_cookies_left: AtomicU64,
    cookies_given: AtomicU64,
    record: AtomicBool,
    extra_headers: Mutex<Vec<(String, String)>>,
    raw_headers: Mutex<Vec<(String, Vec<u8>)>>,
    callouts: Mutex<Vec<Callout>>,
    accept_jwt: AtomicBool,
    jwks: JwksEndpoint,
    revocations: Revocations,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means a test thread panicked; the data is still usable.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl AuthState {
    /// `prefix` is the filter's `pathPrefix`, stripped to find the original path.
    pub fn new(tokens: Tokens, prefix: &str) -> Self {
        AuthState {
            tokens,
            prefix: prefix.to_string(),
            calls: AtomicU64::new(0),
            latency_ms: AtomicU64::new(0),
            hung: AtomicBool::new(false),
            forced_status: AtomicU16::new(0),
            forced_body_bytes: AtomicU64::new(0),
            fresh_cookie: AtomicBool::new(false),
            fresh_cookies_left: AtomicU64::new(0),
            cookies_given: AtomicU64::new(0),
            record: AtomicBool::new(true),
            extra_headers: Mutex::new(Vec::new()),
            raw_headers: Mutex::new(Vec::new()),
            callouts: Mutex::new(Vec::new()),
            accept_jwt: AtomicBool::new(true),
            jwks: JwksEndpoint::new(DEFAULT_JWKS_PATH),
            revocations: Revocations::default(),
        }
    }

    /// Serves `jwks` (a JWKS document, e.g. `Issuer::jwks()`) from the start.
    pub fn with_jwks(self, jwks: &str) -> Self {
        self.set_jwks(jwks);
        self
    }

    /// Serves the JWKS at `path` instead of `/.well-known/jwks.json`.
    pub fn with_jwks_path(mut self, path: &str) -> Self {
        self.jwks = JwksEndpoint::new(path).with_document(&self.jwks.document());
        self
    }

    /// The JWKS endpoint and its knobs; the `*_jwks*` methods here are shortcuts to it.
    pub fn jwks_endpoint(&self) -> &JwksEndpoint {
        &self.jwks
    }

    pub fn jwks_path(&self) -> &str {
        self.jwks.path()
    }

    /// The JWKS document served from now on (a rotation).
    pub fn set_jwks(&self, jwks: &str) {
        self.jwks.set_document(jwks);
    }

    pub fn jwks(&self) -> String {
        self.jwks.document()
    }

    /// JWKS fetches received so far (answered or not); never part of `calls()`.
    pub fn jwks_fetches(&self) -> u64 {
        self.jwks.fetches()
    }

    /// Answer JWKS fetches with this status and no document; `None` serves the JWKS again.
    pub fn set_jwks_status(&self, status: Option<u16>) {
        self.jwks.set_status(status);
    }

    /// `true`: read JWKS fetches and never answer them (until turned off, or for at most a
    /// minute). Callouts are not affected.
    pub fn set_jwks_hung(&self, on: bool) {
        self.jwks.set_hung(on);
    }

    /// `true` (the default): a bearer token not in the tokens file that a key of the served JWKS
    /// verifies (and that has not expired) is allowed as `x-user-id: <sub>` (see `jwt_subject`);
    /// with no keys served, none is. `false`: every JWT is an unknown token (401).
    pub fn set_accept_jwt(&self, on: bool) {
        self.accept_jwt.store(on, Ordering::SeqCst);
    }

    /// The revocation feed and the subjects denied by a logout.
    pub fn revocations(&self) -> &Revocations {
        &self.revocations
    }

    /// Callouts answered so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// The recorded callouts (the first `MAX_RECORDED`), oldest first.
    pub fn callouts(&self) -> Vec<Callout> {
        lock(&self.callouts).clone()
    }

    /// Forgets the counts (callouts and JWKS fetches) and the record (the knobs stay).
    pub fn reset(&self) {
        self.calls.store(0, Ordering::SeqCst);
        self.jwks.reset();
        lock(&self.callouts).clear();
    }

    /// Sleep this long before answering.
    pub fn set_latency(&self, latency: Duration) {
        let ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        self.latency_ms.store(ms, Ordering::SeqCst);
    }

    /// `true`: accept connections and read callouts but never answer them (until turned off, or
    /// for at most a minute), as a service stuck on a lock or a dead database does. The caller
    /// sees no answer at all, which Envoy turns into a timeout.
    pub fn set_hung(&self, on: bool) {
        self.hung.store(on, Ordering::SeqCst);
    }

    pub fn is_hung(&self) -> bool {
        self.hung.load(Ordering::SeqCst)
    }

    /// Every knob back to a healthy service: no latency, not hung, no forced status, the JWKS
    /// served (the document stays as set).
    pub fn set_healthy(&self) {
        self.set_latency(Duration::ZERO);
        self.set_hung(false);
        self.set_forced_status(None);
        self.set_jwks_hung(false);
        self.set_jwks_status(None);
    }

    /// Answer every callout with this status (and no identity); `None` restores the rules.
    pub fn set_forced_status(&self, status: Option<u16>) {
        self.forced_status
            .store(status.unwrap_or(0), Ordering::SeqCst);
    }

    /// Forced answers carry a body of this many bytes (`None`: the short default).
    pub fn set_forced_body_bytes(&self, bytes: Option<usize>) {
        let n = bytes.map_or(0, |b| u64::try_from(b).unwrap_or(u64::MAX));
        self.forced_body_bytes.store(n, Ordering::SeqCst);
    }

    /// The next `n` answers set a fresh cookie, and the ones after do not: an answer made for one
    /// client among requests that share a key.
    pub fn set_fresh_cookies(&self, n: u64) {
        self.fresh_cookies_left.store(n, Ordering::SeqCst);
    }

    /// Every answer sets a new cookie, `pre_session=<n>` with `n` counting from 1, as a service
    /// that starts a pre-session or hands out a CSRF nonce on a 401 does.
    pub fn set_fresh_cookie(&self, on: bool) {
        self.fresh_cookie.store(on, Ordering::SeqCst);
    }

    /// Headers with any value bytes (e.g. not UTF-8) added to every answer.
    pub fn set_raw_headers(&self, headers: &[(&str, &[u8])]) {
        *lock(&self.raw_headers) = headers
            .iter()
            .map(|(n, v)| ((*n).to_string(), v.to_vec()))
            .collect();
    }

    /// Headers added to every answer, e.g. `cache-control: max-age=1`.
    pub fn set_extra_headers(&self, headers: &[(&str, &str)]) {
        *lock(&self.extra_headers) = headers
            .iter()
            .map(|(n, v)| ((*n).to_string(), (*v).to_string()))
            .collect();
    }

    /// Turn the callout record off for load tests (the count stays).
    pub fn set_recording(&self, on: bool) {
        self.record.store(on, Ordering::SeqCst);
    }

    /// The answer for one callout, knobs applied (no latency: the caller sleeps).
    pub fn answer(&self, path: &str, headers: &hyper::HeaderMap) -> Answer {
        let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let mut answer = match self.forced_status.load(Ordering::SeqCst) {
            0 => {
                let head = CalloutHead {
                    path,
                    authorization: get("authorization"),
                    cookie: get("cookie"),
                    accept: get("accept"),
                };
                // The keys as served now (a test may rotate them), whatever the fetch knobs say.
                let jwks = self
                    .accept_jwt
                    .load(Ordering::SeqCst)
                    .then(|| self.jwks.document());
                decide::decide(&self.tokens, &self.prefix, &head, jwks.as_deref())
            }
            status => Answer {
                status,
                headers: vec![(REASON_HEADER.into(), "forced".into())],
                body: match self.forced_body_bytes.load(Ordering::SeqCst) {
                    0 => format!("forced {status}\n"),
                    n => "x".repeat(usize::try_from(n).unwrap_or(usize::MAX)),
                },
            },
        };
        let subject = answer
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("x-user-id"))
            .map(|(_, v)| v.as_str());
        if answer.status == 200 && subject.is_some_and(|s| self.revocations.is_denied(s)) {
            answer = Answer {
                status: 401,
                headers: vec![(REASON_HEADER.into(), "revoked".into())],
                body: "logged out\n".into(),
            };
        }
        answer
            .headers
            .extend(lock(&self.extra_headers).iter().cloned());
        let counted = self
            .fresh_cookies_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if self.fresh_cookie.load(Ordering::SeqCst) || counted {
            let n = self.cookies_given.fetch_add(1, Ordering::SeqCst) + 1;
            answer.headers.push((
                "set-cookie".into(),
                format!("pre_session={n}; Path=/; HttpOnly"),
            ));
        }
        answer
    }

    fn note(&self, req: &Request<Incoming>) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if !self.record.load(Ordering::Relaxed) {
            return;
        }
        let mut callouts = lock(&self.callouts);
        if callouts.len() < MAX_RECORDED {
            callouts.push(Callout {
                method: req.method().as_str().to_string(),
                path: req
                    .uri()
                    .path_and_query()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_default(),
                headers: header_pairs(req.headers()),
                raw_headers: req
                    .headers()
                    .iter()
                    .map(|(n, v)| (n.as_str().to_string(), v.as_bytes().to_vec()))
                    .collect(),
            });
        }
    }
}

/// The hyper handler around an `AuthState`.
#[derive(Debug, Clone)]
pub struct AuthHandler(pub Arc<AuthState>);

impl Handler for AuthHandler {
    async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        let state = &self.0;
        if state.jwks.is_fetch(&req) {
            return state.jwks.answer().await;
        }
        if let Some(resp) = revocation_request(state, &req) {
            return resp;
        }
        state.note(&req);
        let hung_since = std::time::Instant::now();
        while state.is_hung() && hung_since.elapsed() < MAX_HANG {
            tokio::time::sleep(HANG_POLL).await;
        }
        let latency = state.latency_ms.load(Ordering::SeqCst);
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        let path = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let answer = state.answer(path, req.headers());
        let mut resp = response(answer.status, &answer.headers, answer.body);
        for (name, value) in lock(&state.raw_headers).iter() {
            if let (Ok(n), Ok(v)) = (
                hyper::header::HeaderName::from_bytes(name.as_bytes()),
                hyper::header::HeaderValue::from_bytes(value),
            ) {
                resp.headers_mut().append(n, v);
            }
        }
        resp
    }
}

/// The feed read, a logout or a revocation; `None` for anything else (a callout).
fn revocation_request(state: &AuthState, req: &Request<Incoming>) -> Option<Response<Body>> {
    let (method, path, query) = (req.method(), req.uri().path(), req.uri().query());
    let json = [("content-type".to_string(), "application/json".to_string())];
    match (method.as_str(), path) {
        ("GET", FEED_PATH) => Some(match state.revocations.down() {
            Some(status) => response(status, &[], "feed down\n"),
            None => response(200, &json, state.revocations.page(query)),
        }),
        ("POST", LOGOUT_PATH) => {
            // The token's subject, as the service would allow it now.
            let answer = state.answer("/", req.headers());
            let subject = answer
                .headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("x-user-id"))
                .map(|(_, v)| v.clone());
            Some(match subject {
                Some(s) if answer.status == 200 => {
                    state.revocations.revoke(&s);
                    response(204, &[], "")
                }
                _ => response(401, &[], "no session to end\n"),
            })
        }
        ("POST", REVOKE_PATH) => {
            let subject = query
                .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("subject=")))
                .filter(|s| !s.is_empty() && s.len() <= 256);
            Some(match subject {
                Some(s) => {
                    state.revocations.revoke(s);
                    response(204, &[], "")
                }
                None => response(400, &[], "subject=NAME required\n"),
            })
        }
        _ => None,
    }
}

/// The service running in this process; knobs and record through `state()`.
pub struct AuthService {
    state: Arc<AuthState>,
    server: ServerHandle,
}

impl AuthService {
    /// Starts on `addr` (port 0 for a free one) with `threads` tokio workers.
    pub fn spawn(addr: SocketAddr, threads: usize, state: AuthState) -> Result<Self, HarnessError> {
        let state = Arc::new(state);
        let server = ServerHandle::spawn_named(
            addr,
            threads,
            "auth-service",
            Arc::new(AuthHandler(Arc::clone(&state))),
        )?;
        Ok(AuthService { state, server })
    }

    /// The example tokens, prefix `/check`, a free port on 127.0.0.1, one worker thread.
    pub fn example() -> Result<Self, HarnessError> {
        Self::spawn(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            1,
            AuthState::new(Tokens::example(), "/check"),
        )
    }

    pub fn state(&self) -> &Arc<AuthState> {
        &self.state
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// Stops listening and drops open connections: callers get connection refused (see
    /// `ServerHandle::kill`). The knobs and the count stay.
    pub fn kill(&self) -> Result<(), HarnessError> {
        self.server.kill()
    }

    /// Listens again on the same port after `kill`.
    pub fn restore(&self) -> Result<(), HarnessError> {
        self.server.restore()
    }

    pub fn is_serving(&self) -> bool {
        self.server.is_serving()
    }
}

impl std::ops::Deref for AuthService {
    type Target = AuthState;
    fn deref(&self) -> &AuthState {
        &self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Request;
    use std::time::Instant;

    #[test]
    fn serves_rules_and_knobs_over_http() {
        let auth = AuthService::example().unwrap();
        let r = Request::get("/check/x?y=1")
            .bearer("alice-token")
            .send(auth.addr())
            .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-user-id").as_deref(), Some("alice"));
        assert_eq!(auth.calls(), 1);
        assert_eq!(auth.callouts()[0].path, "/check/x?y=1");
        assert_eq!(
            auth.callouts()[0].header("authorization"),
            Some("Bearer alice-token")
        );

        auth.set_extra_headers(&[("cache-control", "max-age=1")]);
        auth.set_forced_status(Some(500));
        let r = Request::get("/check/x")
            .bearer("alice-token")
            .send(auth.addr())
            .unwrap();
        assert_eq!(r.status, 500);
        assert_eq!(r.header("x-user-id"), None);
        assert_eq!(r.header("cache-control").as_deref(), Some("max-age=1"));

        auth.set_forced_status(None);
        auth.set_latency(Duration::from_millis(150));
        let started = Instant::now();
        let r = Request::get("/check/x").send(auth.addr()).unwrap();
        assert_eq!(r.status, 401);
        assert!(started.elapsed() >= Duration::from_millis(150));

        auth.set_recording(false);
        Request::get("/check/x").send(auth.addr()).unwrap();
        assert_eq!((auth.calls(), auth.callouts().len()), (4, 3));
        auth.reset();
        assert_eq!((auth.calls(), auth.callouts().len()), (0, 0));
    }

    #[test]
    fn hung_accepts_and_never_answers_until_released() {
        let auth = AuthService::example().unwrap();
        auth.set_hung(true);
        let addr = auth.addr();
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let request = Request::get("/check/x").bearer("alice-token").to_bytes("a");
        std::io::Write::write_all(&mut stream, &request).unwrap();
        let mut buf = [0u8; 256];
        let read = std::io::Read::read(&mut stream, &mut buf);
        assert!(
            matches!(&read, Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)),
            "a hung service answered: {read:?}"
        );
        // The callout arrived (it is counted): the service is up, only silent.
        assert_eq!(auth.calls(), 1);
        auth.set_healthy();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let r = crate::client::read_response(&mut stream, "auth").unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
    }

    #[test]
    fn killed_refuses_and_restored_serves_on_the_same_port() {
        let auth = AuthService::example().unwrap();
        let addr = auth.addr();
        // A keep-alive connection open before the kill must be dropped by it.
        let mut kept = std::net::TcpStream::connect(addr).unwrap();
        auth.kill().unwrap();
        assert!(!auth.is_serving());
        let refused = std::net::TcpStream::connect(addr).unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
        kept.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = std::io::Write::write_all(&mut kept, &Request::get("/check/x").to_bytes("a"));
        let mut buf = [0u8; 64];
        let read = std::io::Read::read(&mut kept, &mut buf);
        assert!(
            matches!(read, Ok(0) | Err(_)),
            "an open connection survived the kill: {read:?}"
        );
        assert!(Request::get("/check/x").send(addr).is_err());
        auth.kill().unwrap();

        auth.restore().unwrap();
        assert!(auth.is_serving());
        assert_eq!(auth.addr(), addr);
        let r = Request::get("/check/x")
            .bearer("bob-token")
            .send(addr)
            .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-user-id").as_deref(), Some("bob"));
        auth.restore().unwrap();
        // Twice more, as a chaos run does.
        for _ in 0..2 {
            auth.kill().unwrap();
            assert!(Request::get("/check/x").send(addr).is_err());
            auth.restore().unwrap();
            assert_eq!(Request::get("/check/x").send(addr).unwrap().status, 401);
        }
    }

    pub(super) fn jwks_service() -> (AuthService, crate::jwt::Issuer) {
        let mut issuer = crate::jwt::Issuer::new("https://issuer.test");
        issuer
            .add_key(crate::jwt::KeyKind::Ed25519, "ed-1")
            .unwrap();
        let state = AuthState::new(Tokens::example(), "/check").with_jwks(&issuer.jwks());
        let auth = AuthService::spawn(SocketAddr::from(([127, 0, 0, 1], 0)), 1, state).unwrap();
        (auth, issuer)
    }

    #[test]
    fn a_jwt_bearer_is_allowed_as_its_sub_only_when_the_served_keys_verify_it() {
        let (auth, issuer) = jwks_service();
        let claims = crate::jwt::Claims::new().sub("jwt-user");
        let token = issuer.token(&claims).unwrap();
        let r = Request::get("/check/x")
            .header("authorization", &format!("bearer \t {token}"))
            .send(auth.addr())
            .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-user-id").as_deref(), Some("jwt-user"));
        // Sent straight to the service, no filter in front: forged tokens are no identity.
        let tampered = issuer
            .tampered(&claims, |p| {
                p.insert("sub".into(), "mallory".into());
            })
            .unwrap();
        let unsigned = issuer.alg_none(&claims.clone().sub("mallory")).unwrap();
        for forged in [tampered, unsigned] {
            let r = Request::get("/check/x")
                .header("authorization", &format!("Bearer  {forged}"))
                .send(auth.addr())
                .unwrap();
            assert_eq!(r.status, 401);
            assert_eq!(r.header("x-user-id"), None);
        }
        assert_eq!((auth.calls(), auth.jwks_fetches()), (3, 0));
        // The keys as served now: none, no JWT.
        auth.set_jwks(r#"{"keys":[]}"#);
        let r = Request::get("/check/x")
            .bearer(&token)
            .send(auth.addr())
            .unwrap();
        assert_eq!(r.status, 401);
        auth.set_jwks(&issuer.jwks());
        auth.set_accept_jwt(false);
        let r = Request::get("/check/x")
            .bearer(&token)
            .send(auth.addr())
            .unwrap();
        assert_eq!(r.status, 401);
        assert_eq!(r.header("x-user-id"), None);
    }

    #[test]
    fn a_logout_denies_the_subject_and_reaches_the_feed() {
        let auth = AuthService::example().unwrap();
        let check = || {
            Request::get("/check/x")
                .bearer("alice-token")
                .send(auth.addr())
                .unwrap()
                .status
        };
        assert_eq!(check(), 200);
        let feed = Request::get(FEED_PATH).send(auth.addr()).unwrap();
        assert_eq!(feed.status, 200);
        assert_eq!(
            feed.text(),
            r#"{"cursor":"0","more":false,"revocations":[],"version":1}"#
        );
        let out = Request::new("POST", LOGOUT_PATH)
            .bearer("alice-token")
            .send(auth.addr())
            .unwrap();
        assert_eq!(out.status, 204);
        assert_eq!(check(), 401, "denied by the service from now on");
        let page: serde_json::Value = Request::get(&format!("{FEED_PATH}?cursor=0"))
            .send(auth.addr())
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(page["revocations"][0]["subject"], "alice");
        let nobody = Request::new("POST", LOGOUT_PATH).send(auth.addr()).unwrap();
        assert_eq!(nobody.status, 401);
        let revoke = Request::new("POST", &format!("{REVOKE_PATH}?subject=bob"))
            .send(auth.addr())
            .unwrap();
        assert_eq!(revoke.status, 204);
        let bob = Request::get("/check/x")
            .bearer("bob-token")
            .send(auth.addr())
            .unwrap();
        assert_eq!(bob.status, 401);
        assert_eq!(
            auth.calls(),
            3,
            "feed reads, logouts and revocations are no callouts"
        );
    }

    #[test]
    fn echo_reports_what_it_received() {
        let echo = crate::echo::spawn(SocketAddr::from(([127, 0, 0, 1], 0)), 1).unwrap();
        let r = Request::new("POST", "/p?q=1")
            .header("X-A", "1")
            .header("x-a", "2")
            .body(b"ignored")
            .send(echo.addr())
            .unwrap();
        let seen: crate::echo::Echoed = r.json().unwrap();
        assert_eq!(
            (seen.method.as_str(), seen.path.as_str()),
            ("POST", "/p?q=1")
        );
        assert_eq!(seen.header_all("x-a"), ["1", "2"]);
    }
}
