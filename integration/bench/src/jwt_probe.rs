//! Before a JWT variant is timed, its Envoy must behave as named: a tampered token is refused
//! with 401 and no callout, a valid one is allowed, and the auth service is called exactly when
//! the checker is meant to call it (gate mode: once for a token's first request, never again
//! while its decision is cached; jwt_authn and authenticate mode: never). A forged variant's own
//! token (random signature, no `kid`) must be refused the same way.

use crate::conn::{get_with_bearer, Conn};
use crate::jwt_pool::TokenPool;
use crate::jwt_variant::{Checker, JwtVariant};
use crate::rig::{Case, PATH};
use mesh_authz_integration::auth::AuthService;
use std::net::SocketAddr;

/// One request and the callouts it caused.
fn send(conn: &mut Conn, auth: &AuthService, token: &str) -> Result<(u16, u64), String> {
    let before = auth.calls();
    let status = conn
        .exchange(&get_with_bearer(PATH, token))
        .map_err(|e| e.to_string())?;
    Ok((status, auth.calls().saturating_sub(before)))
}

pub fn probe(
    case: &Case,
    j: JwtVariant,
    addr: SocketAddr,
    pool: &TokenPool,
    auth: &AuthService,
) -> Result<(), String> {
    let id = case.id();
    let mut conn = Conn::new(addr);
    let (status, calls) = send(&mut conn, auth, &pool.tampered)?;
    if (status, calls) != (401, 0) {
        return Err(format!(
            "{id}: a token with a tampered payload got {status} after {calls} callout(s), not 401 without a callout"
        ));
    }
    if j.load.is_forged() {
        let forged = pool.forged_probe(j.load)?;
        let (status, calls) = send(&mut conn, auth, &forged)?;
        if (status, calls) != (401, 0) {
            return Err(format!(
                "{id}: a forged token ({:?}) got {status} after {calls} callout(s), not 401 without a callout",
                j.load
            ));
        }
    }
    // The first request with a valid token, then the same token again.
    let first = if j.checker == Checker::Gate { 1 } else { 0 };
    for (attempt, expected) in [("first", first), ("repeated", 0)] {
        let (status, calls) = send(&mut conn, auth, &pool.one)?;
        if (status, calls) != (200, expected) {
            return Err(format!(
                "{id}: the {attempt} request with a valid token got {status} after {calls} callout(s), expected 200 after {expected}"
            ));
        }
    }
    Ok(())
}
