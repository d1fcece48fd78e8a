//! JWKS fetches: dispatched by the root context (never a request's, so that a fetch outlives the
//! request that asked for it), their answers handed to the core, and the requests that waited
//! for keys run again. When to fetch and what the keys are is the core's (`jwt::fetch`).

use crate::abi::{pairs, CALL_RESPONSE_BODY, CALL_RESPONSE_HEADERS};
use crate::hostcalls::Hostcalls;
use crate::stream;
use crate::vm;
use mesh_authz_core::flow::KeyFetch;
use mesh_authz_core::jwt::fetch;
use std::borrow::Cow;

/// The tick (and the configuration's start): fetches due, and requests to decide again.
pub fn tick(h: &impl Hostcalls, root_id: u32) {
    let planned = vm::with(|vm| {
        let root = vm.roots.get_mut(&root_id)?;
        let host = root.host(h);
        Some(root.gate.tick(&host))
    })
    .flatten();
    let Some((fetches, rerun)) = planned else {
        return;
    };
    for fetch in fetches {
        dispatch(h, root_id, fetch);
    }
    stream::run_again(h, &rerun);
}

/// Dispatches `fetch` from root `root_id`; the effective context is left on the root.
pub fn dispatch(h: &impl Hostcalls, root_id: u32, fetch: KeyFetch) {
    let result = match fetch.request() {
        Some(r) => {
            let headers: Vec<(&str, Cow<'_, [u8]>)> = r
                .headers
                .into_iter()
                .map(|(n, v)| (n, Cow::Borrowed(v)))
                .collect();
            h.set_effective_context(root_id)
                .and_then(|()| h.http_call(r.cluster, &headers, r.timeout_ms))
                .map_err(|s| s.to_string())
        }
        None => Err("no remote JWKS for this provider".to_string()),
    };
    vm::with(|vm| {
        if let Some(root) = vm.roots.get_mut(&root_id) {
            root.gate.keys_dispatched(fetch, result);
        }
    });
}

/// The answer to callout `token` if it was a JWKS fetch (`false`: it was not, nothing done).
pub fn on_answer(
    h: &impl Hostcalls,
    root_id: u32,
    token: u32,
    num_headers: usize,
    body_size: usize,
) -> bool {
    let ours = vm::with(|vm| {
        vm.roots
            .get(&root_id)
            .is_some_and(|r| r.gate.is_key_fetch(token))
    })
    .unwrap_or(false);
    if !ours {
        return false;
    }
    let body = read(h, num_headers, body_size);
    let landed = vm::with(|vm| {
        let root = vm.roots.get_mut(&root_id)?;
        let host = root.host(h);
        root.gate
            .keys_answered(&host, token, body.as_deref().map_err(Clone::clone))
    })
    .flatten();
    if let Some(landed) = landed {
        stream::run_again(h, &landed.rerun);
    }
    true
}

/// The JWKS document of a 200 answer, or why there is none (the core says which answers are one).
fn read(h: &impl Hostcalls, num_headers: usize, body_size: usize) -> Result<Vec<u8>, String> {
    let raw = if num_headers == 0 {
        None
    } else {
        Some(
            h.header_map(CALL_RESPONSE_HEADERS)
                .map_err(|s| format!("answer headers unreadable ({s})"))?,
        )
    };
    let headers = match &raw {
        Some(raw) => pairs(raw).map_err(|e| format!("answer headers unreadable ({e})"))?,
        None => Vec::new(),
    };
    let status = raw.as_ref().map(|_| {
        headers
            .iter()
            .find(|(n, _)| *n == ":status")
            .map_or(&b""[..], |(_, v)| *v)
    });
    let wanted = fetch::body_to_read(status, body_size)?;
    h.buffer(CALL_RESPONSE_BODY, wanted.max(1))
        .map_err(|s| format!("body unreadable ({s})"))
}
