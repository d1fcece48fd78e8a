//! The parts of `Cache-Control` an auth service's answer can use to steer the decision cache.

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CacheControl {
    /// `no-store` or `no-cache`: never keep this decision.
    pub forbid: bool,
    pub max_age: Option<u32>,
}

/// Parses every `Cache-Control` value given (a header may repeat). Unknown directives are ignored,
/// an unreadable `max-age` is ignored (the configured TTL applies), as RFC 9111 suggests.
pub fn parse<'a>(values: impl Iterator<Item = &'a [u8]>) -> CacheControl {
    let mut cc = CacheControl::default();
    for value in values {
        let Ok(text) = std::str::from_utf8(value) else {
            continue;
        };
        for directive in text.split(',') {
            let directive = directive.trim();
            let (name, arg) = match directive.split_once('=') {
                Some((n, a)) => (n.trim(), Some(a.trim().trim_matches('"'))),
                None => (directive, None),
            };
            if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
                cc.forbid = true;
            } else if name.eq_ignore_ascii_case("max-age") {
                if let Some(age) = arg.and_then(|a| a.parse::<u64>().ok()) {
                    let age = u32::try_from(age).unwrap_or(u32::MAX);
                    cc.max_age = Some(cc.max_age.map_or(age, |m| m.min(age)));
                }
            }
        }
    }
    cc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cc(values: &[&str]) -> CacheControl {
        parse(values.iter().map(|v| v.as_bytes()))
    }

    #[test]
    fn directives() {
        let cases: &[(&[&str], bool, Option<u32>)] = &[
            (&[], false, None),
            (&["max-age=30"], false, Some(30)),
            (&["private, max-age=30"], false, Some(30)),
            (&["MAX-AGE=\"12\""], false, Some(12)),
            (&["no-store"], true, None),
            (&["no-cache, max-age=60"], true, Some(60)),
            (&["max-age=60", "max-age=10"], false, Some(10)),
            (&["max-age=abc"], false, None),
            (&["max-age=99999999999"], false, Some(u32::MAX)),
            (&["public"], false, None),
        ];
        for (values, forbid, age) in cases {
            let got = cc(values);
            assert_eq!((got.forbid, got.max_age), (*forbid, *age), "{values:?}");
        }
    }
}
