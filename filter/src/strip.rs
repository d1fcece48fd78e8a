//! A client can never bring its own identity: every spelling of a configured identity header
//! (`mesh_authz_core::identity`) is removed from the request headers and from the request
//! trailers, whatever the request turns out to be (bypassed ones included).

use crate::abi::{self, HostStatus, MapType, REQUEST_TRAILERS};
use crate::stream::{self, Flow};
use crate::vm;
use mesh_authz_core::identity;

/// Removes from `map` every name among `present` that spells one of `identity`. Removing a name
/// removes all its values. On failure, the name that could not be removed.
pub fn forged<'a>(
    map: MapType,
    present: impl IntoIterator<Item = &'a str>,
    identity: &[String],
) -> Result<(), (&'a str, HostStatus)> {
    for name in identity::forged(present, identity) {
        abi::remove_header(map, name).map_err(|s| (name, s))?;
    }
    Ok(())
}

/// Request trailers: strip, then hold them while the request waits on its callout.
///
/// Failing closed here is a local 500 as at request headers: the request's end (these trailers)
/// has not gone upstream, and Envoy turns a local reply into a reset of both sides when the
/// upstream's response has already started, so the forged trailer never reaches the upstream.
pub fn on_request_trailers(ctx: u32) -> Flow {
    let identity = vm::with(|vm| {
        let root = vm.roots.get(&vm.streams.get(&ctx)?.root)?;
        Some(root.authorizer.as_ref()?.config().identity_headers.clone())
    });
    let Some(identity) = identity.flatten() else {
        return stream::fail_closed(ctx, format_args!("trailers of an unknown request"));
    };
    if !identity.is_empty() {
        let raw = match abi::header_map(REQUEST_TRAILERS) {
            Ok(raw) => raw,
            Err(s) => {
                return stream::fail_closed(
                    ctx,
                    format_args!("could not read request trailers ({s})"),
                )
            }
        };
        let trailers = match abi::pairs(&raw) {
            Ok(t) => t,
            Err(e) => {
                return stream::fail_closed(
                    ctx,
                    format_args!("could not parse request trailers ({e})"),
                )
            }
        };
        if let Err((name, s)) = forged(
            REQUEST_TRAILERS,
            trailers.iter().map(|(n, _)| *n),
            &identity,
        ) {
            return stream::fail_closed(
                ctx,
                format_args!("could not remove client-sent trailer {name} ({s})"),
            );
        }
    }
    if stream::is_waiting(ctx) {
        Flow::Pause
    } else {
        Flow::Continue
    }
}
