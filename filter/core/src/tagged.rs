//! Header values tagged with their name's index in a config list (`identityHeaders`, `denyHeaders`),
//! packed into one allocation: per header, the index (u8), the value's length (u32 LE), the value.
//! A cached decision is mostly these values, so one allocation instead of one per value keeps an
//! entry small (under 200 bytes of VM memory per entry, the figure `make bench-memory` checks).

use std::fmt;

#[derive(Clone, PartialEq, Eq, Default)]
pub struct TaggedHeaders(Box<[u8]>);

impl TaggedHeaders {
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (u8, &'a [u8])>) -> Self {
        let mut out = Vec::new();
        for (index, value) in pairs {
            // A header value over 4 GiB cannot come from Envoy; such a value is dropped, not wrapped.
            let Ok(len) = u32::try_from(value.len()) else {
                continue;
            };
            out.push(index);
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(value);
        }
        TaggedHeaders(out.into_boxed_slice())
    }

    /// The packed form, as the shared cache level stores it.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The packed form read back (from shared data): `None` unless it parses to the end.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let mut rest = bytes;
        while !rest.is_empty() {
            let (_, _, tail) = next(rest)?;
            rest = tail;
        }
        Some(TaggedHeaders(bytes.into()))
    }

    pub fn iter(&self) -> impl Iterator<Item = (u8, &[u8])> {
        let mut rest: &[u8] = &self.0;
        std::iter::from_fn(move || {
            let (index, value, tail) = next(rest)?;
            rest = tail;
            Some((index, value))
        })
    }
}

fn next(bytes: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&index, rest) = bytes.split_first()?;
    let len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    let value = rest.get(4..4usize.checked_add(len)?)?;
    Some((index, value, rest.get(4 + len..)?))
}

/// Names by index and value lengths only: values may be cookies or personal data.
impl fmt::Debug for TaggedHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|(i, v)| (i, v.len())))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_in_order_with_repeats_and_empty_values() {
        let pairs: [(u8, &[u8]); 4] = [(0, b"alice"), (2, b"a"), (2, b""), (1, b"\xff\x00")];
        let t = TaggedHeaders::from_pairs(pairs);
        assert_eq!(t.iter().collect::<Vec<_>>(), pairs);
        assert_eq!(TaggedHeaders::from_bytes(t.as_bytes()), Some(t));
        assert!(TaggedHeaders::default().as_bytes().is_empty());
    }

    #[test]
    fn truncated_bytes_are_rejected() {
        let t = TaggedHeaders::from_pairs([(0, b"alice".as_slice())]);
        for cut in 1..t.as_bytes().len() {
            assert_eq!(
                TaggedHeaders::from_bytes(&t.as_bytes()[..cut]),
                None,
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn debug_never_shows_values() {
        let t = TaggedHeaders::from_pairs([(0, b"session=secret".as_slice())]);
        assert!(!format!("{t:?}").contains("secret"));
    }
}
