//! `make run`: starts `example-auth`, `echo-upstream` (the binaries next to this one) and Envoy
//! with `integration/envoy/envoy.yaml` rendered for the chosen ports, prints curl lines to try,
//! and stops all three on Ctrl-C or when one of them exits.
//!
//! For the filter's JWT checks it generates an RSA key at start (nothing secret on disk beyond
//! this run), hands its JWKS to `example-auth` through a temporary file (`--jwks`, removed on
//! exit), and prints tokens to try: valid, expired, and signed by a key not in the JWKS.
//!
//! The plugin follows the auth service's revocation feed (a `revocation` block added to the
//! file's plugin JSON here, so the end-to-end tests that render the same file count no feed
//! reads), and before printing the curl lines it plays a logout for real (`logout_demo`).
//!
//! `mesh-authz-run [--envoy PATH] [--wasm PATH] [--yaml PATH] [--tokens PATH] [--listen-port N]
//! [--admin-port N] [--auth-port N] [--echo-port N] [--concurrency N]`

// Beside this file, not in `src/bin/` where Cargo would take it for a binary of its own.
#[path = "mesh_authz_run/logout_demo.rs"]
mod logout_demo;

use mesh_authz_integration::envoy::{plugin_config_of, Envoy, EnvoyOptions, PortMap};
use mesh_authz_integration::jwt::{Claims, Issuer, KeyKind, EXAMPLE_AUDIENCE, EXAMPLE_ISSUER};
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

/// The feed's read interval in the configuration `make run` adds.
const FEED_INTERVAL_MS: u64 = 1000;

