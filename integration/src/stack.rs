//! The unit a test works with: example auth service and echo upstream in this process, a real
//! Envoy in front, all on 127.0.0.1 free ports.

use crate::auth::{AuthService, AuthState, Tokens};
use crate::client::{Request, Response};
use crate::envoy::{plugin_config_of, Envoy, EnvoyOptions, PortMap};
use crate::error::io;
use crate::paths::Prerequisites;
use crate::server::ServerHandle;
use crate::{echo, HarnessError};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

const LOCALHOST: [u8; 4] = [127, 0, 0, 1];

pub struct Stack {
    pub auth: AuthService,
    pub echo: ServerHandle,
    /// The echo handler: how many requests reached the upstream, and what each carried.
    pub upstream: Arc<echo::Echo>,
    pub envoy: Envoy,
}

/// How to start a `Stack`; the plugin JSON starts as the checked-in one.
pub struct StackBuilder {
    pub options: EnvoyOptions,
    pub config: serde_json::Value,
    /// Point the `auth` cluster here instead of at the service (e.g. a closed port).
    pub auth_port: Option<u16>,
    /// Threads of each in-process service.
    pub service_threads: usize,
    /// The auth service's tokens (default: the example ones).
    pub tokens: Tokens,
    /// The JWKS the auth service serves (default: no keys), and a status it answers instead.
    pub jwks: Option<String>,
    pub jwks_status: Option<u16>,
}

impl Stack {
    /// Waits until a request with `token` as its bearer is allowed: the JWKS fetched at start
    /// has landed (fetches land asynchronously, after Envoy is ready).
    pub fn until_allowed(&self, token: &str) -> Result<(), HarnessError> {
        let warm = crate::client::Request::get("/warm").bearer(token);
        crate::wait::eventually("the first JWKS", Duration::from_secs(10), || {
            self.send(&warm).is_ok_and(|r| r.status == 200)
        })
    }

    pub fn builder(p: &Prerequisites) -> Result<StackBuilder, HarnessError> {
        let options = EnvoyOptions::new(&p.envoy, &p.wasm);
        let config = plugin_config_of(&options.yaml)?;
        Ok(StackBuilder {
            options,
            config,
            auth_port: None,
            service_threads: 1,
            tokens: Tokens::example(),
            jwks: None,
            jwks_status: None,
        })
    }

    /// The checked-in configuration, unchanged.
    pub fn start(p: &Prerequisites) -> Result<Stack, HarnessError> {
        Self::builder(p)?.start()
    }

    pub fn send(&self, req: &Request) -> Result<Response, HarnessError> {
        self.envoy.send(req)
    }

    pub fn get(&self, target: &str) -> Result<Response, HarnessError> {
        self.envoy.send(&Request::get(target))
    }

    /// The filter's flight gauges from one `/stats` read.
    pub fn parked(&self) -> Result<Parked, HarnessError> {
        let stats = self.envoy.stats()?;
        let g = |n: &str| crate::envoy::stats::stat(&stats, &format!("wasmcustom.mesh_authz_{n}"));
        Ok(Parked {
            in_flight: g("callouts_in_flight")?,
            waiting: g("requests_waiting")?,
        })
    }

