//! The chaos run's traffic: many users drawn from a Zipf law (a few hot, a long tail that misses
//! the cache), some unknown tokens (the service denies them), some bypassed health checks, every
//! request carrying a forged `x-user-id` the filter must strip. And what each answer is, judged
//! against the filter's reading of the configuration.

use super::Cause;
use crate::auth::tokens::{generated_token, generated_user};
use crate::client::{Request, Response};
use crate::echo::Echoed;
use crate::zipf::{Rng, Zipf};
use mesh_authz_core::config::{Config, ErrorPolicy, Mode};

/// Prefix of the generated users' tokens (`Tokens::with_generated`).
pub const USER_PREFIX: &str = "chaos";
/// Tokens the service does not know.
pub const UNKNOWN_PREFIX: &str = "nope";
/// The bypass rule of the checked-in config.
pub const BYPASS_PATH: &str = "/healthz";
/// Fresh users (never drawn by the workload) start here, so their first request cannot be cached.
pub const FRESH_FROM: u64 = 50_000_000;
pub const FORGED_USER: &str = "mallory";
pub const UNAVAILABLE: &str = "authorization service unavailable\n";

/// What one request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User(u64),
    Unknown(u64),
    Bypass,
}

impl Kind {
    pub fn request(self) -> Request {
        let forged = |r: Request| r.header("x-user-id", FORGED_USER);
        match self {
            Kind::User(n) => {
                forged(Request::get("/orders").bearer(&generated_token(USER_PREFIX, n)))
            }
            Kind::Unknown(n) => {
                forged(Request::get("/orders").bearer(&generated_token(UNKNOWN_PREFIX, n)))
            }
            Kind::Bypass => forged(Request::get(BYPASS_PATH)),
        }
    }
}

/// The user the service names for a generated token, e.g. `chaos0000042`.
pub fn user_of(n: u64) -> String {
    generated_user(USER_PREFIX, &format!("{n:07}"))
}

/// Shares of the mix and the number of users.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mix {
    pub users: usize,
    pub zipf_s: f64,
    /// Out of 100.
    pub unknown_percent: u64,
    pub bypass_percent: u64,
}

impl Default for Mix {
    /// 5 000 users (more than a phase sends, so misses continue all run), web-like popularity.
    fn default() -> Self {
        Mix {
            users: 5_000,
            zipf_s: 1.0,
            unknown_percent: 8,
            bypass_percent: 4,
        }
    }
}

/// Draws the next request's kind.
pub struct Draw {
    zipf: Zipf,
    mix: Mix,
}

impl Draw {
    pub fn new(mix: Mix) -> Self {
        Draw {
            zipf: Zipf::new(mix.users, mix.zipf_s),
            mix,
        }
    }

    pub fn next(&self, rng: &mut Rng) -> Kind {
        let roll = rng.next_u64() % 100;
        if roll < self.mix.bypass_percent {
            Kind::Bypass
        } else if roll < self.mix.bypass_percent + self.mix.unknown_percent {
            // A few unknown tokens, reused, so their denials can be served from the cache too.
            Kind::Unknown(rng.next_u64() % 64)
        } else {
            Kind::User(self.zipf.sample(rng) as u64)
        }
    }
}

/// How one answer is counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 200 from the upstream with exactly the service's identity for the token.
    Allowed,
    /// The service's denial (401) passed on.
    Denied,
    /// The configured error answer (status and body).
    Error,
    /// A bypassed request reached the upstream, forged identity stripped.
    Bypassed,
    /// Reached the upstream without identity because the policy lets it (onError allow, shadow).
    PassedUndecided,
    /// Anything the policy does not allow; the text says what.
    Other(String),
}

/// Whether `status` is the filter's error answer for a failure of `cause`; with `None` (the
/// service is healthy), the error answer of any cause, so that an error is still recognised, and
/// counted as one.
fn is_error_status(config: &Config, cause: Option<Cause>, status: u16) -> bool {
    let deny = ErrorPolicy::Deny { status };
    match cause {
        Some(c) => config.on_error.policy(c) == deny,
        None => Cause::ALL
            .iter()
            .any(|c| config.on_error.policy(*c) == deny),
    }
}

/// Whether a request may reach the upstream without a decision (no identity) in a phase whose
/// failures have this cause: an `allow` error policy, or shadow mode.
pub fn passes_undecided(config: &Config, cause: Option<Cause>) -> bool {
    config.mode == Mode::Shadow
        || cause.is_some_and(|c| config.on_error.policy(c) == ErrorPolicy::Allow)
}

