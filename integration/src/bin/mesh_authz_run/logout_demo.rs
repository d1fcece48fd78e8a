//! `make run`'s revocation demo, played for real at start: a user is allowed, then served from
//! the cache, logs out at the auth service, and is denied again once the feed reaches Envoy. It
//! returns the lines to print, each from what Envoy and the service answered (statuses, counter
//! changes, the measured delay), so a broken feed shows as a failed demo, not a canned story.
//!
//! The user is `carol`: a logout lasts as long as the service runs, and the lines printed for a
//! developer use alice and bob (and dave, left to log out by hand).

use mesh_authz_integration::auth::LOGOUT_PATH;
use mesh_authz_integration::client::Request;
use mesh_authz_integration::envoy::Envoy;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub const USER: &str = "carol";
pub const TOKEN: &str = "carol-token";
const PATH: &str = "/hello";
/// How often the revoked credential is asked again, and for how long at most: a feed read every
/// interval plus jitter, and a tick for the other workers to merge it, fit well inside.
const POLL: Duration = Duration::from_millis(50);
const GIVE_UP: Duration = Duration::from_secs(5);

const CALLOUTS: &str = "wasmcustom.mesh_authz_callouts";
const CACHE_HITS: &str = "wasmcustom.mesh_authz_cache_hits";
const DROPPED: &str = "wasmcustom.mesh_authz_revocation_dropped";

fn counter(envoy: &Envoy, name: &str) -> Result<u64, String> {
    envoy.counter(name).map_err(|e| e.to_string())
}

fn status(envoy: &Envoy) -> Result<u16, String> {
    envoy
        .send(&Request::get(PATH).bearer(TOKEN))
        .map(|r| r.status)
        .map_err(|e| format!("GET {PATH} as {USER}: {e}"))
}

/// Counters `names` before and after `f`, as differences.
fn counted<T>(
    envoy: &Envoy,
    names: [&str; 2],
    f: impl FnOnce() -> Result<T, String>,
) -> Result<(T, [u64; 2]), String> {
    let before = [counter(envoy, names[0])?, counter(envoy, names[1])?];
    let out = f()?;
    let after = [counter(envoy, names[0])?, counter(envoy, names[1])?];
    Ok((
        out,
        [
            after[0].saturating_sub(before[0]),
            after[1].saturating_sub(before[1]),
        ],
    ))
}

fn expect(what: &str, got: u16, want: u16) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: {got}, expected {want}"))
    }
}

/// Asks again every `POLL` until an answer comes from the cache (bounded in time): the counter
/// changes of that request, and how many were answered after a callout before it.
fn asked_until_cached(envoy: &Envoy) -> Result<([u64; 2], u32), String> {
    let start = Instant::now();
    let mut uncached = 0u32;
    loop {
        let (status, [callouts, hits]) = counted(envoy, [CALLOUTS, CACHE_HITS], || status(envoy))?;
        expect(&format!("GET {PATH} as {USER} again"), status, 200)?;
        if hits > 0 && callouts == 0 {
            return Ok(([callouts, hits], uncached));
        }
        if start.elapsed() > GIVE_UP {
            return Err(format!(
                "GET {PATH} as {USER} never served from the cache in {} s (the last: callouts +{callouts}, cache hits +{hits})",
                GIVE_UP.as_secs()
            ));
        }
        uncached += 1;
        std::thread::sleep(POLL);
    }
}

/// Asks as the logged-out user every `POLL` until denied (bounded in time, so in count too):
/// how many were still allowed, and the delay from `logged_out` to the denial.
fn asked_until_denied(envoy: &Envoy, logged_out: Instant) -> Result<(u32, Duration), String> {
    let mut served = 0u32;
    loop {
        let status = status(envoy)?;
        let elapsed = logged_out.elapsed();
        match status {
            401 => return Ok((served, elapsed)),
            200 if elapsed < GIVE_UP => served += 1,
            200 => {
                return Err(format!(
                    "{USER} still allowed {} ms after the logout: is the revocation feed followed?",
                    elapsed.as_millis()
                ))
            }
            other => return Err(format!("GET {PATH} as {USER} after the logout: {other}")),
        }
        std::thread::sleep(POLL);
    }
}

/// Plays the demo against a ready Envoy and the auth service at `auth`; the lines to print.
pub fn play(envoy: &Envoy, auth: SocketAddr) -> Result<Vec<String>, String> {
    let pair = [CALLOUTS, CACHE_HITS];
    let mut lines = Vec::new();

    let (first, [callouts, hits]) = counted(envoy, pair, || status(envoy))?;
    expect(&format!("first GET {PATH} as {USER}"), first, 200)
        .map_err(|e| format!("{e} (is {TOKEN} in the tokens file?)"))?;
    lines.push(format!(
        "GET {PATH} as {USER}:   {first} after a callout (mesh_authz_callouts +{callouts}, mesh_authz_cache_hits +{hits})"
    ));

    let (again, uncached) = asked_until_cached(envoy)?;
    if uncached > 0 {
        lines.push(format!(
            "GET {PATH} as {USER}:   200 after a callout, {uncached} more time(s): an answer landing so soon after a VM's start that it may have been decided before it is not cached (the start counts as a flush)"
        ));
    }
    lines.push(format!(
        "GET {PATH} as {USER}:   200 from the cache (mesh_authz_cache_hits +{}, mesh_authz_callouts +{})",
        again[1], again[0]
    ));

    let out = Request::new("POST", LOGOUT_PATH)
        .bearer(TOKEN)
        .send(auth)
        .map_err(|e| format!("POST {LOGOUT_PATH} as {USER}: {e}"))?;
    expect(&format!("POST {LOGOUT_PATH} as {USER}"), out.status, 204)?;
    let logged_out = Instant::now();
    lines.push(format!(
        "POST http://{auth}{LOGOUT_PATH} as {USER}: {} (the auth service denies {USER} from now on; Envoy still holds the cached allow)",
        out.status
    ));

    let dropped_before = counter(envoy, DROPPED)?;
    let ((served, denied_after), [callouts, hits]) =
        counted(envoy, pair, || asked_until_denied(envoy, logged_out))?;
    let dropped = counter(envoy, DROPPED)?.saturating_sub(dropped_before);
    lines.push(format!(
        "GET {PATH} as {USER}:   401, {} ms after the logout: the feed reached Envoy, which dropped the cached allow (mesh_authz_revocation_dropped +{dropped}) and asked again (mesh_authz_callouts +{callouts}); the {served} requests before got the cached 200 (mesh_authz_cache_hits +{hits})",
        denied_after.as_millis()
    ));
    Ok(lines)
}
