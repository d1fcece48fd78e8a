//! The JWKS the example auth service serves to a JWT-checking filter: `GET <path>` answers the
//! document a test gave (replaced at run time for a rotation), or a status, or nothing (hung).
//! Fetches are counted here, apart from callouts: a test asserting on callouts never sees them.

use super::{lock, HANG_POLL, MAX_HANG};
use crate::server::{response, Body};
use hyper::body::Incoming;
use hyper::{Request, Response};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::Mutex;

/// Where the JWKS is served unless `AuthState::with_jwks_path` says otherwise.
pub const DEFAULT_JWKS_PATH: &str = "/.well-known/jwks.json";
/// Served until a test gives a document: no keys.
const EMPTY_JWKS: &str = r#"{"keys":[]}"#;

#[derive(Debug)]
pub struct JwksEndpoint {
    path: String,
    document: Mutex<String>,
    fetches: AtomicU64,
    /// 0: serve the document.
    status: AtomicU16,
    hung: AtomicBool,
}

impl JwksEndpoint {
    /// Serves an empty set at `path`.
    pub fn new(path: &str) -> Self {
        JwksEndpoint {
            path: path.to_string(),
            document: Mutex::new(EMPTY_JWKS.to_string()),
            fetches: AtomicU64::new(0),
            status: AtomicU16::new(0),
            hung: AtomicBool::new(false),
        }
    }

