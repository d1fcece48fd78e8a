//! The closed-loop load generator: `connections` threads, each with one keep-alive connection,
//! send the next request as soon as the previous answer is in. A warm-up phase runs first and is
//! not recorded; the measured window is bounded in both requests and seconds. The caller's
//! `start`/`end` hooks run exactly at the window's edges (while the load keeps flowing), which is
//! where CPU and counters are sampled.

use crate::conn::Conn;
use crate::zipf::{Rng, Zipf};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const WARMUP: u8 = 0;
const MEASURE: u8 = 1;
const DONE: u8 = 2;
const POLL: Duration = Duration::from_millis(5);

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadSpec {
    pub connections: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// Upper bound on measured requests.
    pub max_requests: u64,
    /// Upper bound on warm-up requests.
    pub max_warmup_requests: u64,
}

/// The request bytes to send, one per credential, and how to pick one.
pub struct Requests {
    pub bodies: Vec<Vec<u8>>,
    pub pick: Pick,
    /// The one status every answer must have (a load of forged tokens: 401); `None`: any 2xx.
    pub expect: Option<u16>,
}

pub enum Pick {
    /// Always the first body.
    First,
    /// Body k drawn with the Zipf law's weight.
    Zipf(Zipf),
    /// Each body once, in order, over all connections: a credential never sent before on every
    /// request. When they are used up, nothing more is sent.
    Once(AtomicUsize),
}

impl Pick {
    pub fn once() -> Pick {
        Pick::Once(AtomicUsize::new(0))
    }
}

impl Requests {
    fn next(&self, rng: &mut Rng) -> Option<&[u8]> {
        let i = match &self.pick {
            Pick::First => 0,
            Pick::Zipf(z) => z.sample(rng),
            Pick::Once(next) => next.fetch_add(1, Ordering::Relaxed),
        };
        self.bodies.get(i).map(Vec::as_slice)
    }
}

/// What the clients saw in the measured window.
#[derive(Debug, Clone, Default)]
pub struct LoadResult {
    pub requests: u64,
    pub ok: u64,
    /// Answers other than expected (non-2xx, or not `Requests::expect`) by status, and transport
    /// errors under status 0.
    pub failures: BTreeMap<u16, u64>,
    pub window: Duration,
    pub warmup_requests: u64,
    /// Latencies of the window in microseconds, sorted.
    pub latencies_us: Vec<u32>,
}

impl LoadResult {
    pub fn rps(&self) -> f64 {
        let s = self.window.as_secs_f64();
        if s > 0.0 {
            self.requests as f64 / s
        } else {
            0.0
        }
    }

    /// The q-quantile (0..=1) in milliseconds, nearest rank.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        quantile(&self.latencies_us, q) as f64 / 1000.0
    }

    pub fn errors(&self) -> u64 {
        self.failures.values().sum()
    }
}

pub fn quantile(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.clamp(1, sorted.len()) - 1)
        .copied()
        .unwrap_or(0)
}

struct Shared {
    phase: AtomicU8,
    warm: AtomicU64,
    measured: AtomicU64,
    max: u64,
    max_warmup: u64,
}

#[derive(Default)]
struct WorkerOut {
    ok: u64,
    failures: BTreeMap<u16, u64>,
    latencies: Vec<u32>,
}