    /// Polls the gauges until `expected` holds, or fails at `timeout` with the last reading.
    /// While callouts are held the gauges only grow, so a state the filter should not reach (one
    /// callout too many) never turns into `expected`.
    pub fn wait_parked(
        &self,
        timeout: Duration,
        expected: impl Fn(Parked) -> bool,
    ) -> Result<Parked, HarnessError> {
        let deadline = Instant::now() + timeout;
        loop {
            let now = self.parked()?;
            if expected(now) {
                return Ok(now);
            }
            if Instant::now() >= deadline {
                return Err(HarnessError::Envoy(format!(
                    "the filter's gauges not as expected within {timeout:?}: last {now:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends `requests` at once, each on its own connection, while the auth service holds every
    /// callout (its hung knob), and answers them once the gauges show what `expected` wants: what
    /// follows does not depend on how fast threads start. The hold is lifted on every path. The
    /// callout timeout (`authService.timeoutMs`) must be above `timeout`.
    pub fn held_burst(
        &self,
        requests: Vec<Request>,
        timeout: Duration,
        expected: impl Fn(Parked) -> bool,
    ) -> Result<(Parked, Vec<Response>), HarnessError> {
        let addr = self.envoy.listen_addr()?;
        self.auth.set_hung(true);
        let handles: Vec<_> = requests
            .into_iter()
            .map(|req| std::thread::spawn(move || req.send(addr)))
            .collect();
        let parked = self.wait_parked(timeout, expected);
        self.auth.set_hung(false);
        let mut responses = Vec::with_capacity(handles.len());
        for h in handles {
            let r = h
                .join()
                .map_err(|_| HarnessError::Missing("a burst thread panicked".into()))?;
            responses.push(r?);
        }
        Ok((parked?, responses))
    }
}

/// The filter's gauges for single flight, summed over workers and updated once a second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parked {
    /// Callouts made and not answered.
    pub in_flight: u64,
    /// Requests paused in the filter until a callout answers, the one that made it included.
    pub waiting: u64,
}

impl StackBuilder {
    /// Changes the plugin JSON, e.g. `|c| c["onError"]["mode"] = "allow".into()`.
    pub fn config(mut self, f: impl FnOnce(&mut serde_json::Value)) -> Self {
        f(&mut self.config);
        self
    }

    pub fn concurrency(mut self, n: u32) -> Self {
        self.options.concurrency = n;
        self
    }

    /// Changes Envoy's bootstrap, e.g. `overrides::enable_http1_trailers`.
    pub fn envoy_patch(mut self, patch: crate::envoy::overrides::Patch) -> Self {
        self.options.patches.push(patch);
        self
    }

    /// `false`: Envoy without its path and header hardening (see `EnvoyOptions::hardened`).
    pub fn hardened(mut self, on: bool) -> Self {
        self.options.hardened = on;
        self
    }

    /// The tokens the example auth service accepts.
    pub fn tokens(mut self, tokens: Tokens) -> Self {
        self.tokens = tokens;
        self
    }

    /// Threads of the in-process auth service and echo upstream each.
    pub fn service_threads(mut self, n: usize) -> Self {
        self.service_threads = n;
        self
    }

    /// The JWKS document the auth service serves from the start.
    pub fn jwks(mut self, jwks: &str) -> Self {
        self.jwks = Some(jwks.to_string());
        self
    }

    /// The JWKS path answers `status` from the start (before Envoy's first fetch).
    pub fn jwks_status(mut self, status: u16) -> Self {
        self.jwks_status = Some(status);
        self
    }

    pub fn auth_port(mut self, port: u16) -> Self {
        self.auth_port = Some(port);
        self
    }

    pub fn start(mut self) -> Result<Stack, HarnessError> {
        let any = SocketAddr::from((LOCALHOST, 0));
        let prefix = self
            .config
            .pointer("/authService/pathPrefix")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
            .to_string();
        let mut state = AuthState::new(self.tokens, &prefix);
        if let Some(jwks) = &self.jwks {
            state = state.with_jwks(jwks);
        }
        let auth = AuthService::spawn(any, self.service_threads, state)?;
        if self.jwks_status.is_some() {
            auth.set_jwks_status(self.jwks_status);
        }
        let (echo, upstream) = echo::spawn_counted(any, self.service_threads)?;
        self.options.ports = PortMap::ephemeral(self.auth_port.unwrap_or(auth.port()), echo.port());
        self.options.plugin_config = Some(self.config.to_string());
        let envoy = Envoy::start(&self.options)?;
        Ok(Stack {
            auth,
            echo,
            upstream,
            envoy,
        })
    }
}

/// A port on 127.0.0.1 that refuses connections. It stays bound, never listening, for the rest of
/// the process: a port bound and released at once can be handed to the next listener (this
/// test's own Envoy once took it, and its callouts then looped through itself).
pub fn closed_port() -> Result<u16, HarnessError> {
    use socket2::{Domain, Socket, Type};
    static HELD: std::sync::Mutex<Vec<Socket>> = std::sync::Mutex::new(Vec::new());
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).map_err(io("a probe socket"))?;
    s.bind(&SocketAddr::from((LOCALHOST, 0)).into())
        .map_err(io("binding a probe port"))?;
    let port = s
        .local_addr()
        .map_err(io("local_addr"))?
        .as_socket()
        .map(|a| a.port())
        .ok_or_else(|| {
            HarnessError::Io(
                "local_addr".into(),
                std::io::Error::other("not an IP address"),
            )
        })?;
    if let Ok(mut held) = HELD.lock() {
        held.push(s);
    }
    Ok(port)
}
