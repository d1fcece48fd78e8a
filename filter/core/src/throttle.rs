//! Log lines that do not flood: an auth service that is down at 10,000 requests per second must not
//! write 10,000 lines per second. Each cause is explained at most once per `WINDOW_MS` per VM; the
//! next line says how many were held back meanwhile.

use crate::decision::Cause;

pub const WINDOW_MS: u64 = 5_000;

#[derive(Debug, Default)]
pub struct Throttle {
    /// When each cause (in `Cause::ALL` order) was last logged.
    last: [Option<u64>; 5],
    suppressed: [u64; 5],
}

impl Throttle {
    /// `Some(n)`: log this one, and say that `n` were held back since the last; `None`: hold it.
    pub fn admit(&mut self, cause: Cause, now_ms: u64) -> Option<u64> {
        let i = Cause::ALL.iter().position(|c| *c == cause)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_cause_per_window_then_the_count_held_back() {
        let mut t = Throttle::default();
        assert_eq!(t.admit(Cause::Timeout, 0), Some(0));
        for ms in [1, 100, 4_999] {
            assert_eq!(t.admit(Cause::Timeout, ms), None);
        }
        assert_eq!(t.admit(Cause::Unreachable, 10), Some(0), "causes are apart");
        assert_eq!(t.admit(Cause::Timeout, 5_000), Some(3));
        assert_eq!(t.admit(Cause::Timeout, 5_001), None);
        assert_eq!(t.admit(Cause::Timeout, 20_000), Some(1));
    }
}
