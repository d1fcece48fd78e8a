//! `from`: the places a provider reads tokens from. Places are shared by providers (a request's
//! token is looked for in all of them) and each is kept once; one header has one prefix.

use super::Source;
use crate::config::{names, ConfigError};
use crate::identity;
use crate::jwt::raw::RawFrom;

pub(super) fn from(
    at: &str,
    raw: &[RawFrom],
    identity_headers: &[String],
    sources: &mut Vec<Source>,
) -> Result<Vec<usize>, ConfigError> {
    if raw.is_empty() {
        return Err(ConfigError::new(
            format!("{at}.from"),
            "is empty; leave it out for the authorization header with prefix \"Bearer \"",
        ));
    }
    let mut out = Vec::with_capacity(raw.len());
    for (j, f) in raw.iter().enumerate() {
        let field = format!("{at}.from[{j}]");
        let source = source(&field, f, identity_headers)?;
        if let Source::Header { name, .. } = &source {
            let other_prefix = sources
                .iter()
                .any(|s| matches!(s, Source::Header { name: n, .. } if n == name) && *s != source);
            if other_prefix {
                return Err(ConfigError::new(
                    field,
                    "reads a header that another place reads with another prefix; one header has one prefix",
                ));
            }
        }
        let index = match sources.iter().position(|s| *s == source) {
            Some(k) => k,
            None => {
                sources.push(source);
                sources.len() - 1
            }
        };
        if out.contains(&index) {
            return Err(ConfigError::new(field, "is listed twice"));
        }
        out.push(index);
    }
    Ok(out)
}

fn source(field: &str, f: &RawFrom, identity_headers: &[String]) -> Result<Source, ConfigError> {
    let only_one = "needs exactly one of header (with an optional prefix), cookie or query";
    match (&f.header, &f.cookie, &f.query) {
        (Some(h), None, None) => {
            let name = names::header_name(&format!("{field}.header"), h)?;
            if identity_headers
                .iter()
                .any(|id| identity::same_name(&name, id))
            {
                return Err(ConfigError::new(
                    format!("{field}.header"),
                    "is an identity header, which is removed from every request",
                ));
            }
            let prefix = f.prefix.clone().unwrap_or_default();
            if !prefix.bytes().all(|b| (b' '..=b'~').contains(&b)) {
                return Err(ConfigError::new(
                    format!("{field}.prefix"),
                    "must be printable ASCII",
                ));
            }
            Ok(Source::Header { name, prefix })
        }
        (None, Some(c), None) if f.prefix.is_none() => {
            if c.is_empty()
                || !c
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
            {
                return Err(ConfigError::new(
                    format!("{field}.cookie"),
                    "is not a cookie name",
                ));
            }
            Ok(Source::Cookie(c.clone()))
        }
        (None, None, Some(q)) if f.prefix.is_none() => {
            if q.is_empty()
                || !q
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && !b"&=#%+".contains(&b))
            {
                return Err(ConfigError::new(
                    format!("{field}.query"),
                    "is not a plain query parameter name (no '&', '=', '#', '%', '+' or spaces)",
                ));
            }
            Ok(Source::Query(q.clone()))
        }
        (None, ..) if f.prefix.is_some() => Err(ConfigError::new(
            format!("{field}.prefix"),
            "belongs to a header",
        )),
        _ => Err(ConfigError::new(field, only_one)),
    }
}
