//! The request head as the filter sees it: header pairs borrowed from one host buffer, names in
//! lowercase as Envoy hands them over, values as bytes (a value need not be UTF-8).

#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    headers: &'a [(&'a str, &'a [u8])],
    headers_only: bool,
}

impl<'a> RequestHead<'a> {
    /// A request head that may be followed by a body or trailers.
    pub fn new(headers: &'a [(&'a str, &'a [u8])]) -> Self {
        RequestHead {
            headers,
            headers_only: false,
        }
    }

    /// `headers_only`: the headers ended the stream (the host said so): no body, no trailers.
    pub fn ending(mut self, headers_only: bool) -> Self {
        self.headers_only = headers_only;
        self
    }

    /// Whether the headers ended the stream.
    pub fn headers_only(&self) -> bool {
        self.headers_only
    }

    /// Every value of `name`, in order (a header may repeat: two `cookie` lines).
    pub fn values(&self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| *n == name)
            .map(|(_, v)| *v)
    }

    /// Every header in request order.
    pub fn pairs(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
        self.headers.iter().copied()
    }

    pub fn first(&self, name: &str) -> Option<&'a [u8]> {
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }

    /// A pseudo-header as text; `None` when absent or not UTF-8.
    pub fn pseudo(&self, name: &str) -> Option<&'a str> {
        self.first(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    pub fn method(&self) -> Option<&'a str> {
        self.pseudo(":method")
    }

    pub fn path(&self) -> Option<&'a str> {
        self.pseudo(":path")
    }

    /// The original host as bytes: it is forwarded (`x-forwarded-host`) and keyed as it came, so
    /// that two hosts never share a key because neither is UTF-8.
    pub fn authority(&self) -> Option<&'a [u8]> {
        self.first(":authority")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_headers_are_all_seen() {
        let h: &[(&str, &[u8])] = &[
            (":method", b"GET"),
            ("cookie", b"a=1"),
            ("cookie", b"b=2"),
            (":path", b"/x"),
        ];
        let r = RequestHead::new(h);
        assert_eq!(
            r.values("cookie").collect::<Vec<_>>(),
            [b"a=1".as_slice(), b"b=2".as_slice()]
        );
        assert_eq!(r.method(), Some("GET"));
        assert_eq!(r.path(), Some("/x"));
        assert_eq!(r.authority(), None);
    }
}