/// Judges the client's view of one request in a phase whose failures have `cause` (`None`:
/// the service is healthy).
pub fn judge(
    kind: Kind,
    result: &Result<Response, crate::HarnessError>,
    config: &Config,
    cause: Option<Cause>,
) -> Outcome {
    let r = match result {
        Ok(r) => r,
        Err(e) => return Outcome::Other(format!("{kind:?}: transport error {e}")),
    };
    let upstream_users = || -> Option<Vec<String>> {
        let echoed: Echoed = r.json().ok()?;
        Some(
            echoed
                .header_all("x-user-id")
                .into_iter()
                .map(String::from)
                .collect(),
        )
    };
    let other =
        |what: &str| Outcome::Other(format!("{kind:?}: {what}: {} {:?}", r.status, r.text()));
    if r.status != 200 {
        return match (kind, r.status) {
            (Kind::Unknown(_), 401) => Outcome::Denied,
            (_, s) if is_error_status(config, cause, s) && r.text() == UNAVAILABLE => {
                Outcome::Error
            }
            _ => other("unexpected status"),
        };
    }
    let Some(users) = upstream_users() else {
        return other("200 not from the upstream");
    };
    match kind {
        Kind::Bypass if users.is_empty() => Outcome::Bypassed,
        Kind::User(n) if users == [user_of(n)] => Outcome::Allowed,
        Kind::User(_) | Kind::Unknown(_) if users.is_empty() && passes_undecided(config, cause) => {
            Outcome::PassedUndecided
        }
        _ => other(&format!("upstream saw x-user-id {users:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaos::test_plan;
    use crate::client::parse_response;
    use serde_json::json;

    type Answer = Result<Response, crate::HarnessError>;

    fn echo(users: &[&str]) -> Answer {
        let headers: Vec<(String, String)> = users
            .iter()
            .map(|u| ("x-user-id".to_string(), (*u).to_string()))
            .collect();
        let body = json!({"method": "GET", "path": "/orders", "headers": headers}).to_string();
        parse_response(
            format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
    }

    fn status(s: u16, body: &str) -> Answer {
        parse_response(
            format!(
                "HTTP/1.1 {s} X\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
    }

    #[test]
    fn answers_are_judged_against_the_policy() {
        let deny = test_plan(json!({}));
        let allow = test_plan(json!({"onError": {"mode": "allow"}}));
        // Fail open on timeouts only; server errors get their own status.
        let per_cause = test_plan(json!({"onError": {"mode": "deny", "status": 503,
            "timeout": {"mode": "allow"}, "serverError": {"status": 502}}}));
        let shadow = test_plan(json!({"mode": "shadow"}));
        let (deny, allow) = (deny.filter(), allow.filter());
        let (per_cause, shadow) = (per_cause.filter(), shadow.filter());
        let alice = user_of(7);
        let t = Some(Cause::Timeout);
        let s = Some(Cause::ServerError);
        let u = Some(Cause::Unreachable);
        type Case<'a> = (Kind, Answer, &'a Config, Option<Cause>, bool);
        let cases: Vec<Case<'_>> = vec![
            (Kind::User(7), echo(&[&alice]), deny, None, true),
            (Kind::User(7), echo(&[&alice]), deny, t, true),
            (Kind::User(7), echo(&[FORGED_USER]), deny, None, false),
            (Kind::User(7), echo(&[&alice, &alice]), deny, None, false),
            (Kind::User(7), echo(&[&user_of(8)]), deny, None, false),
            (Kind::User(7), echo(&[]), deny, t, false),
            (Kind::User(7), echo(&[]), allow, t, true),
            (Kind::User(7), echo(&[]), allow, None, false),
            (Kind::Unknown(1), echo(&[]), deny, t, false),
            (
                Kind::Unknown(1),
                status(401, "invalid token\n"),
                deny,
                t,
                true,
            ),
            (
                Kind::User(1),
                status(401, "invalid token\n"),
                deny,
                None,
                false,
            ),
            (Kind::User(1), status(503, UNAVAILABLE), deny, t, true),
            (
                Kind::User(1),
                status(503, "upstream connect error"),
                deny,
                t,
                false,
            ),
            (Kind::User(1), status(503, UNAVAILABLE), allow, t, false),
            (Kind::User(7), echo(&[]), per_cause, t, true),
            (Kind::User(7), echo(&[]), per_cause, s, false),
            (Kind::User(1), status(502, UNAVAILABLE), per_cause, s, true),
            (Kind::User(1), status(503, UNAVAILABLE), per_cause, s, false),
            (Kind::User(1), status(503, UNAVAILABLE), per_cause, u, true),
            (Kind::User(1), status(503, UNAVAILABLE), per_cause, t, false),
            // A healthy phase still recognises any cause's error answer (`check` then flags it).
            (
                Kind::User(1),
                status(502, UNAVAILABLE),
                per_cause,
                None,
                true,
            ),
            (
                Kind::User(1),
                status(504, UNAVAILABLE),
                per_cause,
                None,
                false,
            ),
            (Kind::Unknown(1), echo(&[]), shadow, None, true),
            (Kind::User(7), echo(&[&alice]), shadow, None, true),
            (Kind::User(7), echo(&[FORGED_USER]), shadow, None, false),
            (Kind::Bypass, echo(&[]), deny, t, true),
            (Kind::Bypass, echo(&[FORGED_USER]), deny, t, false),
            (Kind::Bypass, status(200, "not json"), deny, None, false),
        ];
        for (kind, r, config, cause, ok) in cases {
            let o = judge(kind, &r, config, cause);
            assert_eq!(
                !matches!(o, Outcome::Other(_)),
                ok,
                "{kind:?} {cause:?} {:?} {:?}: {o:?}",
                config.on_error,
                config.mode
            );
        }
    }

    #[test]
    fn the_mix_has_every_kind_and_hot_users() {
        let draw = Draw::new(Mix::default());
        let mut rng = Rng::new(3);
        let kinds: Vec<Kind> = (0..10_000).map(|_| draw.next(&mut rng)).collect();
        let count = |f: fn(&Kind) -> bool| kinds.iter().filter(|k| f(k)).count();
        assert!((200..700).contains(&count(|k| *k == Kind::Bypass)));
        assert!((500..1100).contains(&count(|k| matches!(k, Kind::Unknown(_)))));
        assert!(count(|k| *k == Kind::User(0)) > 500);
        assert_eq!(
            Kind::User(7).request().headers[0].1,
            b"Bearer chaos-0000007-token"
        );
    }
}
