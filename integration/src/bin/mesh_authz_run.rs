//! `make run`: starts `example-auth`, `echo-upstream` (the binaries next to this one) and Envoy
//! with `integration/envoy/envoy.yaml` rendered for the chosen ports, prints curl lines to try,
//! and stops all three on Ctrl-C or when one of them exits.
//!
//! `mesh-authz-run [--envoy PATH] [--wasm PATH] [--yaml PATH] [--tokens PATH] [--listen-port N]
//! [--admin-port N] [--auth-port N] [--echo-port N] [--concurrency N]`

use mesh_authz_integration::envoy::{Envoy, EnvoyOptions, PortMap};
use mesh_authz_integration::{paths, HarnessError};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode};
use std::time::{Duration, Instant};

struct Args {
    opts: EnvoyOptions,
    tokens: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut opts = EnvoyOptions::new(&paths::envoy_bin(), &paths::wasm_module());
    opts.ports = PortMap::default();
    opts.inherit_output = true;
    let mut tokens = paths::default_tokens();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().ok_or_else(|| format!("{arg} needs a value"))?;
        let port = || {
            value
                .parse::<u16>()
                .map_err(|e| format!("{arg} {value}: {e}"))
        };
        match arg.as_str() {
            "--envoy" => opts.envoy = PathBuf::from(&value),
            "--wasm" => opts.wasm = Some(PathBuf::from(&value)),
            "--yaml" => opts.yaml = PathBuf::from(&value),
            "--tokens" => tokens = PathBuf::from(&value),
            "--listen-port" => opts.ports.listen = port()?,
            "--admin-port" => opts.ports.admin = port()?,
            "--auth-port" => opts.ports.auth = port()?,
            "--echo-port" => opts.ports.echo = port()?,
            "--concurrency" => {
                opts.concurrency = value.parse().map_err(|e| format!("{arg} {value}: {e}"))?
            }
            _ => return Err(format!("unknown argument {arg}")),
        }
    }
    Ok(Args { opts, tokens })
}

/// Children killed on drop, so every exit path stops them.
struct Children(Vec<(&'static str, Child)>);

impl Drop for Children {
    fn drop(&mut self) {
        for (_, child) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Children {
    fn exited(&mut self) -> Option<&'static str> {
        for (name, child) in &mut self.0 {
            if !matches!(child.try_wait(), Ok(None)) {
                return Some(name);
            }
        }
        None
    }
}

fn sibling(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join(name)))
        .unwrap_or_else(|| PathBuf::from(name))
}

fn wait_port(port: u16, child: &mut Child, name: &str) -> Result<(), String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if !matches!(child.try_wait(), Ok(None)) {
            return Err(format!("{name} exited (is port {port} free?)"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("{name} not listening on {addr} after 10s"))
}

fn start_service(
    name: &'static str,
    args: &[String],
    port: u16,
    children: &mut Children,
) -> Result<(), String> {
    let child = Command::new(sibling(name))
        .args(args)
        .spawn()
        .map_err(|e| format!("starting {name}: {e}"))?;
    children.0.push((name, child));
    match children.0.last_mut() {
        Some((_, child)) => wait_port(port, child, name),
        None => Ok(()),
    }
}

fn print_tries(listen: u16, admin: u16) {
    let url = format!("http://127.0.0.1:{listen}");
    println!();
    println!("mesh-authz is up: Envoy {url}, admin http://127.0.0.1:{admin}. Try:");
    println!("  curl -i -H 'authorization: Bearer alice-token' {url}/hello      # allow: 200, x-user-id: alice at the upstream");
    println!("  curl -i {url}/hello                                             # deny: 401 + www-authenticate");
    println!("  curl -i -H 'accept: text/html' {url}/hello                      # deny: 302 to /login?rd=/hello");
    println!("  curl -i -H 'authorization: Bearer bob-token' {url}/admin        # deny: 403 (bob is no admin)");
    println!("  curl -i -H 'x-user-id: mallory' {url}/healthz                   # bypass: no callout, forged x-user-id removed");
    println!("  curl -i -X OPTIONS -H 'origin: https://app.example' -H 'access-control-request-method: GET' {url}/hello   # CORS preflight: bypassed");
    println!("  curl -i --path-as-is {url}/healthz/../admin                     # not a bypass: Envoy resolves it to /admin, which is checked (401)");
    println!("  curl -s http://127.0.0.1:{admin}/stats/prometheus | grep mesh_authz");
    println!("Ctrl-C stops Envoy, example-auth and echo-upstream.");
}

fn run(args: Args) -> Result<(), String> {
    let ports = args.opts.ports;
    let mut children = Children(Vec::new());
    let auth_args = vec![
        "--listen".to_string(),
        format!("127.0.0.1:{}", ports.auth),
        "--tokens".to_string(),
        args.tokens.display().to_string(),
    ];
    start_service("example-auth", &auth_args, ports.auth, &mut children)?;
    let echo_args = vec!["--listen".to_string(), format!("127.0.0.1:{}", ports.echo)];
    start_service("echo-upstream", &echo_args, ports.echo, &mut children)?;
    let mut envoy = Envoy::spawn(&args.opts).map_err(|e: HarnessError| e.to_string())?;
    envoy
        .wait_ready(args.opts.ready_timeout)
        .map_err(|e| e.to_string())?;
    print_tries(ports.listen, ports.admin);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        // `kill PID` of this process alone must not orphan the children either.
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| e.to_string())?;
        loop {
            tokio::select! {
                _ = &mut ctrl_c => {
                    println!("\nstopping");
                    return Ok(());
                }
                _ = term.recv() => {
                    println!("terminated: stopping");
                    return Ok(());
                }
                _ = tick.tick() => {
                    if !envoy.is_running() {
                        return Err("envoy exited".to_string());
                    }
                    if let Some(name) = children.exited() {
                        return Err(format!("{name} exited"));
                    }
                }
            }
        }
    })
}

fn main() -> ExitCode {
    let result = parse_args().and_then(run);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mesh-authz-run: {e}");
            ExitCode::FAILURE
        }
    }
}
