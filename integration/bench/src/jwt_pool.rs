//! The tokens of the JWT variants, signed before the first measurement: a bounded pool of
//! distinct RS256 tokens (one user each), the token the repeated variants send, and a tampered
//! one the checkers must refuse. New-token variants take each round's own slice of the pool, so
//! an Envoy never sees a token twice; the Zipf variants draw from its first `users` tokens (each
//! variant is its own Envoy, so sharing tokens between variants shares no cache).

use crate::conn::get_with_bearer;
use crate::jwt_variant::{JwtWorkload, TokenLoad};
use crate::rig::PATH;
use mesh_authz_integration::jwt::{Claims, Issuer, KeyKind, EXAMPLE_AUDIENCE, EXAMPLE_ISSUER};
use std::time::{Duration, Instant};

/// Long enough for any run: a token that expired mid-run would be refused, not measured.
const LIFETIME_SECS: i64 = 6 * 3600;
const KID: &str = "bench-rs256";
/// At most this many signing threads (the machine's cores otherwise).
const MAX_SIGNERS: usize = 8;

pub struct TokenPool {
    /// One `GET` with a distinct token per entry.
    bodies: Vec<Vec<u8>>,
    /// Tokens a new-token round takes (warm-up and window together, with room for the requests
    /// in flight when either closes).
    per_round: usize,
    /// The repeated variants' token, also the one every JWT variant is probed with.
    pub one: String,
    /// `one` with its `sub` changed after signing: every checker must answer 401.
    pub tampered: String,
    pub jwks: String,
    pub signing_time: Duration,
}

impl std::fmt::Debug for TokenPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenPool({} tokens)", self.bodies.len())
    }
}

/// Tokens a new-token round uses up at most: each connection may have one request in flight when
/// the warm-up, then the window, reaches its bound.
pub fn per_round(w: &JwtWorkload, connections: usize) -> usize {
    let bounded = w.new_per_window.saturating_add(w.new_per_warmup);
    usize::try_from(bounded)
        .unwrap_or(usize::MAX)
        .saturating_add(2 * connections + 16)
}

/// How many distinct tokens the loads in `loads` need over `rounds`.
pub fn size(w: &JwtWorkload, loads: &[TokenLoad], rounds: u32, connections: usize) -> usize {
    let new = if loads.contains(&TokenLoad::New) {
        per_round(w, connections).saturating_mul(rounds as usize)
    } else {
        0
    };
    let zipf = if loads.contains(&TokenLoad::Zipf) {
        w.users
    } else {
        0
    };
    new.max(zipf)
}

impl TokenPool {
    /// Generates the issuer's RSA key and signs `size(...)` tokens on every core.
    pub fn new(
        w: &JwtWorkload,
        loads: &[TokenLoad],
        rounds: u32,
        connections: usize,
    ) -> Result<TokenPool, String> {
        let started = Instant::now();
        let mut issuer = Issuer::new(EXAMPLE_ISSUER);
        issuer
            .add_key(KeyKind::Rsa, KID)
            .map_err(|e| e.to_string())?;
        let n = size(w, loads, rounds, connections);
        let bodies = sign_all(&issuer, n)?;
        let claims = claims("bench-jwt-repeated");
        let one = issuer.token(&claims).map_err(|e| e.to_string())?;
        let tampered = issuer
            .tampered(&claims, |m| {
                m.insert("sub".into(), "someone-else".into());
            })
            .map_err(|e| e.to_string())?;
        Ok(TokenPool {
            bodies,
            per_round: per_round(w, connections),
            one,
            tampered,
            jwks: issuer.jwks(),
            signing_time: started.elapsed(),
        })
    }

    pub fn len(&self) -> usize {
        self.bodies.len()
    }

    /// Round `round`'s (1-based) tokens for a new-token variant, in order.
    pub fn round(&self, round: u32) -> &[Vec<u8>] {
        let start = (round.saturating_sub(1) as usize).saturating_mul(self.per_round);
        let end = start.saturating_add(self.per_round).min(self.bodies.len());
        self.bodies.get(start..end).unwrap_or_default()
    }

    /// The Zipf variants' users (fewer when the pool is smaller).
    pub fn users(&self, users: usize) -> &[Vec<u8>] {
        self.bodies
            .get(..users.min(self.bodies.len()))
            .unwrap_or_default()
    }
}

fn claims(sub: &str) -> Claims {
    Claims::new()
        .sub(sub)
        .aud(EXAMPLE_AUDIENCE)
        .exp_in(LIFETIME_SECS)
}

/// `n` requests, token i for user `bench-jwt-<i>`, in order; the signing is spread over threads.
fn sign_all(issuer: &Issuer, n: usize) -> Result<Vec<Vec<u8>>, String> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |p| p.get())
        .clamp(1, MAX_SIGNERS);
    let chunk = n.div_ceil(threads).max(1);
    let parts: Vec<Result<Vec<Vec<u8>>, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .step_by(chunk)
            .map(|start| {
                let end = (start + chunk).min(n);
                scope.spawn(move || {
                    (start..end)
                        .map(|i| {
                            issuer
                                .token(&claims(&format!("bench-jwt-{i:07}")))
                                .map(|t| get_with_bearer(PATH, &t))
                                .map_err(|e| e.to_string())
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a signing thread panicked".into()))
            })
            .collect()
    });
    let mut bodies = Vec::with_capacity(n);
    for part in parts {
        bodies.extend(part?);
    }
    Ok(bodies)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn workload() -> JwtWorkload {
        JwtWorkload {
            new_per_window: 20,
            new_per_warmup: 4,
            users: 30,
        }
    }

    #[test]
    fn sized_for_what_the_run_needs() {
        let w = workload();
        assert_eq!(per_round(&w, 2), 24 + 4 + 16);
        assert_eq!(size(&w, &[TokenLoad::New], 3, 2), 3 * 44);
        assert_eq!(size(&w, &[TokenLoad::Zipf, TokenLoad::Repeated], 3, 2), 30);
        assert_eq!(size(&w, &[TokenLoad::Repeated], 3, 2), 0);
        assert_eq!(size(&w, &[TokenLoad::Zipf, TokenLoad::New], 1, 2), 44);
    }

    #[test]
    fn rounds_never_share_a_token() {
        let pool = TokenPool::new(&workload(), &[TokenLoad::New], 2, 2).unwrap();
        assert_eq!(pool.len(), 88);
        let distinct: BTreeSet<&Vec<u8>> = pool.bodies.iter().collect();
        assert_eq!(distinct.len(), 88);
        let (r1, r2) = (pool.round(1), pool.round(2));
        assert_eq!((r1.len(), r2.len()), (44, 44));
        assert!(r1.iter().all(|b| !r2.contains(b)));
        assert!(pool.round(3).is_empty());
        assert_eq!(pool.users(1000).len(), 88);
        let one = get_with_bearer(PATH, &pool.one);
        assert!(!pool.bodies.contains(&one));
        assert_ne!(pool.one, pool.tampered);
        assert!(pool.jwks.contains(KID));
    }
}