    pub fn with_document(self, jwks: &str) -> Self {
        self.set_document(jwks);
        self
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn set_document(&self, jwks: &str) {
        *lock(&self.document) = jwks.to_string();
    }

    pub fn document(&self) -> String {
        lock(&self.document).clone()
    }

    /// Fetches received (answered or not).
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::SeqCst)
    }

    pub fn reset(&self) {
        self.fetches.store(0, Ordering::SeqCst);
    }

    /// `Some(status)`: answer with it and no document; `None`: serve the document.
    pub fn set_status(&self, status: Option<u16>) {
        self.status.store(status.unwrap_or(0), Ordering::SeqCst);
    }

    /// `true`: read fetches and never answer (until turned off, or for at most a minute).
    pub fn set_hung(&self, on: bool) {
        self.hung.store(on, Ordering::SeqCst);
    }

    /// A GET of exactly the path (any query): the filter fetching keys, not a callout (whose
    /// path starts with the filter's `pathPrefix`).
    pub fn is_fetch(&self, req: &Request<Incoming>) -> bool {
        req.method() == hyper::Method::GET && req.uri().path() == self.path
    }

    /// Counts the fetch and answers it, knobs applied.
    pub async fn answer(&self) -> Response<Body> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let hung_since = std::time::Instant::now();
        while self.hung.load(Ordering::SeqCst) && hung_since.elapsed() < MAX_HANG {
            tokio::time::sleep(HANG_POLL).await;
        }
        match self.status.load(Ordering::SeqCst) {
            0 => response(
                200,
                &[("content-type".into(), "application/json".into())],
                self.document(),
            ),
            status => response(
                status,
                &[("content-type".into(), "text/plain".into())],
                format!("jwks unavailable ({status})\n"),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::jwks_service;
    use super::super::{AuthService, AuthState, Tokens};
    use super::*;
    use crate::client::Request;
    use std::net::SocketAddr;
    use std::time::Duration;

    #[test]
    fn serves_and_rotates_the_jwks_apart_from_callouts() {
        let (auth, mut issuer) = jwks_service();
        let fetch = || Request::get(DEFAULT_JWKS_PATH).send(auth.addr()).unwrap();
        let r = fetch();
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/json")
        );
        assert_eq!(r.body, issuer.jwks().as_bytes());
        // A callout in between: each counted on its own side.
        let r = Request::get("/check/x")
            .bearer("alice-token")
            .send(auth.addr())
            .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!((auth.jwks_fetches(), auth.calls()), (1, 1));
        assert_eq!(auth.callouts().len(), 1);
        assert_eq!(auth.callouts()[0].path, "/check/x");

        issuer.add_key(crate::jwt::KeyKind::P256, "ec-2").unwrap();
        issuer.unpublish("ed-1").unwrap();
        auth.set_jwks(&issuer.jwks());
        let rotated = fetch();
        assert_eq!(rotated.body, issuer.jwks().as_bytes());
        assert!(String::from_utf8_lossy(&rotated.body).contains("ec-2"));
        assert!(!String::from_utf8_lossy(&rotated.body).contains("ed-1"));

        auth.set_jwks_status(Some(503));
        // The callout knobs do not touch it, nor it them.
        auth.set_forced_status(Some(500));
        assert_eq!(fetch().status, 503);
        assert_eq!(
            Request::get("/check/x").send(auth.addr()).unwrap().status,
            500
        );
        auth.set_healthy();
        assert_eq!(fetch().status, 200);
        // Only GET of exactly the path is a fetch.
        let post = Request::new("POST", DEFAULT_JWKS_PATH)
            .send(auth.addr())
            .unwrap();
        assert_eq!(post.status, 401);
        let query = Request::get("/.well-known/jwks.json?x=1")
            .send(auth.addr())
            .unwrap();
        assert_eq!(query.status, 200);
        assert_eq!((auth.jwks_fetches(), auth.calls()), (5, 3));
        let recorded: Vec<(String, String)> = auth
            .callouts()
            .into_iter()
            .map(|c| (c.method, c.path))
            .collect();
        let expected = [
            ("GET", "/check/x"),
            ("GET", "/check/x"),
            ("POST", DEFAULT_JWKS_PATH),
        ];
        assert_eq!(
            recorded,
            expected.map(|(m, p)| (m.to_string(), p.to_string()))
        );
        auth.reset();
        assert_eq!((auth.jwks_fetches(), auth.calls()), (0, 0));
    }

    #[test]
    fn jwks_path_can_be_moved() {
        let state = AuthState::new(Tokens::example(), "/check")
            .with_jwks_path("/keys")
            .with_jwks(r#"{"keys":[{"kid":"k"}]}"#);
        assert_eq!(state.jwks_path(), "/keys");
        let auth = AuthService::spawn(SocketAddr::from(([127, 0, 0, 1], 0)), 1, state).unwrap();
        let r = Request::get("/keys").send(auth.addr()).unwrap();
        assert_eq!(
            (r.status, r.body.as_slice()),
            (200, &br#"{"keys":[{"kid":"k"}]}"#[..])
        );
        assert_eq!(
            Request::get(DEFAULT_JWKS_PATH)
                .send(auth.addr())
                .unwrap()
                .status,
            401
        );
        assert_eq!((auth.jwks_fetches(), auth.calls()), (1, 1));
        // Nothing given: an empty set.
        let bare = AuthService::example().unwrap();
        let r = Request::get(DEFAULT_JWKS_PATH).send(bare.addr()).unwrap();
        assert_eq!(r.body, br#"{"keys":[]}"#);
    }

    #[test]
    fn hung_jwks_never_answers_while_callouts_do() {
        let (auth, _issuer) = jwks_service();
        auth.set_jwks_hung(true);
        let mut stream = std::net::TcpStream::connect(auth.addr()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let request = Request::get(DEFAULT_JWKS_PATH).to_bytes("auth");
        std::io::Write::write_all(&mut stream, &request).unwrap();
        let mut buf = [0u8; 512];
        let read = std::io::Read::read(&mut stream, &mut buf);
        assert!(
            matches!(&read, Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)),
            "a hung JWKS answered: {read:?}"
        );
        assert_eq!(auth.jwks_fetches(), 1);
        let r = Request::get("/check/x")
            .bearer("bob-token")
            .send(auth.addr())
            .unwrap();
        assert_eq!(r.status, 200);
        auth.set_jwks_hung(false);
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let r = crate::client::read_response(&mut stream, "auth").unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(auth.calls(), 1);
    }
}
