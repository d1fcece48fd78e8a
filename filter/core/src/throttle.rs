//! Log lines that do not flood: an auth service that is down at 10,000 requests per second must not
//! write 10,000 lines per second, and neither may a client that sends 10,000 bad requests. Each
//! topic is logged at most once per `WINDOW_MS` per VM; the next line says how many were held back
//! meanwhile.

use crate::decision::Cause;

pub const WINDOW_MS: u64 = 5_000;

/// What a throttled log line is about: every line a client or a failing service can trigger at
/// will has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// A callout failed (or a token's keys were missing), by `onError` cause.
    Failure(Cause),
    /// A request refused as malformed (a dot segment in its path, a header the callout cannot carry).
    BadRequest,
    /// The filter answered 500 rather than decide without what it needs.
    FailClosed,
    /// A read of the revocation feed failed.
    RevocationFeed,
}

const TOPICS: usize = Cause::ALL.len() + 3;

impl Topic {
    fn index(self) -> Option<usize> {
        match self {
            Topic::Failure(c) => Cause::ALL.iter().position(|x| *x == c),
            Topic::BadRequest => Some(Cause::ALL.len()),
            Topic::FailClosed => Some(Cause::ALL.len() + 1),
            Topic::RevocationFeed => Some(Cause::ALL.len() + 2),
        }
    }
}

#[derive(Debug, Default)]
pub struct Throttle {
    /// When each topic was last logged.
    last: [Option<u64>; TOPICS],
    suppressed: [u64; TOPICS],
}

impl Throttle {
    /// `Some(n)`: log this one, and say that `n` were held back since the last; `None`: hold it.
    pub fn admit(&mut self, topic: Topic, now_ms: u64) -> Option<u64> {
        let i = topic.index()?;
        let (last, suppressed) = (self.last.get_mut(i)?, self.suppressed.get_mut(i)?);
        match *last {
            Some(t) if now_ms < t.saturating_add(WINDOW_MS) => {
                *suppressed += 1;
                None
            }
            _ => {
                *last = Some(now_ms);
                Some(std::mem::take(suppressed))
            }
        }
    }
}

/// The end of an admitted line: how many like it were held back.
pub fn held_back(held: u64) -> String {
    if held > 0 {
        format!(
            " ({held} more like this in the last {} s)",
            WINDOW_MS / 1000
        )
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_topic_per_window_then_the_count_held_back() {
        let mut t = Throttle::default();
        let timeout = Topic::Failure(Cause::Timeout);
        assert_eq!(t.admit(timeout, 0), Some(0));
        for ms in [1, 100, 4_999] {
            assert_eq!(t.admit(timeout, ms), None);
        }
        assert_eq!(
            t.admit(Topic::Failure(Cause::Unreachable), 10),
            Some(0),
            "topics are apart"
        );
        assert_eq!(t.admit(Topic::BadRequest, 10), Some(0));
        assert_eq!(t.admit(Topic::BadRequest, 11), None);
        assert_eq!(t.admit(Topic::FailClosed, 12), Some(0));
        assert_eq!(t.admit(timeout, 5_000), Some(3));
        assert_eq!(t.admit(timeout, 5_001), None);
        assert_eq!(t.admit(timeout, 20_000), Some(1));
        assert_eq!(t.admit(Topic::BadRequest, 5_010), Some(1));
        assert_eq!(held_back(0), "");
        assert_eq!(held_back(3), " (3 more like this in the last 5 s)");
    }
}
