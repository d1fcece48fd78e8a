//! Fuzzing the host's header-map decoding (`abi::pairs`), which reads what Envoy hands over for
//! request headers and for the auth service's answer: any bytes decode or fail cleanly, never
//! panic or read past the buffer; what `serialize` writes decodes to the same pairs; a map whose
//! lengths or count lie is refused rather than misread. `make test` runs a bounded number of cases
//! (PROPTEST_CASES), `make fuzz` many more.

#![cfg(test)]

use mesh_authz::abi::{pairs, serialize};
use proptest::collection::vec;
use proptest::prelude::*;

fn header() -> impl Strategy<Value = (String, Vec<u8>)> {
    ("[:a-z0-9_-]{0,12}", vec(any::<u8>(), 0..40))
}

proptest! {
    #[test]
    fn any_bytes_decode_or_fail_cleanly(buf in vec(any::<u8>(), 0..256)) {
        if let Ok(decoded) = pairs(&buf) {
            // Whatever decodes lies inside the buffer.
            let total: usize = decoded.iter().map(|(n, v)| n.len() + v.len()).sum();
            prop_assert!(total <= buf.len());
        }
    }

    #[test]
    fn what_is_written_reads_back(headers in vec(header(), 0..12)) {
        let borrowed: Vec<(&str, &[u8])> =
            headers.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect();
        let bytes = serialize(&borrowed);
        prop_assert_eq!(pairs(&bytes).unwrap(), borrowed);
    }

    /// A map cut short, or with one of its length fields changed, is refused or decodes to
    /// values that still lie inside the buffer; it never panics.
    #[test]
    fn damaged_maps_never_panic(
        headers in vec(header(), 1..8),
        cut in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        to in any::<u32>(),
    ) {
        let borrowed: Vec<(&str, &[u8])> =
            headers.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect();
        let bytes = serialize(&borrowed);
        let short = &bytes[..cut.index(bytes.len())];
        prop_assert!(pairs(short).map_or(true, |p| p.len() <= borrowed.len()));
        let mut lying = bytes.clone();
        let field = at.index(1 + 2 * borrowed.len()) * 4;
        lying[field..field + 4].copy_from_slice(&to.to_le_bytes());
        if let Ok(decoded) = pairs(&lying) {
            let total: usize = decoded.iter().map(|(n, v)| n.len() + v.len()).sum();
            prop_assert!(total <= lying.len());
        }
    }
}
