//! `example-auth --listen 127.0.0.1:8081 --tokens integration/example/tokens.json
//! [--path-prefix /check] [--threads N]`: the example auth service the filter calls.

use mesh_authz_integration::auth::{AuthHandler, AuthState, Tokens};
use mesh_authz_integration::{paths, server};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

const USAGE: &str = "usage: example-auth [--listen 127.0.0.1:8081] [--tokens FILE] [--path-prefix /check] [--threads N]";

struct Args {
    listen: SocketAddr,
    tokens: PathBuf,
    prefix: String,
    threads: usize,
}

fn parse_args() -> Option<Args> {
    let mut a = Args {
        listen: SocketAddr::from(([127, 0, 0, 1], 8081)),
        tokens: paths::default_tokens(),
        prefix: "/check".into(),
        threads: 2,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next()?;
        match arg.as_str() {
            "--listen" => a.listen = value.parse().ok()?,
            "--tokens" => a.tokens = PathBuf::from(value),
            "--path-prefix" => a.prefix = value,
            "--threads" => a.threads = value.parse().ok()?,
            _ => return None,
        }
    }
    Some(a)
}

fn main() -> std::process::ExitCode {
    let Some(args) = parse_args() else {
        eprintln!("{USAGE}");
        return std::process::ExitCode::from(2);
    };
    let tokens = match Tokens::load(&args.tokens) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("example-auth: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let state = AuthState::new(tokens, &args.prefix);
    // A long-running service keeps no record of callouts (only tests read it).
    state.set_recording(false);
    let handler = Arc::new(AuthHandler(Arc::new(state)));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("example-auth: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        match tokio::net::TcpListener::bind(args.listen).await {
            Ok(listener) => {
                println!(
                    "example-auth listening on {} (tokens {})",
                    args.listen,
                    args.tokens.display()
                );
                server::serve(listener, handler).await;
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("example-auth: binding {}: {e}", args.listen);
                std::process::ExitCode::FAILURE
            }
        }
    })
}
