//! The request both gRPC parity checks send (through Envoy's native gRPC ext_authz and through
//! mesh-authz in gRPC mode), and what each CheckRequest must say of it alike.

use super::messages::HttpRequest;
use crate::client::Request;

/// A query with an escaped space, a repeated header, a trace header and a header not forwarded.
pub fn request() -> Request {
    Request::get("/api/items?page=2&q=a%20b")
        .header("authorization", "Bearer alice-token")
        .header("cookie", "a=1")
        .header("cookie", "b=2")
        .header(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        .header("x-other", "not-allowed")
}

/// The `attributes.request.http` fields Envoy's own filter sends for `request()`: the query in
/// `path` (and `query` empty), no pseudo-headers, only the allowed headers (and Envoy's
/// `x-request-id`), repeated values joined with `,`, no body.
pub fn assert_http_as_envoy_sends(http: &HttpRequest) {
    assert_eq!(http.method, "GET");
    assert_eq!(
        http.path, "/api/items?page=2&q=a%20b",
        "the query travels in path"
    );
    assert_eq!(http.query, "");
    assert_eq!(http.host, "localhost");
    assert_eq!(http.scheme, "http");
    assert_eq!(http.protocol, "HTTP/1.1");
    assert_eq!(http.size, 0);
    assert!(!http.id.is_empty(), "a request id");
    let mut names: Vec<&str> = http.headers.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(
        names,
        ["authorization", "cookie", "traceparent", "x-request-id"]
    );
    assert_eq!(
        http.headers.get("cookie").map(String::as_str),
        Some("a=1,b=2"),
        "repeated values joined with ','"
    );
}
