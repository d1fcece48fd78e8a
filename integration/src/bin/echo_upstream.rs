//! `echo-upstream --listen 127.0.0.1:8082 [--threads N]`: answers 200 with what it received.

use mesh_authz_integration::{echo, server};
use std::net::SocketAddr;
use std::sync::Arc;

const USAGE: &str = "usage: echo-upstream [--listen 127.0.0.1:8082] [--threads N]";

fn parse_args() -> Option<(SocketAddr, usize)> {
    let mut listen = SocketAddr::from(([127, 0, 0, 1], 8082));
    let mut threads = 2usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next()?;
        match arg.as_str() {
            "--listen" => listen = value.parse().ok()?,
            "--threads" => threads = value.parse().ok()?,
            _ => return None,
        }
    }
    Some((listen, threads))
}

fn main() -> std::process::ExitCode {
    let Some((listen, threads)) = parse_args() else {
        eprintln!("{USAGE}");
        return std::process::ExitCode::from(2);
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("echo-upstream: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        match tokio::net::TcpListener::bind(listen).await {
            Ok(listener) => {
                println!("echo-upstream listening on {listen}");
                server::serve(listener, Arc::new(echo::Echo::default())).await;
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("echo-upstream: binding {listen}: {e}");
                std::process::ExitCode::FAILURE
            }
        }
    })
}
