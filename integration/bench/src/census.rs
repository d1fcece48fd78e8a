//! What one request costs inside the module, per path, counted rather than timed: the adapter is
//! driven through each path by the fake host (`mesh_authz::fake`), which counts every hostcall and
//! the bytes each way; the VM entries are the `proxy_on_*` calls Envoy makes for that path; the
//! allocations are counted by this binary's allocator while module code runs (the fake host's own
//! work is not counted), plus one for every buffer the host hands over (in a real VM the module
//! allocates it for the host through `proxy_on_memory_allocate`).
//!
//! Deterministic: the same figures on every machine, so a change that adds a hostcall, a VM entry
//! or an allocation on a path shows in the report.

use mesh_authz::abi::Status;
use mesh_authz::context::{on_configure, on_context_create, on_delete};
use mesh_authz::fake::{in_host, Census, FakeHost};
use mesh_authz::stream::{on_callout_answer, on_request_headers};
use serde::{Deserialize, Serialize};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Counts the allocations made on this thread while counting is on and the fake host is not at work.
pub struct CountingAlloc;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let counting = COUNTING.try_with(Cell::get).unwrap_or(false);
        if counting && !in_host() {
            let _ = ALLOCATIONS.try_with(|a| a.set(a.get() + 1));
        }
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

/// One path's costs, per request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PathCost {
    pub path: String,
    pub vm_entries: u64,
    pub hostcalls: u64,
    pub allocations: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

const ROOT: u32 = 1;
/// The local example's configuration shape: three identity headers, `accept` forwarded.
const CONFIG: &str = r#"{"authService": {"cluster": "auth", "authority": "auth.local", "pathPrefix": "/check",
  "forwardHeaders": ["authorization", "cookie", "accept"],
  "traceHeaders": ["x-request-id", "traceparent"]},
  "identityHeaders": ["x-user-id", "x-user-roles", "x-tenant-id"],
  "bypass": [{"pathPrefix": "/healthz"}, {"corsPreflight": true}]}"#;
const ALLOW: &[(&str, &str)] = &[
    (":status", "200"),
    ("x-user-id", "alice"),
    ("x-user-roles", "admin"),
    ("x-tenant-id", "acme"),
    ("content-length", "0"),
];

fn request(path: &str, token: &str) -> Vec<(&'static str, String)> {
    vec![
        (":method", "GET".into()),
        (":path", path.into()),
        (":authority", "shop.example".into()),
        (":scheme", "http".into()),
        ("user-agent", "mesh-authz-bench".into()),
        ("accept", "*/*".into()),
        ("authorization", format!("Bearer {token}")),
        (
            "x-request-id",
            "5f8e2a9c-1b7d-4e3f-9a6b-2c4d8e1f0a3b".into(),
        ),
        ("x-forwarded-proto", "http".into()),
    ]
}

/// Counts what `f` costs.
fn measure(h: &FakeHost, entries: u64, f: impl FnOnce()) -> (u64, Census, u64) {
    h.census.set(Census::default());
    ALLOCATIONS.with(|a| a.set(0));
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    let c = h.census.get();
    let allocations = ALLOCATIONS.with(Cell::get) + c.host_buffers;
    (entries, c, allocations)
}

/// Gives request `ctx` its headers (host work, not counted).
fn prepare(h: &FakeHost, ctx: u32, path: &str, token: &str) {
    let req = request(path, token);
    let borrowed: Vec<(&str, &str)> = req.iter().map(|(n, v)| (*n, v.as_str())).collect();
    h.request(ctx, &borrowed);
}

fn arrive(h: &FakeHost, ctx: u32) -> Status {
    on_context_create(ctx, ROOT);
    h.enter(ctx);
    on_request_headers(h, ctx, true)
}

fn answer(h: &FakeHost, token: u32) {
    h.enter(ROOT);
    on_callout_answer(h, ROOT, token, ALLOW.len(), 0);
}

fn done(h: &FakeHost, ctx: u32) {
    h.enter(ctx);
    on_delete(h, ctx);
}

fn cost(path: &str, (entries, c, allocations): (u64, Census, u64), requests: u64) -> PathCost {
    let per = |n: u64| n.div_ceil(requests);
    PathCost {
        path: path.into(),
        vm_entries: per(entries),
        hostcalls: per(c.hostcalls),
        allocations: per(allocations),
        bytes_in: per(c.bytes_in),
        bytes_out: per(c.bytes_out),
    }
}

