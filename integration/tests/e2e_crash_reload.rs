//! A VM that crashes comes back, and refuses every request meanwhile: Envoy's `failure_policy:
//! FAIL_RELOAD` (the checked-in bootstrap's) with the crash-test module, which traps on a request
//! carrying `x-mesh-authz-crash-test: trap` (`filter/src/crash_test.rs`).
//!
//! What Envoy does (source/extensions/common/wasm/wasm.cc, `maybeReloadHandleIfNeeded`): the
//! trapping request and every request after it get Envoy's own 503 with an empty body, without
//! the module, until a request arrives `base_interval` (jittered up to 1.5 times) after the VM
//! was last loaded; that request reloads the VM (a fresh one: configuration read again, its own
//! cache empty) and is decided by it. The reload is lazy: no request, no reload.
//!
//! The cache's shared level lives in Envoy's shared data, outside the VM: it survives the crash,
//! so with it on (the default) the first request after the reload is a shared-level hit (a
//! decision still inside its TTL, under the same configuration), and with it off it calls out.

#![cfg(test)]

use mesh_authz_integration::client::Request;
use mesh_authz_integration::envoy::overrides;
use mesh_authz_integration::require_prerequisites;
use mesh_authz_integration::stack::Stack;
use mesh_authz_integration::wait;
use std::time::Duration;

const CRASH_HEADER: &str = "x-mesh-authz-crash-test";

fn alice() -> Request {
    Request::get("/crash").bearer("alice-token")
}

/// What the first request after the reload shows about the caches.
#[derive(Debug, Clone, Copy, PartialEq)]
enum SharedLevel {
    On,
    Off,
}

#[test]
fn a_crashed_vm_refuses_everything_until_reloaded_with_its_own_cache_empty() {
    crash_and_reload(SharedLevel::Off);
}

#[test]
fn the_shared_cache_level_outlives_a_crashed_vm() {
    crash_and_reload(SharedLevel::On);
}

fn crash_and_reload(shared: SharedLevel) {
    let p = require_prerequisites!();
    let crash = match mesh_authz_integration::paths::crash_module() {
        Ok(Some(m)) => m,
        Ok(None) => return,
        Err(e) => panic!("{e}"),
    };
    // The backoff counts from the VM's load at start: at 5 s the crash below lands well inside
    // it, so requests meet the dead VM before the reload on any machine.
    let mut builder = Stack::builder(&p)
        .unwrap()
        .envoy_patch(overrides::slow_reload)
        .config(|c| {
            if shared == SharedLevel::Off {
                c["cache"]["sharedSlots"] = 0.into();
            }
        });
    builder.options.wasm = Some(crash);
    let s = builder.start().unwrap();
    let stat = |name: &str| s.envoy.counter(name).unwrap();
    let shared_hits = || stat("wasmcustom.mesh_authz_shared_cache_hits");

    // Decided normally: an allow, then the same from the cache, a deny.
    assert_eq!(s.send(&alice()).unwrap().status, 200);
    assert_eq!(s.send(&alice()).unwrap().status, 200);
    assert_eq!(s.auth.calls(), 1, "the second allow came from the cache");
    assert_eq!(s.send(&Request::get("/crash")).unwrap().status, 401);
    let upstream = s.upstream.count();
    assert_eq!(upstream, 2);
    let calls = s.auth.calls();
    let hits = shared_hits();

    let trapped = s.send(&alice().header(CRASH_HEADER, "trap")).unwrap();
    assert_eq!(
        trapped.status,
        503,
        "the trapping request: {}",
        trapped.text()
    );
    assert!(
        s.envoy
            .wait_for_log("proxy_on_request_headers failed", Duration::from_secs(5)),
        "the trap is in Envoy's log"
    );

    // Down: Envoy refuses every request itself, the credential the cache allowed included.
    let mut refused = 0;
    let mut back = None;
    wait::eventually("the VM reloaded", Duration::from_secs(20), || {
        let r = s.send(&alice()).unwrap();
        if r.status == 503 {
            assert_eq!(r.text(), "", "Envoy's own 503, not the module's onError");
            refused += 1;
            return false;
        }
        back = Some(r);
        true
    })
    .unwrap();
    assert!(
        refused > 0,
        "no request met the dead VM: the test showed nothing"
    );
    assert_eq!(stat("wasm.mesh_authz.vm_reload_success"), 1);
    assert!(
        stat("wasm.mesh_authz.vm_reload_backoff") >= refused,
        "each refusal was a backoff"
    );
    assert_eq!(
        s.upstream.count(),
        upstream + 1,
        "nothing reached the upstream while down, only the request the reloaded VM allowed"
    );

    // Back: the first request was decided by a fresh VM with its own cache empty: it asked the
    // auth service again, or found the decision in the shared level that outlived the VM.
    let back = back.unwrap();
    assert_eq!(back.status, 200, "{}", back.text());
    match shared {
        SharedLevel::Off => {
            assert_eq!(
                s.auth.calls(),
                calls + 1,
                "the reloaded VM's cache starts empty"
            );
            assert_eq!(shared_hits(), hits);
        }
        SharedLevel::On => {
            assert_eq!(s.auth.calls(), calls, "served from the shared level");
            assert_eq!(
                shared_hits(),
                hits + 1,
                "a shared hit: the VM's own cache was empty"
            );
        }
    }
    // Then the VM's own cache works again, and a deny is still a deny.
    let calls = s.auth.calls();
    let hits = shared_hits();
    assert_eq!(s.send(&alice()).unwrap().status, 200);
    assert_eq!(s.auth.calls(), calls, "cached again");
    assert_eq!(shared_hits(), hits, "in the VM's own cache");
    assert_eq!(s.send(&Request::get("/crash")).unwrap().status, 401);
    assert_eq!(
        s.upstream.count(),
        upstream + 2,
        "the two allows after the reload, and nothing else"
    );
}
