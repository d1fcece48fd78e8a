//! Reading a request's places as bytes: the pairs of the `cookie` headers and of the `:path`'s
//! query, percent-decoding, and HTTP's optional whitespace. No rule about tokens lives here.

use crate::request::RequestHead;
use std::borrow::Cow;

/// Spaces and tabs (RFC 9110's OWS) off both ends.
pub(super) fn trim_ows(v: &[u8]) -> &[u8] {
    let v = trim_ows_start(v);
    let end = v.iter().rposition(|b| !is_ows(*b)).map_or(0, |i| i + 1);
    v.get(..end).unwrap_or_default()
}

pub(super) fn trim_ows_start(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|b| !is_ows(*b)).unwrap_or(v.len());
    v.get(start..).unwrap_or_default()
}

/// `trim_ows` of a value that may be owned (a percent-decoded one).
pub(super) fn trim_cow(v: Cow<'_, [u8]>) -> Cow<'_, [u8]> {
    match v {
        Cow::Borrowed(b) => Cow::Borrowed(trim_ows(b)),
        Cow::Owned(o) => Cow::Owned(trim_ows(&o).to_vec()),
    }
}

fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// `name=value` pairs of every `cookie` header (RFC 6265 section 5.4 joins them with `; `).
pub(super) fn cookies<'a>(
    head: &RequestHead<'a>,
) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
    head.values("cookie").flat_map(|line| {
        line.split(|b| *b == b';').filter_map(|pair| {
            let pair = pair.trim_ascii();
            let eq = pair.iter().position(|b| *b == b'=')?;
            Some((
                pair.get(..eq)?.trim_ascii(),
                pair.get(eq + 1..)?.trim_ascii(),
            ))
        })
    })
}

pub(super) fn unquote(v: &[u8]) -> &[u8] {
    match v {
        [b'"', inner @ .., b'"'] => inner,
        _ => v,
    }
}

/// `name=value` pairs of the `:path`'s query (a name without `=` has an empty value).
pub(super) fn query<'a>(head: &RequestHead<'a>) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
    let q = head
        .first(":path")
        .and_then(|p| {
            p.iter()
                .position(|b| *b == b'?')
                .and_then(|i| p.get(i + 1..))
        })
        .unwrap_or_default();
    let q = q.split(|b| *b == b'#').next().unwrap_or_default();
    q.split(|b| *b == b'&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.iter().position(|b| *b == b'=') {
            Some(eq) => (
                pair.get(..eq).unwrap_or_default(),
                pair.get(eq + 1..).unwrap_or_default(),
            ),
            None => (pair, &b""[..]),
        })
}

/// `%XX` decoded once; a `%` not followed by two hex digits stays as it is.
pub(super) fn percent_decode(v: &[u8]) -> Cow<'_, [u8]> {
    if !v.contains(&b'%') {
        return Cow::Borrowed(v);
    }
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while let Some(&b) = v.get(i) {
        let pair = (
            v.get(i + 1).copied().and_then(hex),
            v.get(i + 2).copied().and_then(hex),
        );
        match (b, pair) {
            (b'%', (Some(h), Some(l))) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    Cow::Owned(out)
}