/// Each path once (the waiter as the share of one request that joins another's callout).
pub fn run() -> Result<Vec<PathCost>, String> {
    let h = FakeHost::with_config(CONFIG);
    on_context_create(ROOT, 0);
    h.enter(ROOT);
    if !on_configure(&h, ROOT, CONFIG.len()) {
        return Err("census: the configuration was refused".into());
    }
    h.answer(ALLOW, "");
    for (ctx, path, token) in [
        (10, "/healthz", "alice"),
        (20, "/items", "alice"),
        (30, "/items", "alice"),
        (40, "/other", "bob"),
        (41, "/other", "bob"),
    ] {
        prepare(&h, ctx, path, token);
    }
    let mut out = Vec::new();
    // bypass: create, headers, delete.
    let bypass = measure(&h, 3, || {
        arrive(&h, 10);
        done(&h, 10);
    });
    out.push(cost("bypass", bypass, 1));
    // miss: create, headers, the callout's answer, delete.
    let miss = measure(&h, 4, || {
        arrive(&h, 20);
        answer(&h, 1);
        done(&h, 20);
    });
    out.push(cost("miss", miss, 1));
    // hit: the decision the miss cached.
    let hit = measure(&h, 3, || {
        arrive(&h, 30);
        done(&h, 30);
    });
    out.push(cost("hit", hit, 1));
    // waiter: a miss and a request that joins it; the waiter's share is the pair minus a miss.
    let pair = measure(&h, 7, || {
        arrive(&h, 40);
        arrive(&h, 41);
        answer(&h, 2);
        done(&h, 40);
        done(&h, 41);
    });
    let (e, c, a) = pair;
    let (me, mc, ma) = miss;
    let waiter = Census {
        hostcalls: c.hostcalls.saturating_sub(mc.hostcalls),
        bytes_in: c.bytes_in.saturating_sub(mc.bytes_in),
        bytes_out: c.bytes_out.saturating_sub(mc.bytes_out),
        host_buffers: c.host_buffers.saturating_sub(mc.host_buffers),
    };
    out.push(cost("waiter", (e - me, waiter, a.saturating_sub(ma)), 1));
    out.extend(tokens()?);
    Ok(out)
}

/// Authenticate mode (`claimHeaders` `sub`, no auth service): a token seen for the first time
/// (its signature checked in the VM: the fake host has no `verify_signature`) and the same token
/// again (from the verified-token cache).
fn tokens() -> Result<Vec<PathCost>, String> {
    use mesh_authz_integration::jwt::{Claims, Issuer, KeyKind};
    let mut issuer = Issuer::new("https://id.example.com");
    issuer
        .add_key(KeyKind::Ed25519, "ed-1")
        .map_err(|e| format!("census: {e}"))?;
    let config = serde_json::json!({
        "identityHeaders": ["x-user-id", "x-user-roles", "x-tenant-id"],
        "jwt": {"mode": "authenticate", "providers": [{
            "name": "corp", "issuer": "https://id.example.com", "algorithms": ["EdDSA"],
            "jwks": {"inline": issuer.jwks()}, "claimHeaders": {"sub": "x-user-id"},
        }]},
    })
    .to_string();
    let token = issuer
        .token(&Claims::new().sub("alice").exp_in(3600))
        .map_err(|e| format!("census: {e}"))?;
    let h = FakeHost::with_config(&config);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    h.now_ms.set(now_ms);
    on_context_create(ROOT, 0);
    h.enter(ROOT);
    if !on_configure(&h, ROOT, config.len()) {
        return Err("census: the token configuration was refused".into());
    }
    for ctx in [50, 60] {
        prepare(&h, ctx, "/items", &token);
    }
    let mut out = Vec::new();
    for (path, ctx) in [("jwt-new", 50), ("jwt-hit", 60)] {
        let mut flow = Status::Pause;
        let counted = measure(&h, 3, || {
            flow = arrive(&h, ctx);
            done(&h, ctx);
        });
        if flow != Status::Continue {
            return Err(format!("census: {path}: the token was not allowed"));
        }
        out.push(cost(path, counted, 1));
    }
    Ok(out)
}

/// The census as a table.
pub fn table(costs: &[PathCost]) -> String {
    let mut s = String::from(
        "per request inside the module (counted with a fake host; the same on every machine):\n\
         path      VM entries  hostcalls  allocations  bytes in  bytes out\n",
    );
    for c in costs {
        s.push_str(&format!(
            "{:<9} {:>10} {:>10} {:>12} {:>9} {:>10}\n",
            c.path, c.vm_entries, c.hostcalls, c.allocations, c.bytes_in, c.bytes_out
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_is_counted_and_a_hit_costs_less_than_a_miss() {
        let costs = run().unwrap();
        let by = |p: &str| costs.iter().find(|c| c.path == p).unwrap().clone();
        let (bypass, hit, miss, waiter) = (by("bypass"), by("hit"), by("miss"), by("waiter"));
        assert!(bypass.hostcalls > 0 && bypass.bytes_in > 0);
        assert!(hit.hostcalls < miss.hostcalls, "{hit:?} vs {miss:?}");
        assert!(miss.vm_entries == 4 && hit.vm_entries == 3 && waiter.vm_entries == 3);
        assert!(waiter.hostcalls < miss.hostcalls);
        assert!(table(&costs).contains("waiter"));
        let (new, again) = (by("jwt-new"), by("jwt-hit"));
        assert!(again.allocations < new.allocations, "{again:?} vs {new:?}");
        assert_eq!(again.vm_entries, 3);
    }
}
