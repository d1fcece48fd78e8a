//! `example-auth --listen 127.0.0.1:8081 --tokens integration/example/tokens.json
//! [--path-prefix /check] [--threads N] [--jwks FILE] [--jwks-path /.well-known/jwks.json]
//! [--accept-jwt on|off]`: the example auth service the filter calls. With `--jwks` it also serves
//! that JWKS document (an empty set without) for a filter that checks JWTs; `--accept-jwt on` (the
//! default) allows a JWT bearer as its `sub` once a key of that JWKS verifies it (none without).
//! It also publishes the revocation feed (`GET /revocations`) and takes logouts (`POST /logout`
//! with the bearer token, `POST /revoke?subject=NAME`): the subject is denied from then on, and
//! sidecars following the feed drop what they cached for it.

use mesh_authz_integration::auth::{AuthHandler, AuthState, Tokens, DEFAULT_JWKS_PATH};
use mesh_authz_integration::{paths, server};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const USAGE: &str = "usage: example-auth [--listen 127.0.0.1:8081] [--tokens FILE] [--path-prefix /check] [--threads N] [--jwks FILE] [--jwks-path /.well-known/jwks.json] [--accept-jwt on|off]";

struct Args {
    listen: SocketAddr,
    tokens: PathBuf,
    prefix: String,
    threads: usize,
    jwks: Option<PathBuf>,
    jwks_path: String,
    accept_jwt: bool,
}

fn parse_args() -> Option<Args> {
    let mut a = Args {
        listen: SocketAddr::from(([127, 0, 0, 1], 8081)),
        tokens: paths::default_tokens(),
        prefix: "/check".into(),
        threads: 2,
        jwks: None,
        jwks_path: DEFAULT_JWKS_PATH.into(),
        accept_jwt: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next()?;
        match arg.as_str() {
            "--listen" => a.listen = value.parse().ok()?,
            "--tokens" => a.tokens = PathBuf::from(value),
            "--path-prefix" => a.prefix = value,
            "--threads" => a.threads = value.parse().ok()?,
            "--jwks" => a.jwks = Some(PathBuf::from(value)),
            "--jwks-path" if value.starts_with('/') => a.jwks_path = value,
            "--accept-jwt" => {
                a.accept_jwt = match value.as_str() {
                    "on" => true,
                    "off" => false,
                    _ => return None,
                }
            }
            _ => return None,
        }
    }
    Some(a)
}

/// The file's JWKS, refused unless it is a JSON object with a `keys` array: a wrong file is a
/// start-up error, not a filter that quietly has no keys.
fn load_jwks(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if !doc.get("keys").is_some_and(serde_json::Value::is_array) {
        return Err(format!("{}: not a JWKS (no keys array)", path.display()));
    }
    Ok(text)
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
    let mut state = AuthState::new(tokens, &args.prefix).with_jwks_path(&args.jwks_path);
    if let Some(path) = &args.jwks {
        match load_jwks(path) {
            Ok(jwks) => state = state.with_jwks(&jwks),
            Err(e) => {
                eprintln!("example-auth: {e}");
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    state.set_accept_jwt(args.accept_jwt);
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
                let jwks = args
                    .jwks
                    .as_ref()
                    .map_or_else(|| "an empty set".to_string(), |p| p.display().to_string());
                println!(
                    "example-auth listening on {} (tokens {}, JWKS at {}: {})",
                    args.listen,
                    args.tokens.display(),
                    args.jwks_path,
                    jwks
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
