//! `mesh-authz-bench flight`: how many callouts a burst of identical requests with a credential
//! nobody has sent before costs, per Envoy worker count. One callout per burst is single flight
//! across the whole Envoy; one per worker that took a connection is single flight per worker VM
//! (the shared cache level is written only when the answer is in, so the other workers miss too).

use mesh_authz_integration::auth::tokens::generated_token;
use mesh_authz_integration::auth::Tokens;
use mesh_authz_integration::client::Request;
use mesh_authz_integration::paths::Prerequisites;
use mesh_authz_integration::stack::Stack;
use serde::Serialize;
use std::sync::Barrier;
use std::thread;
use std::time::Duration;

/// Long enough that every request of a burst arrives while the first callout is out.
const AUTH_LATENCY: Duration = Duration::from_millis(300);
const PREFIX: &str = "flight";

#[derive(Debug, Clone, Serialize)]
pub struct FlightRow {
    pub workers: u32,
    pub burst: usize,
    pub rounds: u32,
    /// Callouts of each burst.
    pub callouts: Vec<u64>,
    /// Workers that took at least one connection of each burst.
    pub workers_used: Vec<usize>,
    pub callouts_per_request: f64,
    pub callouts_per_burst: f64,
}

fn per_worker(s: &Stack) -> Result<Vec<u64>, String> {
    s.envoy.connections_per_worker().map_err(|e| e.to_string())
}

/// One burst of `n` requests with `token`, each on its own connection, released together.
fn burst(s: &Stack, n: usize, token: &str) -> Result<(), String> {
    let addr = s.envoy.listen_addr().map_err(|e| e.to_string())?;
    let gate = Barrier::new(n);
    let statuses: Vec<Result<u16, String>> = thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .map(|_| {
                let gate = &gate;
                scope.spawn(move || {
                    let req = Request::get("/flight").bearer(token);
                    gate.wait();
                    req.send(addr).map(|r| r.status).map_err(|e| e.to_string())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("burst thread died".into())))
            .collect()
    });
    for st in statuses {
        match st? {
            200 => {}
            other => return Err(format!("a burst request got {other}, not 200")),
        }
    }
    Ok(())
}

pub fn run(
    p: &Prerequisites,
    workers: &[u32],
    burst_size: usize,
    rounds: u32,
) -> Result<Vec<FlightRow>, String> {
    let mut rows = Vec::new();
    for &w in workers {
        let s = Stack::builder(p)
            .map_err(|e| e.to_string())?
            .concurrency(w)
            .service_threads(2)
            .tokens(Tokens::example().with_generated(PREFIX))
            .config(|c| {
                if let Some(a) = c.get_mut("authService").and_then(|a| a.as_object_mut()) {
                    a.insert("timeoutMs".into(), 5000.into());
                }
            })
            .start()
            .map_err(|e| e.to_string())?;
        s.auth.set_recording(false);
        s.auth.set_latency(AUTH_LATENCY);
        let mut row = FlightRow {
            workers: w,
            burst: burst_size,
            rounds,
            callouts: Vec::new(),
            workers_used: Vec::new(),
            callouts_per_request: 0.0,
            callouts_per_burst: 0.0,
        };
        for r in 0..rounds {
            let token = generated_token(PREFIX, u64::from(w) * 100_000 + u64::from(r));
            let calls = s.auth.calls();
            let before = per_worker(&s)?;
            burst(&s, burst_size, &token)?;
            let after = per_worker(&s)?;
            row.callouts.push(s.auth.calls() - calls);
            row.workers_used.push(
                after
                    .iter()
                    .zip(before.iter().chain(std::iter::repeat(&0)))
                    .filter(|(a, b)| a > b)
                    .count(),
            );
        }
        let total: u64 = row.callouts.iter().sum();
        row.callouts_per_burst = total as f64 / f64::from(rounds.max(1));
        row.callouts_per_request = row.callouts_per_burst / burst_size.max(1) as f64;
        println!(
            "{w} worker(s): {burst_size} identical new-credential requests × {rounds} bursts: callouts per burst {:?} (workers used {:?}); {:.3} callouts/request",
            row.callouts, row.workers_used, row.callouts_per_request
        );
        rows.push(row);
    }
    Ok(rows)
}
