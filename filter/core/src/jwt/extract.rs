//! Finding the token of a request. Every configured place is read (a header after its prefix, a
//! cookie, a query parameter), and two values that are tokens anywhere are refused, even identical
//! ones: there is no "first one wins" for an upstream to read differently. In gate mode only a value
//! shaped like a JWT is a token (`Bearer <api-key>` goes on to the auth service as before); in
//! authenticate mode every value found is one, and a misshapen one is refused.

use super::config::{JwtConfig, Mode, Source};
use super::error::JwtError;
use super::token::{looks_like_jwt, MAX_TOKEN_BYTES};
use crate::request::RequestHead;
use std::borrow::Cow;
use std::fmt;

/// A token and where it was found.
pub struct Token<'a> {
    pub value: Cow<'a, str>,
    /// Index into `JwtConfig::sources`.
    pub source: usize,
}

#[derive(Debug)]
pub enum Extracted<'a> {
    /// No token: gate mode goes on to the auth service (or 401 with `requireToken`); authenticate
    /// mode answers 401.
    Absent,
    Token(Token<'a>),
    /// 401 with `error="invalid_token"`, without further checks.
    Invalid(JwtError),
}

pub fn extract<'a>(config: &JwtConfig, head: &RequestHead<'a>) -> Extracted<'a> {
    let mut found: Option<(usize, Cow<'a, [u8]>)> = None;
    for (index, source) in config.sources.iter().enumerate() {
        let found_here = values(source, head);
        // A JWT beside any other credential in one header (`Bearer <jwt>, Bearer <key>`, as Envoy
        // joins repeated headers) is two credentials: the service would see both.
        if found_here.len() > 1 && found_here.iter().any(|v| looks_like_jwt(v)) {
            return Extracted::Invalid(JwtError::TwoTokens);
        }
        for value in found_here {
            if value.len() > MAX_TOKEN_BYTES {
                return Extracted::Invalid(JwtError::TooLarge);
            }
            if config.mode == Mode::Gate && !looks_like_jwt(&value) {
                continue;
            }
            if found.is_some() {
                return Extracted::Invalid(JwtError::TwoTokens);
            }
            found = Some((index, value));
        }
    }
    let Some((source, value)) = found else {
        return Extracted::Absent;
    };
    if !looks_like_jwt(&value) {
        return Extracted::Invalid(JwtError::Malformed("not three base64url parts"));
    }
    let value = match value {
        Cow::Borrowed(b) => std::str::from_utf8(b).map(Cow::Borrowed),
        Cow::Owned(b) => String::from_utf8(b)
            .map(Cow::Owned)
            .map_err(|e| e.utf8_error()),
    };
    match value {
        Ok(value) => Extracted::Token(Token { value, source }),
        // Unreachable: a JWT's shape is ASCII.
        Err(_) => Extracted::Invalid(JwtError::Malformed("not three base64url parts")),
    }
}

/// Every value `source` holds in this request, in order.
fn values<'a>(source: &Source, head: &RequestHead<'a>) -> Vec<Cow<'a, [u8]>> {
    match source {
        // Envoy joins a repeated header into one value with `,` (a token has none): each piece
        // is a value of its own.
        Source::Header { name, prefix } => head
            .pairs()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, v)| v.split(|b| *b == b','))
            .map(<[u8]>::trim_ascii_start)
            .filter_map(|v| {
                let (p, rest) = (v.get(..prefix.len())?, v.get(prefix.len()..)?);
                p.eq_ignore_ascii_case(prefix.as_bytes())
                    .then_some(Cow::Borrowed(rest))
            })
            .collect(),
        Source::Cookie(name) => cookies(head)
            .filter(|(n, _)| *n == name.as_bytes())
            .map(|(_, v)| Cow::Borrowed(unquote(v)))
            .collect(),
        Source::Query(name) => query(head)
            .filter(|(n, _)| percent_decode(n).as_ref() == name.as_bytes())
            .map(|(_, v)| percent_decode(v))
            .collect(),
    }
}

/// `name=value` pairs of every `cookie` header (RFC 6265 section 5.4 joins them with `; `).
fn cookies<'a>(head: &RequestHead<'a>) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
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

fn unquote(v: &[u8]) -> &[u8] {
    match v {
        [b'"', inner @ .., b'"'] => inner,
        _ => v,
    }
}

/// `name=value` pairs of the `:path`'s query (a name without `=` has an empty value).
fn query<'a>(head: &RequestHead<'a>) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
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
fn percent_decode(v: &[u8]) -> Cow<'_, [u8]> {
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

/// What to change in the request so that the upstream does not receive the token
/// (`forwardToken: false`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// Remove this header (every value of it).
    Header(String),
    /// Replace every `cookie` header with this one value, or remove them (`None`) when the
    /// token's cookie was the only one.
    Cookies(Option<Vec<u8>>),
    /// A query token stays: rewriting `:path` would change what the upstream routes on.
    Nothing,
}

pub fn removal(config: &JwtConfig, head: &RequestHead<'_>, token: &Token<'_>) -> Removal {
    match config.sources.get(token.source) {
        Some(Source::Header { name, .. }) => Removal::Header(name.clone()),
        Some(Source::Cookie(name)) => {
            let kept: Vec<Vec<u8>> = cookies(head)
                .filter(|(n, _)| *n != name.as_bytes())
                .map(|(n, v)| [n, b"=", v].concat())
                .collect();
            Removal::Cookies((!kept.is_empty()).then(|| kept.join(&b"; "[..])))
        }
        Some(Source::Query(_)) | None => Removal::Nothing,
    }
}

/// The place and the length only: the value is a credential.
impl fmt::Debug for Token<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Token(source {}, {} bytes)",
            self.source,
            self.value.len()
        )
    }
}

#[cfg(test)]
mod tests;
