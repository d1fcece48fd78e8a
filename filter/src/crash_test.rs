//! A deliberate VM crash, for the end-to-end test of Envoy's `FAIL_RELOAD` only: built with the
//! `crash-test` feature (off in the shipped module, `make crash-test-module` builds it into its
//! own file), the module traps when the request headers it reads carry `HEADER: VALUE`.
//!
//! The trap sits under the hostcall that reads the request headers (`wasm::Abi::header_map`), so
//! the request flow itself is the shipped one: what the test shows after the reload (decisions,
//! empty caches) is what the real module does after a crash.

use crate::abi::{pairs, MapType, REQUEST_HEADERS};

/// The request header that makes the crash-test module trap, and the value it must have.
pub const HEADER: &str = "x-mesh-authz-crash-test";
pub const VALUE: &[u8] = b"trap";

/// Whether `raw` (a header map as the host encodes it) asks for the crash. Only the request
/// headers count, so a callout answer carrying the header cannot crash the VM.
pub fn asks_for_crash(map: MapType, raw: &[u8]) -> bool {
    map == REQUEST_HEADERS
        && pairs(raw).is_ok_and(|p| {
            p.iter()
                .any(|(name, value)| name.eq_ignore_ascii_case(HEADER) && *value == VALUE)
        })
}

/// Traps when `raw` asks for it: the VM dies as it would on a bug (a Wasm runtime error, which
/// is what `FAIL_RELOAD` reloads), not through a handled error path.
#[cfg(target_arch = "wasm32")]
pub fn trap_if_asked(map: MapType, raw: &[u8]) {
    if asks_for_crash(map, raw) {
        // The one deliberate trap in the code base, in a module that never ships. Not `panic!`
        // (denied by clippy, and the panic hook would log first): the Wasm `unreachable`
        // instruction is the runtime error itself, with nothing of ours running after it.
        core::arch::wasm32::unreachable();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::{serialize, CALL_RESPONSE_HEADERS, REQUEST_TRAILERS};

    #[test]
    fn only_the_request_headers_with_the_exact_value_ask_for_the_crash() {
        let asking = serialize(&[(":path", "/"), ("X-Mesh-Authz-Crash-Test", "trap")]);
        let other_value = serialize(&[(HEADER, "trap ")]);
        let absent = serialize(&[(":path", "/"), ("x-mesh-authz-crash", "trap")]);
        let cases = [
            (REQUEST_HEADERS, &asking, true),
            (REQUEST_HEADERS, &other_value, false),
            (REQUEST_HEADERS, &absent, false),
            (REQUEST_TRAILERS, &asking, false),
            (CALL_RESPONSE_HEADERS, &asking, false),
        ];
        for (map, raw, expected) in cases {
            assert_eq!(asks_for_crash(map, raw), expected, "{map:?}");
        }
    }

    #[test]
    fn a_malformed_map_asks_for_nothing() {
        assert!(!asks_for_crash(REQUEST_HEADERS, &[9, 0, 0, 0, 1]));
        assert!(!asks_for_crash(REQUEST_HEADERS, &[]));
    }
}
