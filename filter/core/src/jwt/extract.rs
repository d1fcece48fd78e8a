//! Finding the token of a request. Every configured place is read (a header after its scheme, a
//! cookie, a query parameter), and two values that are tokens anywhere are refused, even identical
//! ones: there is no "first one wins" for an upstream to read differently.
//!
//! A header's scheme (its prefix without the trailing whitespace, `Bearer`) matches in any case
//! and may be followed by any run of spaces and tabs (RFC 9110 11.4); the whitespace around a
//! value, or around each piece of a header Envoy joined with `,`, is no part of it. Whatever an
//! auth service could read as a JWT in a place (`jwt_like`: two dots, or `eyJ` starting a word,
//! also once percent-decoded, whatever scheme precedes it, or none) is a token: checked when it is
//! a compact JWS where one belongs, refused otherwise. Only what is nothing like a JWT (`Bearer
//! <api-key>`, `Basic ...`) is no token in gate mode and goes on to the auth service as before; in
//! authenticate mode every value found after the scheme is one, and a misshapen one is refused.

mod read;

use super::config::{JwtConfig, Mode, Source};
use super::error::JwtError;
use super::token::{jwt_like, looks_like_jwt, MAX_TOKEN_BYTES};
use crate::request::RequestHead;
use read::{cookies, percent_decode, query, trim_cow, trim_ows, trim_ows_start, unquote};
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

/// One value of a place, sorted by what the filter makes of it.
enum Found<'a> {
    /// A compact JWS's shape where a token belongs: checked.
    Jwt(Cow<'a, [u8]>),
    /// Readable as a JWT but not in that form (`Token <jwt>`, `<jwt> x`, `eyJ` garbage): a
    /// token no check can pass.
    Misshapen,
    /// A credential in the token's place that is nothing like a JWT (an API key).
    Other(Cow<'a, [u8]>),
    /// A piece of the header with another scheme and nothing like a JWT (`Basic ...`): no
    /// credential of this place, but a second one beside a token in the same header.
    Foreign,
}

pub fn extract<'a>(config: &JwtConfig, head: &RequestHead<'a>) -> Extracted<'a> {
    let gate = config.mode == Mode::Gate;
    let mut token: Option<(usize, Found<'a>)> = None;
    for (index, source) in config.sources.iter().enumerate() {
        let found_here = values(source, head);
        // A JWT beside any other credential in one place (`Bearer <jwt>, Bearer <key>`, as Envoy
        // joins repeated headers) is two credentials: the service would see both.
        let jwt_here = found_here
            .iter()
            .any(|f| matches!(f, Found::Jwt(_) | Found::Misshapen));
        if found_here.len() > 1 && jwt_here {
            return Extracted::Invalid(JwtError::TwoTokens);
        }
        for found in found_here {
            if let Found::Jwt(v) | Found::Other(v) = &found {
                if v.len() > MAX_TOKEN_BYTES {
                    return Extracted::Invalid(JwtError::TooLarge);
                }
            }
            let is_token = match found {
                Found::Jwt(_) | Found::Misshapen => true,
                Found::Other(_) => !gate,
                Found::Foreign => false,
            };
            if !is_token {
                continue;
            }
            if token.is_some() {
                return Extracted::Invalid(JwtError::TwoTokens);
            }
            token = Some((index, found));
        }
    }
    let (source, value) = match token {
        None => return Extracted::Absent,
        Some((source, Found::Jwt(value))) => (source, value),
        Some(_) => return Extracted::Invalid(JwtError::Malformed("not three base64url parts")),
    };
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
fn values<'a>(source: &Source, head: &RequestHead<'a>) -> Vec<Found<'a>> {
    match source {
        // Envoy joins a repeated header into one value with `,` (a token has none): each piece
        // is a value of its own.
        Source::Header { name, prefix } => head
            .pairs()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, v)| v.split(|b| *b == b','))
            .map(trim_ows)
            .filter(|piece| !piece.is_empty())
            .map(|piece| header_piece(piece, prefix))
            .collect(),
        Source::Cookie(name) => cookies(head)
            .filter(|(n, _)| names_place(n, name))
            .map(|(_, v)| sort(Cow::Borrowed(trim_ows(unquote(v)))))
            .collect(),
        Source::Query(name) => query(head)
            .filter(|(n, _)| names_place(n, name))
            .map(|(_, v)| sort(trim_cow(percent_decode(v))))
            .collect(),
    }
}

/// A piece of a header place: `<scheme><spaces or tabs><value>`, the scheme in any case (with no
/// scheme configured, the whole piece is the value).
fn header_piece<'a>(piece: &'a [u8], prefix: &str) -> Found<'a> {
    let scheme = prefix.trim_end_matches([' ', '\t']).as_bytes();
    // `Bearer ` needs whitespace after `Bearer`; a prefix that ends without any (`tok_`) does not.
    let needs_space = !scheme.is_empty() && scheme.len() < prefix.len();
    let value = piece
        .get(..scheme.len())
        .filter(|p| p.eq_ignore_ascii_case(scheme))
        .and_then(|_| piece.get(scheme.len()..))
        .and_then(|rest| {
            let value = trim_ows_start(rest);
            let separated = rest.is_empty() || value.len() < rest.len();
            (!needs_space || separated).then_some(value)
        });
    match value {
        Some(v) if looks_like_jwt(v) => Found::Jwt(Cow::Borrowed(v)),
        _ if readable_as_jwt(piece) => Found::Misshapen,
        Some(v) => Found::Other(Cow::Borrowed(v)),
        None => Found::Foreign,
    }
}

/// A cookie's or a query parameter's value, trimmed.
fn sort(value: Cow<'_, [u8]>) -> Found<'_> {
    if looks_like_jwt(&value) {
        Found::Jwt(value)
    } else if readable_as_jwt(&value) {
        Found::Misshapen
    } else {
        Found::Other(value)
    }
}

/// `jwt_like` as the bytes are, or once percent-decoded (a service that decodes a cookie, or a
/// query value a second time, finds the dots `%2E` hid).
fn readable_as_jwt(v: &[u8]) -> bool {
    jwt_like(v) || (v.contains(&b'%') && jwt_like(&percent_decode(v)))
}

/// Whether a cookie or query parameter named `candidate` is the place `name`: in any case and
/// percent-decoded, as a lenient framework may read it (`ID_TOKEN`, `id%5Ftoken`), so that a token
/// spelled there is checked (and removed) like one in the place itself.
fn names_place(candidate: &[u8], name: &str) -> bool {
    percent_decode(candidate)
        .as_ref()
        .eq_ignore_ascii_case(name.as_bytes())
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
                .filter(|(n, _)| !names_place(n, name))
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
