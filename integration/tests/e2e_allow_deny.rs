//! Allow with identity injected, forged identity removed, deny passthrough (401, 302, 403), the
//! shape of the callout as the auth service saw it, bypass.

use mesh_authz_integration::auth::REASON_HEADER;
use mesh_authz_integration::client::Request;
use mesh_authz_integration::echo::Echoed;
use mesh_authz_integration::require_prerequisites;
use mesh_authz_integration::stack::Stack;

#[test]
fn allow_injects_identity() {
    let p = require_prerequisites!();
    let s = Stack::start(&p).unwrap();
    let r = s
        .send(&Request::get("/hello?x=1").bearer("alice-token"))
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let seen: Echoed = r.json().unwrap();
    assert_eq!(seen.path, "/hello?x=1");
    assert_eq!(seen.header_all("x-user-id"), ["alice"]);
    assert_eq!(seen.header_all("x-user-roles"), ["admin"]);
    assert_eq!(seen.header_all("x-tenant-id"), ["acme"]);
    // The service's other headers are not identity: they stay out of the upstream request.
    assert_eq!(seen.header(REASON_HEADER), None);
    assert_eq!(s.auth.calls(), 1);

    // A session cookie works as well.
    let r = s
        .send(&Request::get("/hello").header("cookie", "theme=dark; session=bob-token"))
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.json::<Echoed>().unwrap().header_all("x-user-id"), ["bob"]);
}