/// Makes the plugin follow the auth service's revocation feed, unless its configuration already
/// has a `revocation` block (kept as it is). `false` where the file's plugin cannot follow it
/// (no mesh-authz plugin, or no `x-user-id` identity header to name the subject): no demo then.
fn follow_revocations(opts: &mut EnvoyOptions) -> bool {
    let Ok(mut config) = plugin_config_of(&opts.yaml) else {
        return false;
    };
    if config.get("revocation").is_some() {
        return true;
    }
    let names_subject = config
        .get("identityHeaders")
        .and_then(serde_json::Value::as_array)
        .is_some_and(|h| h.iter().any(|v| v == "x-user-id"));
    let Some(fields) = config.as_object_mut().filter(|_| names_subject) else {
        return false;
    };
    fields.insert(
        "revocation".to_string(),
        serde_json::json!({
            "subjectHeader": "x-user-id",
            "path": mesh_authz_integration::auth::FEED_PATH,
            "intervalMs": FEED_INTERVAL_MS,
            "maxStaleSeconds": 10,
        }),
    );
    opts.plugin_config = Some(config.to_string());
    true
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

/// A file removed when dropped.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The run's JWKS file and the tokens to try against it.
struct JwtTries {
    jwks: TempFile,
    valid: String,
    expired: String,
    unknown_key: String,
}

const JWT_USER: &str = "jwt-user";
const KID: &str = "run-1";
const UNPUBLISHED_KID: &str = "not-in-jwks";

fn jwt_tries() -> Result<JwtTries, String> {
    let mut issuer = Issuer::new(EXAMPLE_ISSUER);
    let failed = |e: mesh_authz_integration::jwt::IssuerError| e.to_string();
    issuer.add_key(KeyKind::Rsa, KID).map_err(failed)?;
    issuer
        .add_key(KeyKind::Rsa, UNPUBLISHED_KID)
        .map_err(failed)?;
    issuer.unpublish(UNPUBLISHED_KID).map_err(failed)?;
    let claims = Claims::new().sub(JWT_USER).aud(EXAMPLE_AUDIENCE);
    let valid = issuer.token(&claims.clone().exp_in(3600)).map_err(failed)?;
    let expired = issuer
        .token(&claims.clone().iat_in(-7200).exp_in(-3600))
        .map_err(failed)?;
    let unknown_key = issuer
        .token(&claims.signed_by(UNPUBLISHED_KID))
        .map_err(failed)?;
    let path =
        std::env::temp_dir().join(format!("mesh-authz-run-{}.jwks.json", std::process::id()));
    // A leftover of an earlier run with the same pid is replaced; `create_new` then refuses a
    // file (or link) someone put there in between.
    let _ = std::fs::remove_file(&path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let jwks = TempFile(path);
    std::io::Write::write_all(&mut file, issuer.jwks().as_bytes())
        .map_err(|e| format!("{}: {e}", jwks.0.display()))?;
    Ok(JwtTries {
        jwks,
        valid,
        expired,
        unknown_key,
    })
}

fn print_demo(envoy: &Envoy, auth: u16) {
    let auth = std::net::SocketAddr::from(([127, 0, 0, 1], auth));
    println!();
    println!(
        "Logout, played at start (the plugin follows example-auth's revocation feed, one read per {FEED_INTERVAL_MS} ms; {} from the tokens file):",
        logout_demo::TOKEN
    );
    match logout_demo::play(envoy, auth) {
        Ok(lines) => lines.iter().for_each(|l| println!("  {l}")),
        // A dev environment is still worth having: say what failed and go on.
        Err(e) => println!("  FAILED: {e}"),
    }
}

fn print_tries(listen: u16, admin: u16, auth: u16, feed: bool, jwt: &JwtTries) {
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
    if feed {
        let auth = format!("http://127.0.0.1:{auth}");
        println!("  A logout by hand, as dave (a logout lasts as long as example-auth runs):");
        println!("  curl -i -H 'authorization: Bearer dave-token' {url}/hello               # 200; again: 200 from the cache (authz_cached: true in the access log)");
        println!("  curl -i -X POST -H 'authorization: Bearer dave-token' {auth}/logout     # 204 from example-auth, which denies dave from now on");
        println!("  curl -i -H 'authorization: Bearer dave-token' {url}/hello               # 401 within about a second: the feed dropped the cached allow");
        println!("  curl -s {auth}/revocations                                            # the feed: carol (logged out at start), then dave");
    }
    println!("  curl -s http://127.0.0.1:{admin}/stats/prometheus | grep mesh_authz");
    println!("  JWTs (RS256, iss {EXAMPLE_ISSUER}, aud {EXAMPLE_AUDIENCE}; the key's JWKS is example-auth's /.well-known/jwks.json):");
    println!(
        "  curl -i -H 'authorization: Bearer {}' {url}/hello   # valid JWT (sub {JWT_USER}, exp in 1 h): 200, x-user-id: {JWT_USER} at the upstream",
        jwt.valid
    );
    println!(
        "  curl -i -H 'authorization: Bearer {}' {url}/hello   # expired JWT: 401 from the filter, no callout",
        jwt.expired
    );
    println!(
        "  curl -i -H 'authorization: Bearer {}' {url}/hello   # JWT signed by a key not in the JWKS (kid {UNPUBLISHED_KID}): 401",
        jwt.unknown_key
    );
    println!("Ctrl-C stops Envoy, example-auth and echo-upstream.");
}

fn run(mut args: Args) -> Result<(), String> {
    let feed = follow_revocations(&mut args.opts);
    let ports = args.opts.ports;
    // Declared before the children, so dropped after them: the file outlives example-auth.
    let jwt = jwt_tries()?;
    let mut children = Children(Vec::new());
    let auth_args = vec![
        "--listen".to_string(),
        format!("127.0.0.1:{}", ports.auth),
        "--tokens".to_string(),
        args.tokens.display().to_string(),
        "--jwks".to_string(),
        jwt.jwks.0.display().to_string(),
    ];
    start_service("example-auth", &auth_args, ports.auth, &mut children)?;
    let echo_args = vec!["--listen".to_string(), format!("127.0.0.1:{}", ports.echo)];
    start_service("echo-upstream", &echo_args, ports.echo, &mut children)?;
    let mut envoy = Envoy::spawn(&args.opts).map_err(|e: HarnessError| e.to_string())?;
    envoy
        .wait_ready(args.opts.ready_timeout)
        .map_err(|e| e.to_string())?;
    if feed {
        print_demo(&envoy, ports.auth);
    }
    print_tries(ports.listen, ports.admin, ports.auth, feed, &jwt);

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

#[cfg(test)]
mod tests {
    use super::*;
    use mesh_authz_integration::envoy::overrides::{set_plugin_config_text, ROOT_ID};

    fn opts(yaml: &std::path::Path) -> EnvoyOptions {
        let mut o = EnvoyOptions::new(&paths::envoy_bin(), &paths::wasm_module());
        o.yaml = yaml.to_path_buf();
        o
    }

    /// The checked-in file with its plugin JSON changed by `edit`, written to `path`.
    fn edited(path: &std::path::Path, edit: impl FnOnce(&mut serde_json::Value)) {
        let mut config = plugin_config_of(&paths::default_envoy_yaml()).unwrap();
        edit(&mut config);
        let text = std::fs::read_to_string(paths::default_envoy_yaml()).unwrap();
        let mut doc: serde_norway::Value = serde_norway::from_str(&text).unwrap();
        set_plugin_config_text(&mut doc, &config.to_string()).unwrap();
        std::fs::write(path, serde_norway::to_string(&doc).unwrap()).unwrap();
    }

    #[test]
    fn the_checked_in_file_gets_a_feed_block_the_filter_accepts() {
        let yaml = paths::default_envoy_yaml();
        let file = plugin_config_of(&yaml).unwrap();
        assert!(
            file.get("revocation").is_none(),
            "the e2e suites render this file: no feed there"
        );
        let mut o = opts(&yaml);
        assert!(follow_revocations(&mut o));
        let json = o.plugin_config.unwrap();
        let config: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(config["revocation"]["subjectHeader"], "x-user-id");
        assert_eq!(config["revocation"]["intervalMs"], FEED_INTERVAL_MS);
        mesh_authz_core::Config::parse(json.as_bytes()).unwrap();
    }

    #[test]
    fn a_block_of_the_file_is_kept_and_a_file_that_cannot_follow_plays_no_demo() {
        let dir = std::env::temp_dir().join(format!("mesh-authz-run-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let own = dir.join("own.yaml");
        edited(
            &own,
            |c| {
                c["revocation"] =
                    serde_json::json!({"subjectHeader": "x-user-id", "intervalMs": 5000})
            },
        );
        let mut o = opts(&own);
        assert!(follow_revocations(&mut o));
        assert!(
            o.plugin_config.is_none(),
            "the file's block is used as it is"
        );

        let no_subject = dir.join("no-subject.yaml");
        edited(&no_subject, |c| {
            c["identityHeaders"] = serde_json::json!(["x-user-roles"])
        });
        let mut o = opts(&no_subject);
        assert!(!follow_revocations(&mut o));
        assert!(o.plugin_config.is_none());

        let text = std::fs::read_to_string(paths::default_envoy_yaml()).unwrap();
        let no_plugin = dir.join("no-plugin.yaml");
        std::fs::write(
            &no_plugin,
            text.replace(&format!("root_id: {ROOT_ID}"), "root_id: other"),
        )
        .unwrap();
        assert!(!follow_revocations(&mut opts(&no_plugin)));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