fn worker(
    addr: SocketAddr,
    requests: &Requests,
    shared: &Shared,
    seed: u64,
    deadline: Instant,
) -> WorkerOut {
    let mut out = WorkerOut::default();
    let mut conn = Conn::new(addr);
    let mut rng = Rng::new(seed);
    // Checking the clock costs little next to a request; it keeps a stuck phase switch bounded.
    while shared.phase.load(Ordering::Relaxed) != DONE && Instant::now() < deadline {
        let Some(req) = requests.next(&mut rng) else {
            std::thread::sleep(POLL);
            continue;
        };
        let t0 = Instant::now();
        let result = conn.exchange(req);
        let dt = t0.elapsed();
        match shared.phase.load(Ordering::Relaxed) {
            // Warm-up is bounded in count too: past it, wait for the window instead of sending.
            WARMUP if shared.warm.fetch_add(1, Ordering::Relaxed) >= shared.max_warmup => {
                std::thread::sleep(POLL)
            }
            MEASURE => {
                // Past the bound, wait for the window to close rather than send: a request the
                // window does not record would still count in its CPU (and use up a credential
                // that is to be sent once).
                if shared.measured.fetch_add(1, Ordering::Relaxed) >= shared.max {
                    std::thread::sleep(POLL);
                    continue;
                }
                out.latencies
                    .push(u32::try_from(dt.as_micros()).unwrap_or(u32::MAX));
                let expected = |s: u16| match requests.expect {
                    Some(e) => s == e,
                    None => (200..300).contains(&s),
                };
                match result {
                    Ok(s) if expected(s) => out.ok += 1,
                    Ok(s) => *out.failures.entry(s).or_default() += 1,
                    Err(_) => {
                        *out.failures.entry(0).or_default() += 1;
                        // A refused or reset connection would otherwise spin.
                        std::thread::sleep(POLL);
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Runs warm-up then the window against `addr`; `start` runs as the window opens, `end` as it
/// closes.
pub fn run<S, E>(
    addr: SocketAddr,
    spec: &LoadSpec,
    requests: &Requests,
    start: impl FnOnce() -> S,
    end: impl FnOnce() -> E,
) -> (LoadResult, S, E) {
    let shared = Shared {
        phase: AtomicU8::new(WARMUP),
        warm: AtomicU64::new(0),
        measured: AtomicU64::new(0),
        max: spec.max_requests,
        max_warmup: spec.max_warmup_requests,
    };
    let deadline = Instant::now() + spec.warmup + spec.duration + Duration::from_secs(30);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..spec.connections.max(1))
            .map(|i| {
                let shared = &shared;
                scope.spawn(move || worker(addr, requests, shared, 0x5EED + i as u64, deadline))
            })
            .collect();
        let warm_start = Instant::now();
        while warm_start.elapsed() < spec.warmup
            && shared.warm.load(Ordering::Relaxed) < spec.max_warmup_requests
        {
            std::thread::sleep(POLL);
        }
        let s = start();
        let t0 = Instant::now();
        shared.phase.store(MEASURE, Ordering::SeqCst);
        while t0.elapsed() < spec.duration
            && shared.measured.load(Ordering::Relaxed) < spec.max_requests
        {
            std::thread::sleep(POLL);
        }
        shared.phase.store(DONE, Ordering::SeqCst);
        let window = t0.elapsed();
        let e = end();
        let mut result = LoadResult {
            window,
            warmup_requests: shared.warm.load(Ordering::Relaxed),
            ..LoadResult::default()
        };
        for h in handles {
            if let Ok(out) = h.join() {
                result.ok += out.ok;
                for (status, n) in out.failures {
                    *result.failures.entry(status).or_default() += n;
                }
                result.latencies_us.extend(out.latencies);
            }
        }
        result.requests = result.latencies_us.len() as u64;
        result.latencies_us.sort_unstable();
        (result, s, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::get_with_bearer;

    #[test]
    fn quantiles_use_nearest_rank() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(quantile(&v, 0.5), 50);
        assert_eq!(quantile(&v, 0.99), 99);
        assert_eq!(quantile(&v, 1.0), 100);
        assert_eq!(quantile(&[], 0.5), 0);
    }

    #[test]
    fn window_is_bounded_by_count_and_hooks_run_once() {
        let svc =
            mesh_authz_integration::echo::spawn(SocketAddr::from(([127, 0, 0, 1], 0)), 1).unwrap();
        let spec = LoadSpec {
            connections: 2,
            warmup: Duration::from_millis(50),
            duration: Duration::from_secs(5),
            max_requests: 200,
            max_warmup_requests: 200,
        };
        let reqs = Requests {
            bodies: vec![get_with_bearer("/", "t")],
            pick: Pick::First,
            expect: None,
        };
        let (r, s, e) = run(svc.addr(), &spec, &reqs, || 1, || 2);
        assert_eq!((s, e), (1, 2));
        assert!(r.requests <= 200 && r.requests > 0, "{}", r.requests);
        assert_eq!(r.ok, r.requests);
        assert!(r.window < Duration::from_secs(5));
        assert!(r.rps() > 0.0 && r.quantile_ms(0.99) > 0.0);
        // A load that expects 401 counts the echo's 200s as failures, by status.
        let refused = Requests {
            expect: Some(401),
            ..reqs
        };
        let (r, _, _) = run(svc.addr(), &spec, &refused, || 1, || 2);
        assert!(r.requests > 0);
        assert_eq!((r.ok, r.failures.get(&200).copied()), (0, Some(r.requests)));
    }

    #[test]
    fn once_sends_each_body_once_then_stops() {
        let svc =
            mesh_authz_integration::echo::spawn(SocketAddr::from(([127, 0, 0, 1], 0)), 1).unwrap();
        let spec = LoadSpec {
            connections: 4,
            warmup: Duration::from_millis(200),
            duration: Duration::from_millis(300),
            max_requests: 1000,
            max_warmup_requests: 10,
        };
        let reqs = Requests {
            bodies: (0..50)
                .map(|i| get_with_bearer("/", &format!("t{i}")))
                .collect(),
            pick: Pick::once(),
            expect: None,
        };
        let (r, (), ()) = run(svc.addr(), &spec, &reqs, || (), || ());
        // The warm-up stops at its bound (plus what was in flight on each connection), the
        // window takes the rest, and nothing is sent twice.
        assert!(
            (10..=14).contains(&r.warmup_requests),
            "{}",
            r.warmup_requests
        );
        assert_eq!(r.warmup_requests + r.requests, 50);
        assert_eq!(r.ok, r.requests);
    }

    #[test]
    fn refused_connections_are_failures_not_a_hang() {
        let port = mesh_authz_integration::stack::closed_port().unwrap();
        let spec = LoadSpec {
            connections: 1,
            warmup: Duration::ZERO,
            duration: Duration::from_millis(100),
            max_requests: 1000,
            max_warmup_requests: 1000,
        };
        let reqs = Requests {
            bodies: vec![get_with_bearer("/", "t")],
            pick: Pick::First,
            expect: None,
        };
        let (r, (), ()) = run(
            SocketAddr::from(([127, 0, 0, 1], port)),
            &spec,
            &reqs,
            || (),
            || (),
        );
        assert_eq!(r.ok, 0);
        assert!(r.failures.get(&0).copied().unwrap_or(0) > 0);
    }
}
