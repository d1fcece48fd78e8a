//! Waiting on something that happens asynchronously (a JWKS fetch landing, a log line flushed):
//! polled with a deadline, never a fixed sleep.

use crate::HarnessError;
use std::time::{Duration, Instant};

const POLL: Duration = Duration::from_millis(50);

/// Polls `f` until it holds, or says that `what` did not happen within `limit`.
pub fn eventually(
    what: &str,
    limit: Duration,
    mut f: impl FnMut() -> bool,
) -> Result<(), HarnessError> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if f() {
            return Ok(());
        }
        std::thread::sleep(POLL);
    }
    Err(HarnessError::Missing(format!(
        "{what}: not within {limit:?}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_condition_that_never_holds_is_an_error_that_names_it() {
        let e = eventually("the sun", Duration::from_millis(120), || false).unwrap_err();
        assert!(e.to_string().starts_with("the sun: not within"), "{e}");
        let mut n = 0;
        eventually("the third poll", Duration::from_secs(5), || {
            n += 1;
            n == 3
        })
        .unwrap();
    }
}
