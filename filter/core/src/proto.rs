//! The few bits of the protobuf wire format the module speaks: to Envoy's foreign functions (the
//! JWT signature check) and to a gRPC auth service (`grpc`). Length-delimited and varint fields
//! written, and a message read field by field. Written by hand because a handful of messages do not
//! justify a protobuf runtime and code generator in the module. Reading never trusts a length and
//! never panics: a truncated or garbled message is `None`.

/// One field's value as it travels; fixed-width ones are skipped, not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

/// Appends field `field` as length-delimited bytes (wire type 2): a string, bytes, or an embedded
/// message already written.
pub fn put_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_varint(out, u64::from(field) << 3 | 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Appends field `field` as a varint (wire type 0): an integer, a bool or an enum.
pub fn put_uint(out: &mut Vec<u8>, field: u32, v: u64) {
    put_varint(out, u64::from(field) << 3);
    put_varint(out, v);
}

/// Appends field `field` as an embedded message that `write` fills in; the length is known only
/// once it is written, so it is written to its own buffer first.
pub fn put_message(out: &mut Vec<u8>, field: u32, write: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::new();
    write(&mut inner);
    put_bytes(out, field, &inner);
}

/// Appends one entry of a `map<string, string>` field: on the wire, a message with the key as
/// field 1 and the value as field 2.
pub fn put_map_entry(out: &mut Vec<u8>, field: u32, key: &[u8], value: &[u8]) {
    put_message(out, field, |e| {
        put_bytes(e, 1, key);
        put_bytes(e, 2, value);
    });
}

pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v & 0x7f) as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Every field of a message, in order, as `(field number, value)`; `None` when the bytes are not
/// a message (a field cut short, a varint over 64 bits, field number 0, a group or an unknown wire
/// type).
pub fn fields(mut bytes: &[u8]) -> Option<Vec<(u32, Value<'_>)>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let tag = varint(&mut bytes)?;
        let field = u32::try_from(tag >> 3).ok().filter(|f| *f != 0)?;
        let value = match tag & 7 {
            0 => Value::Varint(varint(&mut bytes)?),
            1 => {
                take(&mut bytes, 8)?;
                Value::Fixed
            }
            2 => {
                let len = usize::try_from(varint(&mut bytes)?).ok()?;
                Value::Bytes(take(&mut bytes, len)?)
            }
            5 => {
                take(&mut bytes, 4)?;
                Value::Fixed
            }
            _ => return None,
        };
        out.push((field, value));
    }
    Some(out)
}

fn varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (b, rest) = bytes.split_first()?;
        *bytes = rest;
        let bits = u64::from(b & 0x7f);
        // The tenth byte holds bit 63 only.
        if shift == 63 && bits > 1 {
            return None;
        }
        v |= bits << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

fn take<'a>(bytes: &mut &'a [u8], len: usize) -> Option<&'a [u8]> {
    if bytes.len() < len {
        return None;
    }
    let (head, rest) = bytes.split_at(len);
    *bytes = rest;
    Some(head)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn varints_round_trip_at_every_width() {
        for v in [
            0,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            let mut rest = out.as_slice();
            assert_eq!(varint(&mut rest), Some(v), "{v}");
            assert!(rest.is_empty());
        }
        let mut max = Vec::new();
        put_varint(&mut max, u64::MAX);
        assert_eq!(max.len(), 10);
        assert_eq!(max.last(), Some(&1));
    }

    #[test]
    fn messages_read_field_by_field() {
        type Case = (
            &'static str,
            &'static [u8],
            Option<Vec<(u32, Value<'static>)>>,
        );
        let cases: Vec<Case> = vec![
            ("empty", b"", Some(vec![])),
            ("varint", b"\x08\x01", Some(vec![(1, Value::Varint(1))])),
            ("bytes", b"\x12\x02hi", Some(vec![(2, Value::Bytes(b"hi"))])),
            (
                "fixed64 and fixed32 skipped",
                b"\x19\x01\x02\x03\x04\x05\x06\x07\x08\x25\x01\x02\x03\x04\x08\x00",
                Some(vec![
                    (3, Value::Fixed),
                    (4, Value::Fixed),
                    (1, Value::Varint(0)),
                ]),
            ),
            (
                "a large field number",
                b"\xf8\xff\xff\xff\x0f\x01",
                Some(vec![(536_870_911, Value::Varint(1))]),
            ),
            ("bytes cut short", b"\x12\x05hi", None),
            ("fixed64 cut short", b"\x19\x01\x02", None),
            ("varint cut short", b"\x08\x80", None),
            ("tag cut short", b"\x80", None),
            ("field 0", b"\x00\x01", None),
            ("group start", b"\x0b", None),
            ("group end", b"\x0c", None),
            ("wire type 6", b"\x0e\x00", None),
            (
                "varint of 10 bytes",
                b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
                Some(vec![(1, Value::Varint(u64::MAX))]),
            ),
            (
                "varint of 11 bytes",
                b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x81\x01",
                None,
            ),
            (
                "varint over 64 bits",
                b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02",
                None,
            ),
            (
                "length over usize",
                b"\x12\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
                None,
            ),
        ];
        for (name, bytes, want) in cases {
            assert_eq!(fields(bytes), want, "{name}");
        }
    }

    #[test]
    fn written_fields_read_back() {
        let long = vec![7u8; 300];
        let mut out = Vec::new();
        put_bytes(&mut out, 1, b"sha256");
        put_bytes(&mut out, 4, &long);
        put_bytes(&mut out, 3, b"");
        assert_eq!(&out[..8], b"\x0a\x06sha256");
        assert_eq!(&out[8..11], b"\x22\xac\x02");
        assert_eq!(
            fields(&out),
            Some(vec![
                (1, Value::Bytes(b"sha256")),
                (4, Value::Bytes(&long)),
                (3, Value::Bytes(b"")),
            ])
        );
    }

    #[test]
    fn varint_fields_and_embedded_messages_read_back() {
        let mut out = Vec::new();
        put_uint(&mut out, 1, 300);
        put_message(&mut out, 20, |m| put_bytes(m, 1, b"x"));
        put_map_entry(&mut out, 3, b"k", b"v");
        let f = fields(&out).unwrap();
        assert_eq!(f[0], (1, Value::Varint(300)));
        assert_eq!(f[1], (20, Value::Bytes(b"\x0a\x01x")));
        assert_eq!(f[2], (3, Value::Bytes(b"\x0a\x01k\x12\x01v")));
        assert_eq!(f.len(), 3);
    }

    proptest! {
        #[test]
        fn any_bytes_read_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = fields(&bytes);
        }
    }
}
