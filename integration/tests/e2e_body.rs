//! A request with a body must not reach the upstream before it is authorized: its body (sent before
//! or during the callout) is held until the decision, then passed on whole on allow, dropped on deny.

#![cfg(test)]

use mesh_authz_integration::client::read_response;
use mesh_authz_integration::echo::Echoed;
use mesh_authz_integration::require_prerequisites;
use mesh_authz_integration::stack::Stack;
use std::io::Write;
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

fn slow_stack(p: &mesh_authz_integration::paths::Prerequisites) -> Stack {
    let s = Stack::builder(p)
        .unwrap()
        .config(|c| c["authService"]["timeoutMs"] = 5000.into())
        .start()
        .unwrap();
    s.auth.state().set_latency(Duration::from_millis(400));
    s
}

/// Sends the head, then the body a moment later (while the callout is in flight), and reads the answer.
fn post_in_two_parts(s: &Stack, path: &str, token: &str, body: &[u8]) -> (u16, String) {
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer {token}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let mut c = TcpStream::connect(s.envoy.listen_addr().unwrap()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(head.as_bytes()).unwrap();
    thread::sleep(Duration::from_millis(150));
    c.write_all(body).unwrap();
    let r = read_response(&mut c, "envoy").unwrap();
    (r.status, r.text())
}

fn upstream_requests(s: &Stack) -> u64 {
    s.envoy.counter("cluster.echo.upstream_rq_total").unwrap()
}

#[test]
fn a_denied_request_body_never_reaches_the_upstream() {
    let p = require_prerequisites!();
    let s = slow_stack(&p);
    let (status, _) =
        post_in_two_parts(&s, "/admin/pay", "bob-token", b"amount=1000000&to=mallory");
    assert_eq!(status, 403);
    let (status, _) = post_in_two_parts(&s, "/pay", "stolen-token", b"amount=1000000&to=mallory");
    assert_eq!(status, 401);
    assert_eq!(upstream_requests(&s), 0, "nothing went upstream");
}

#[test]
fn an_allowed_request_body_goes_upstream_after_the_decision() {
    let p = require_prerequisites!();
    let s = slow_stack(&p);
    let (status, text) = post_in_two_parts(&s, "/pay", "alice-token", b"amount=5");
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("\"x-user-id\",\"alice\""), "{text}");
    let seen: Echoed = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (seen.body_len, seen.body_head.as_str()),
        (8, "amount=5"),
        "the whole body went on"
    );
    assert_eq!(upstream_requests(&s), 1);
}
