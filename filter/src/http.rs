//! One request: strip forged identity, ask the core what to do, make the callout when it says so,
//! and carry out the resulting `Action`. All decisions are the core's; this file only talks to Envoy.

use crate::abi;
use crate::host::ProxyHost;
use crate::log_at;
use mesh_authz_core::decision::{CalloutError, Outcome};
use mesh_authz_core::host::{Host, Metric};
use mesh_authz_core::key::CacheKey;
use mesh_authz_core::request::RequestHead;
use mesh_authz_core::response::Answer;
use mesh_authz_core::{Action, Authorizer, Start, Verdict};
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action as Flow, BufferType, MapType};
use std::rc::Rc;
use std::time::Duration;

const REQ: MapType = MapType::HttpRequestHeaders;

pub struct AuthFilter {
    id: u32,
    authorizer: Option<Rc<Authorizer>>,
    host: ProxyHost,
    /// The callout in flight: its token and the cache key its answer belongs to.
    pending: Option<(u32, CacheKey)>,
}

impl AuthFilter {
    pub fn new(id: u32, authorizer: Option<Rc<Authorizer>>, host: ProxyHost) -> Self {
        AuthFilter {
            id,
            authorizer,
            host,
            pending: None,
        }
    }

    /// Answers 500 when the filter cannot do its job safely: fail closed, never open.
    fn fail_closed(&self, what: std::fmt::Arguments<'_>) -> Flow {
        log_at!(Error, self.id, "{what}; answering 500");
        let _ = abi::send_local_response(
            500,
            &[("content-type", b"text/plain")],
            b"internal error\n",
            "mesh_authz_internal_error",
        );
        Flow::Pause
    }

    fn authorize(&mut self, authz: &Authorizer) -> Flow {
        let raw = match abi::header_map(REQ) {
            Ok(raw) => raw,
            Err(s) => {
                return self.fail_closed(format_args!("could not read request headers ({s})"))
            }
        };
        let headers = match abi::pairs(&raw) {
            Ok(h) => h,
            Err(e) => {
                return self.fail_closed(format_args!("could not parse request headers ({e})"))
            }
        };
        // A client can never bring its own identity: remove every configured identity header present,
        // whatever the request turns out to be. Removing a name removes all its values.
        for name in &authz.config().identity_headers {
            if headers.iter().any(|(n, _)| n == name) {
                if let Err(s) = abi::remove_header(REQ, name) {
                    return self
                        .fail_closed(format_args!("could not remove client-sent {name} ({s})"));
                }
            }
        }
        match authz.start(&self.host, &RequestHead::new(&headers)) {
            Start::Done(verdict) => self.carry_out(authz, &verdict, false),
            Start::Callout(callout) => {
                let auth = &authz.config().auth;
                let pairs: Vec<(&str, &str)> = callout
                    .headers
                    .iter()
                    .map(|(n, v)| (*n, v.as_ref()))
                    .collect();
                let timeout = Duration::from_millis(u64::from(auth.timeout_ms));
                match self.dispatch_http_call(&auth.cluster, pairs, None, vec![], timeout) {
                    Ok(token) => {
                        self.host.count(Metric::Callouts);
                        self.pending = Some((token, callout.key));
                        Flow::Pause
                    }
                    Err(status) => {
                        let why = format!("{status:?}");
                        log_at!(
                            Warn,
                            self.id,
                            "callout to cluster '{}' not dispatched ({why}): check that the cluster exists in Envoy's configuration (Istio: outbound|PORT||FQDN of the auth service)",
                            auth.cluster
                        );
                        let verdict = Outcome::Error(CalloutError::Dispatch(why));
                        self.carry_out(authz, &verdict, false)
                    }
                }
            }
        }
    }

    /// Carries out the outcome. `resume` is true when the request was paused for a callout.
    fn carry_out(&self, authz: &Authorizer, verdict: &Verdict, resume: bool) -> Flow {
        match authz.conclude(&self.host, verdict) {
            Action::Continue { identity } => {
                for (name, value) in identity {
                    if let Err(s) = abi::add_header(REQ, name, value) {
                        return self
                            .fail_closed(format_args!("could not set {name} upstream ({s})"));
                    }
                }
                if resume {
                    if let Err(s) = abi::resume_request() {
                        log_at!(
                            Warn,
                            self.id,
                            "could not resume the request ({s}); the client may have gone"
                        );
                    }
                }
                Flow::Continue
            }
            Action::Respond {
                status,
                headers,
                body,
            } => {
                if let Err(s) =
                    abi::send_local_response(status, &headers, body, "mesh_authz_denied")
                {
                    log_at!(
                        Warn,
                        self.id,
                        "could not send the {status} reply ({s}); the client may have gone"
                    );
                }
                Flow::Pause
            }
        }
    }

    fn explain(&self, authz: &Authorizer, error: &CalloutError) {
        let auth = &authz.config().auth;
        match error {
            CalloutError::NoResponse => log_at!(
                Warn,
                self.id,
                "no answer from the auth service on cluster '{}' within {} ms (timeout, refused connection or no healthy host): check the service, the cluster's endpoints and authService.timeoutMs",
                auth.cluster,
                auth.timeout_ms
            ),
            CalloutError::ServerError(s) => {
                log_at!(Warn, self.id, "auth service on cluster '{}' answered {s}: see the auth service's own logs", auth.cluster)
            }
            CalloutError::Malformed => {
                log_at!(Warn, self.id, "auth service on cluster '{}' answered without a valid :status", auth.cluster)
            }
            CalloutError::Dispatch(_) => {}
        }
    }
}

impl Context for AuthFilter {
    fn on_http_call_response(
        &mut self,
        token: u32,
        num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        let Some(authz) = self.authorizer.clone() else {
            return;
        };
        let key = match self.pending.take() {
            Some((t, key)) if t == token => key,
            other => {
                self.pending = other;
                log_at!(Debug, self.id, "ignoring answer to unknown callout {token}");
                return;
            }
        };
        let raw = if num_headers == 0 {
            Ok(Vec::new())
        } else {
            abi::header_map(MapType::HttpCallResponseHeaders)
        };
        let body_max = body_size.min(authz.config().max_deny_body_bytes);
        let body = if body_max == 0 {
            Ok(Vec::new())
        } else {
            abi::buffer(BufferType::HttpCallResponseBody, body_max)
        };
        let verdict = match (&raw, &body) {
            (Ok(raw), Ok(body)) => match abi::pairs(raw) {
                Ok(headers) => authz.finish(
                    &self.host,
                    &key,
                    Ok(Answer {
                        headers: &headers,
                        body,
                    }),
                ),
                Err(_) => authz.finish(&self.host, &key, Err(CalloutError::Malformed)),
            },
            _ => authz.finish(&self.host, &key, Err(CalloutError::Malformed)),
        };
        if let Outcome::Error(e) = &verdict {
            self.explain(&authz, e);
        }
        self.carry_out(&authz, &verdict, true);
    }
}

impl HttpContext for AuthFilter {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Flow {
        match self.authorizer.clone() {
            Some(authz) => self.authorize(&authz),
            None => self.fail_closed(format_args!("request arrived before a valid configuration")),
        }
    }
}
