//! The parts of `Cache-Control` an auth service's answer can use to steer the decision cache.
//!
//! Read byte by byte: a value with a byte that is not UTF-8 must not hide a `no-store` beside it.

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CacheControl {
    /// `no-store` or `no-cache`: never keep this decision.
    pub forbid: bool,
    /// `private`: made for one client, so never kept nor handed to another client.
    pub private: bool,
    pub max_age: Option<u32>,
}

impl CacheControl {
    /// The answer is for the client that asked only: not cached, not shared with other waiters.
    pub fn per_client(&self) -> bool {
        self.forbid || self.private
    }
}

/// Parses every `Cache-Control` value given (a header may repeat). Unknown directives are ignored,
/// an unreadable `max-age` is ignored (the configured TTL applies), as RFC 9111 suggests.
pub fn parse<'a>(values: impl Iterator<Item = &'a [u8]>) -> CacheControl {
    let mut cc = CacheControl::default();
    for value in values {
        for directive in value.split(|b| *b == b',') {
            let directive = directive.trim_ascii();
            let (name, arg) = match directive.iter().position(|b| *b == b'=') {
                Some(i) => {
                    let (n, a) = directive.split_at(i);
                    let a = a.get(1..).unwrap_or_default().trim_ascii();
                    (n.trim_ascii(), Some(unquote(a)))
                }
                None => (directive, None),
            };
            if name.eq_ignore_ascii_case(b"no-store") || name.eq_ignore_ascii_case(b"no-cache") {
                cc.forbid = true;
            } else if name.eq_ignore_ascii_case(b"private") {
                cc.private = true;
            } else if name.eq_ignore_ascii_case(b"max-age") {
                if let Some(age) = arg.and_then(seconds) {
                    cc.max_age = Some(cc.max_age.map_or(age, |m| m.min(age)));
                }
            }
        }
    }
    cc
}

fn unquote(arg: &[u8]) -> &[u8] {
    let arg = arg.strip_prefix(b"\"").unwrap_or(arg);
    arg.strip_suffix(b"\"").unwrap_or(arg)
}

/// Decimal seconds, saturating at `u32::MAX`; `None` unless every byte is a digit.
fn seconds(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0u32, |n, d| {
        n.saturating_mul(10).saturating_add(u32::from(d - b'0'))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cc(values: &[&[u8]]) -> CacheControl {
        parse(values.iter().copied())
    }

    /// (values, forbid, private, max-age)
    type Case<'a> = (&'a [&'a [u8]], bool, bool, Option<u32>);

    #[test]
    fn directives() {
        let cases: &[Case<'_>] = &[
            (&[], false, false, None),
            (&[b"max-age=30"], false, false, Some(30)),
            (&[b"private, max-age=30"], false, true, Some(30)),
            (&[b"PRIVATE"], false, true, None),
            (&[b"private=\"set-cookie\""], false, true, None),
            (&[b"MAX-AGE=\"12\""], false, false, Some(12)),
            (&[b"no-store"], true, false, None),
            (&[b"no-cache, max-age=60"], true, false, Some(60)),
            (&[b"max-age=60", b"max-age=10"], false, false, Some(10)),
            (&[b"max-age=abc"], false, false, None),
            (&[b"max-age=-1"], false, false, None),
            (&[b"max-age=99999999999"], false, false, Some(u32::MAX)),
            (&[b"public"], false, false, None),
            // A byte that is not UTF-8 spoils only its own directive.
            (&[b"x=\xff, no-store"], true, false, None),
            (&[b"\xfe\xff", b"no-cache"], true, false, None),
            (&[b"max-age=5\xff, private"], false, true, None),
            (
                &[b"public", b"max-age=7", b"no-store"],
                true,
                false,
                Some(7),
            ),
        ];
        for (values, forbid, private, age) in cases {
            let got = cc(values);
            assert_eq!(
                (got.forbid, got.private, got.max_age),
                (*forbid, *private, *age),
                "{values:?}"
            );
            assert_eq!(got.per_client(), *forbid || *private);
        }
    }
}
