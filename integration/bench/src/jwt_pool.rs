//! The tokens of the JWT variants, signed before the first measurement: a bounded pool of
//! distinct RS256 tokens (one user each), the token the repeated variants send, and a tampered
//! one the checkers must refuse. New-token variants take each round's own slice of the pool, so
//! an Envoy never sees a token twice; the Zipf variants draw from its first `users` tokens (each
//! variant is its own Envoy, so sharing tokens between variants shares no cache). The forged
//! loads get their own pools, as large as a new-token one: one valid token's header and payload
//! (no `kid`) with a random signature each, which costs nothing to make.

use crate::conn::get_with_bearer;
use crate::jwt_variant::{JwtWorkload, TokenLoad};
use crate::rig::PATH;
use mesh_authz_integration::jwt::forge::b64url;
use mesh_authz_integration::jwt::{
    Algorithm, Claims, Issuer, KeyKind, EXAMPLE_AUDIENCE, EXAMPLE_ISSUER,
};
use mesh_authz_integration::zipf::Rng;
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
    /// The forged loads' requests, by load (`ForgedRs256`, `ForgedPs256`), `per_round` a round.
    forged: Vec<(TokenLoad, Vec<Vec<u8>>)>,
    /// The issuer, kept to forge the tokens probes send (never among the loads' own).
    issuer: Issuer,
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
        let per_round = per_round(w, connections);
        let mut forged = Vec::new();
        for (seed, load) in loads.iter().filter(|l| l.is_forged()).enumerate() {
            let n = per_round.saturating_mul(rounds as usize);
            let tokens = forge_all(&issuer, *load, n, seed as u64 + 1)?;
            let bodies = tokens.iter().map(|t| get_with_bearer(PATH, t)).collect();
            forged.push((*load, bodies));
        }
        let claims = claims("bench-jwt-repeated");
        let one = issuer.token(&claims).map_err(|e| e.to_string())?;
        let tampered = issuer
            .tampered(&claims, |m| {
                m.insert("sub".into(), "someone-else".into());
            })
            .map_err(|e| e.to_string())?;
        Ok(TokenPool {
            bodies,
            per_round,
            one,
            tampered,
            forged,
            jwks: issuer.jwks(),
            issuer,
            signing_time: started.elapsed(),
        })
    }

    pub fn len(&self) -> usize {
        self.bodies.len()
    }

    /// Round `round`'s (1-based) tokens for a new-token variant, in order.
    pub fn round(&self, round: u32) -> &[Vec<u8>] {
        self.round_of(&self.bodies, round)
    }

    /// Round `round`'s forged tokens of `load`; none when the run did not ask for that load.
    pub fn forged_round(&self, load: TokenLoad, round: u32) -> &[Vec<u8>] {
        self.forged
            .iter()
            .find(|(l, _)| *l == load)
            .map_or(&[], |(_, bodies)| self.round_of(bodies, round))
    }

    /// A forged token of `load` for a probe: another seed than the load's own tokens.
    pub fn forged_probe(&self, load: TokenLoad) -> Result<String, String> {
        forge_all(&self.issuer, load, 1, u64::MAX)?
            .pop()
            .ok_or_else(|| "no forged token".to_string())
    }

    fn round_of<'a>(&self, bodies: &'a [Vec<u8>], round: u32) -> &'a [Vec<u8>] {
        let start = (round.saturating_sub(1) as usize).saturating_mul(self.per_round);
        let end = start.saturating_add(self.per_round).min(bodies.len());
        bodies.get(start..end).unwrap_or_default()
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

/// The algorithm a forged load's tokens claim.
fn forged_alg(load: TokenLoad) -> Result<Algorithm, String> {
    match load {
        TokenLoad::ForgedRs256 => Ok(Algorithm::RS256),
        TokenLoad::ForgedPs256 => Ok(Algorithm::PS256),
        other => Err(format!("{other:?} is not a forged load")),
    }
}

/// `n` forged tokens of `load`: the header and payload of one token the issuer signed (valid
/// claims, no `kid`, so every key of the type is a candidate) and a random signature each. Its
/// first byte is kept below 0x40 so that the number is under any 2048-bit modulus: a signature
/// at or above it is refused before the exponentiation, and an attacker would not send one.
pub fn forge_all(
    issuer: &Issuer,
    load: TokenLoad,
    n: usize,
    seed: u64,
) -> Result<Vec<String>, String> {
    let alg = forged_alg(load)?;
    let signed = issuer
        .token(&claims("bench-jwt-forged").no_kid().alg(alg))
        .map_err(|e| e.to_string())?;
    let (head, _) = signed
        .rsplit_once('.')
        .ok_or("a signed token without three parts")?;
    let mut rng = Rng::new(seed);
    Ok((0..n)
        .map(|_| {
            let mut sig: Vec<u8> = (0..32).flat_map(|_| rng.next_u64().to_le_bytes()).collect();
            if let Some(top) = sig.first_mut() {
                *top &= 0x3f;
            }
            format!("{head}.{}", b64url(&sig))
        })
        .collect())
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
    fn forged_tokens_are_new_each_and_claim_their_alg_without_kid() {
        use mesh_authz_integration::jwt::parts;
        let loads = [TokenLoad::ForgedRs256, TokenLoad::ForgedPs256];
        let pool = TokenPool::new(&workload(), &loads, 2, 2).unwrap();
        assert_eq!(pool.len(), 0, "no signed pool for forged loads alone");
        for load in loads {
            let (r1, r2) = (pool.forged_round(load, 1), pool.forged_round(load, 2));
            assert_eq!((r1.len(), r2.len()), (44, 44));
            let distinct: BTreeSet<&Vec<u8>> = r1.iter().chain(r2).collect();
            assert_eq!(distinct.len(), 88);
        }
        assert!(pool.forged_round(TokenLoad::New, 1).is_empty());
        let mut issuer = Issuer::new(EXAMPLE_ISSUER);
        issuer.add_key(KeyKind::Rsa, KID).unwrap();
        for (load, alg) in [(loads[0], "RS256"), (loads[1], "PS256")] {
            let tokens = forge_all(&issuer, load, 3, 7).unwrap();
            for t in &tokens {
                let p = parts(t).unwrap();
                assert_eq!(p.header["alg"], alg);
                assert!(p.header.get("kid").is_none());
                assert_eq!(p.payload["iss"], EXAMPLE_ISSUER);
                assert_eq!(p.signature.len(), 256);
                assert!(p.signature[0] < 0x40);
            }
            assert_ne!(tokens[0], tokens[1]);
        }
        assert!(forge_all(&issuer, TokenLoad::New, 1, 1).is_err());
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
