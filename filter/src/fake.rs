//! A fake host for the adapter's tests: it holds each request's headers and trailers, the effective
//! context, the auth service's answer and the plugin configuration, and records every hostcall that
//! acts on a request, in order, so a test can assert the exact sequence the adapter makes.
//!
//! It also keeps a census of what crosses the boundary (every hostcall, the bytes each way, the
//! buffers the module allocates for the host), which the benchmark prints per request path; while
//! the fake itself works, `in_host()` is true, so an allocator can count the module's allocations
//! alone.

use crate::abi::{
    serialize, BufferType, HostStatus, MapType, MetricType, CALL_RESPONSE_BODY,
    CALL_RESPONSE_HEADERS, GRPC_RECEIVE_BUFFER, PLUGIN_CONFIGURATION, REQUEST_HEADERS,
    REQUEST_TRAILERS,
};
use crate::hostcalls::Hostcalls;
use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap};

/// A hostcall that acts on a request, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// A request header removed (context, name).
    Remove(u32, String),
    /// A trailer removed.
    RemoveTrailer(u32, String),
    /// A request header added (context, name, value).
    Add(u32, String, String),
    /// A local reply (context, status).
    Reply(u32, u16),
    /// The request resumed.
    Resume(u32),
    /// The effective context changed.
    Enter(u32),
    /// A callout dispatched from the effective context (which must be a root): (context, token,
    /// its `:path`).
    Dispatch(u32, u32, String),
    /// A foreign function called (its name).
    Foreign(String),
    /// A gRPC call dispatched from the effective context: (context, token, `service/method`).
    GrpcDispatch(u32, u32, String),
    /// A property read (context, dotted path).
    Property(u32, String),
    /// A gRPC message read (its size).
    GrpcRead(usize),
}

/// Owned header pairs, as a request or answer holds them.
pub type Pairs = Vec<(String, Vec<u8>)>;

pub const NOT_FOUND: HostStatus = HostStatus(1);
pub const BAD_ARGUMENT: HostStatus = HostStatus(2);

thread_local! {
    static IN_HOST: Cell<bool> = const { Cell::new(false) };
}

/// True while the fake host (not the module) runs on this thread.
pub fn in_host() -> bool {
    IN_HOST.with(Cell::get)
}

/// Marks the host at work until dropped.
struct HostWork;

impl HostWork {
    fn start() -> HostWork {
        IN_HOST.with(|c| c.set(true));
        HostWork
    }
}

impl Drop for HostWork {
    fn drop(&mut self) {
        IN_HOST.with(|c| c.set(false));
    }
}

/// What crossed the boundary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Census {
    pub hostcalls: u64,
    /// Bytes the host handed the module (header maps, bodies, configuration, shared data).
    pub bytes_in: u64,
    /// Bytes the module handed the host (names, values, serialized maps, replies).
    pub bytes_out: u64,
    /// Buffers the host made the module allocate (`proxy_on_memory_allocate`) to hand bytes over.
    pub host_buffers: u64,
}

#[derive(Default)]
pub struct FakeHost {
    pub census: Cell<Census>,
    pub calls: RefCell<Vec<Call>>,
    pub effective: Cell<u32>,
    pub config: RefCell<Vec<u8>>,
    pub headers: RefCell<HashMap<u32, Pairs>>,
    pub trailers: RefCell<HashMap<u32, Pairs>>,
    /// The answer of the callout being delivered: headers (with `:status`) and body.
    pub answer: RefCell<(Pairs, Vec<u8>)>,
    /// Contexts the host no longer knows (set_effective_context fails for them).
    pub gone: RefCell<BTreeSet<u32>>,
    /// Hostcalls that fail: "http_call", "send_local_response", "remove_header", "header_map".
    pub failing: RefCell<BTreeSet<&'static str>>,
    pub metric_names: RefCell<Vec<String>>,
    pub metric_values: RefCell<HashMap<u32, i64>>,
    /// Histogram records (id, value).
    pub recorded: RefCell<Vec<(u32, u64)>>,
    /// Properties set, by (context, path).
    pub properties: RefCell<HashMap<(u32, String), String>>,
    /// Properties the host has, by (context, dotted path): `source.address`, ...
    pub host_properties: RefCell<HashMap<(u32, String), Vec<u8>>>,
    pub now_ms: Cell<u64>,
    /// The host's foreign functions by name (none: `NotFound`, as a host without them).
    #[allow(clippy::type_complexity)]
    pub foreign: RefCell<HashMap<String, Box<dyn Fn(&[u8]) -> Result<Vec<u8>, HostStatus>>>>,
    /// The gRPC call being answered: its message (the receive buffer) and its close status.
    pub grpc_message: RefCell<Vec<u8>>,
    pub grpc_status: RefCell<(u32, Vec<u8>)>,
    /// What each gRPC call was given: (upstream, metadata, message, timeout), by token.
    #[allow(clippy::type_complexity)]
    pub grpc_calls: RefCell<HashMap<u32, (Vec<u8>, Pairs, Vec<u8>, u32)>>,
    next_token: Cell<u32>,
}

impl FakeHost {
    /// A host whose plugin configuration is `config`.
    pub fn with_config(config: &str) -> Self {
        let h = FakeHost::default();
        *h.config.borrow_mut() = config.as_bytes().to_vec();
        h
    }

    /// Envoy calls into the module for context `ctx`.
    pub fn enter(&self, ctx: u32) {
        self.effective.set(ctx);
    }

    pub fn request(&self, ctx: u32, headers: &[(&str, &str)]) {
        let owned = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
            .collect();
        self.headers.borrow_mut().insert(ctx, owned);
    }

    pub fn trailers(&self, ctx: u32, trailers: &[(&str, &str)]) {
        let owned = trailers
            .iter()
            .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
            .collect();
        self.trailers.borrow_mut().insert(ctx, owned);
    }

    pub fn answer(&self, headers: &[(&str, &str)], body: &str) {
        *self.answer.borrow_mut() = (
            headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
                .collect(),
            body.as_bytes().to_vec(),
        );
    }

    pub fn fail(&self, call: &'static str) {
        self.failing.borrow_mut().insert(call);
    }

    /// The calls recorded since the last `take`.
    pub fn take(&self) -> Vec<Call> {
        std::mem::take(&mut self.calls.borrow_mut())
    }

    /// A counter or gauge by name.
    pub fn metric(&self, name: &str) -> i64 {
        let id = self.metric_names.borrow().iter().position(|n| n == name);
        id.and_then(|i| {
            self.metric_values
                .borrow()
                .get(&(u32::try_from(i).ok()?))
                .copied()
        })
        .unwrap_or(0)
    }

    fn tally(&self, bytes_in: usize, bytes_out: usize) {
        let mut c = self.census.get();
        c.hostcalls += 1;
        c.bytes_in += bytes_in as u64;
        c.bytes_out += bytes_out as u64;
        if bytes_in > 0 {
            c.host_buffers += 1;
        }
        self.census.set(c);
    }

    fn failing(&self, call: &str) -> Result<(), HostStatus> {
        if self.failing.borrow().contains(call) {
            Err(BAD_ARGUMENT)
        } else {
            Ok(())
        }
    }

    fn record(&self, call: Call) {
        self.calls.borrow_mut().push(call);
    }

    fn map(&self, map: MapType) -> Option<Pairs> {
        let ctx = self.effective.get();
        match map {
            REQUEST_HEADERS => self.headers.borrow().get(&ctx).cloned(),
            REQUEST_TRAILERS => self.trailers.borrow().get(&ctx).cloned(),
            CALL_RESPONSE_HEADERS => Some(self.answer.borrow().0.clone()),
            _ => None,
        }
    }
}

impl Hostcalls for FakeHost {
    fn log_level(&self) -> Result<u32, HostStatus> {
        let _work = HostWork::start();
        self.tally(0, 0);
        Ok(1)
    }

    fn now_nanos(&self) -> Result<u64, HostStatus> {
        let _work = HostWork::start();
        self.tally(0, 0);
        Ok(self.now_ms.get() * 1_000_000)
    }

    fn buffer(&self, kind: BufferType, max: usize) -> Result<Vec<u8>, HostStatus> {
        let _work = HostWork::start();
        let mut bytes = match kind {
            PLUGIN_CONFIGURATION => self.config.borrow().clone(),
            CALL_RESPONSE_BODY => self.answer.borrow().1.clone(),
            GRPC_RECEIVE_BUFFER => {
                let m = self.grpc_message.borrow();
                let m = m.get(..max.min(m.len())).unwrap_or_default().to_vec();
                self.record(Call::GrpcRead(m.len()));
                m
            }
            _ => return Err(NOT_FOUND),
        };
        bytes.truncate(max);
        self.tally(bytes.len(), 0);
        Ok(bytes)
    }

    fn header_map(&self, map: MapType) -> Result<Vec<u8>, HostStatus> {
        let _work = HostWork::start();
        self.failing("header_map")?;
        let pairs = self.map(map).ok_or(NOT_FOUND)?;
        let borrowed: Vec<(&str, &[u8])> = pairs
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_slice()))
            .collect();
        let map = serialize(&borrowed);
        self.tally(map.len(), 0);
        Ok(map)
    }

    fn remove_header(&self, map: MapType, name: &str) -> Result<(), HostStatus> {
        let _work = HostWork::start();
        self.tally(0, name.len());
        self.failing("remove_header")?;
        let ctx = self.effective.get();
        let (store, call) = match map {
            REQUEST_HEADERS => (&self.headers, Call::Remove(ctx, name.into())),
            REQUEST_TRAILERS => (&self.trailers, Call::RemoveTrailer(ctx, name.into())),
            _ => return Err(BAD_ARGUMENT),
        };
        if let Some(pairs) = store.borrow_mut().get_mut(&ctx) {
            pairs.retain(|(n, _)| n != name);
        }
        self.record(call);
        Ok(())
    }

    fn add_header(&self, map: MapType, name: &str, value: &[u8]) -> Result<(), HostStatus> {
        let _work = HostWork::start();
        self.tally(0, name.len() + value.len());
        if map != REQUEST_HEADERS {
            return Err(BAD_ARGUMENT);
        }
        let ctx = self.effective.get();
        self.record(Call::Add(
            ctx,
            name.into(),
            String::from_utf8_lossy(value).into_owned(),
        ));
        Ok(())
    }

    fn send_local_response(
        &self,
        status: u16,
        headers: &[(&str, &[u8])],
        body: &[u8],
        details: &str,
    ) -> Result<(), HostStatus> {
        let _work = HostWork::start();
        self.tally(0, serialize(headers).len() + body.len() + details.len());
        self.record(Call::Reply(self.effective.get(), status));
        self.failing("send_local_response")
    }

    fn resume_request(&self) -> Result<(), HostStatus> {
        let _work = HostWork::start();
        self.tally(0, 0);
        self.record(Call::Resume(self.effective.get()));
        Ok(())
    }

    fn define_metric(&self, _kind: MetricType, name: &str) -> Result<u32, HostStatus> {
        let _work = HostWork::start();
        self.tally(0, name.len());
        let mut names = self.metric_names.borrow_mut();
        names.push(name.to_string());
        u32::try_from(names.len() - 1).map_err(|_| BAD_ARGUMENT)
    }

    fn increment(&self, id: u32, by: i64) -> Result<(), HostStatus> {
        let _work = HostWork::start();
        self.tally(0, 0);
        *self.metric_values.borrow_mut().entry(id).or_default() += by;
        Ok(())
    }

    fn record_metric(&self, id: u32, value: u64) -> Result<(), HostStatus> {
        let _work = HostWork::start();
        self.tally(0, 0);
        self.recorded.borrow_mut().push((id, value));
        Ok(())
    }

    fn set_property(&self, path: &str, value: &[u8]) -> Result<(), HostStatus> {
        let _work = HostWork::start();
        self.tally(0, path.len() + value.len());
        let ctx = self.effective.get();
        self.properties.borrow_mut().insert(
            (ctx, path.to_string()),
            String::from_utf8_lossy(value).into_owned(),
        );
        Ok(())
    }

    fn property(&self, path: &[&str]) -> Result<Option<Vec<u8>>, HostStatus> {
        let _work = HostWork::start();
        let key = (self.effective.get(), path.join("."));
        let value = self.host_properties.borrow().get(&key).cloned();
        self.tally(value.as_ref().map_or(0, Vec::len), key.1.len());
        self.record(Call::Property(key.0, key.1));
        Ok(value)
    }

    fn set_effective_context(&self, ctx: u32) -> Result<(), HostStatus> {
        let _work = HostWork::start();
        self.tally(0, 0);
        if self.gone.borrow().contains(&ctx) {
            return Err(NOT_FOUND);
        }
        self.effective.set(ctx);
        self.record(Call::Enter(ctx));
        Ok(())
    }

    fn shared_get(&self, key: &str) -> Result<Option<(Vec<u8>, u32)>, HostStatus> {
        let _work = HostWork::start();
        self.tally(0, key.len());
        Ok(None)
    }

    fn shared_set(&self, key: &str, value: &[u8], _cas: u32) -> Result<(), HostStatus> {
        let _work = HostWork::start();
        self.tally(0, key.len() + value.len());
        Ok(())
    }

    fn set_tick_period_ms(&self, _ms: u32) -> Result<(), HostStatus> {
        let _work = HostWork::start();
        self.tally(0, 0);
        Ok(())
    }

    fn http_call(
        &self,
        cluster: &str,
        headers: &[(&str, Cow<'_, [u8]>)],
        _timeout_ms: u32,
    ) -> Result<u32, HostStatus> {
        let _work = HostWork::start();
        self.tally(0, cluster.len() + serialize(headers).len());
        self.failing("http_call")?;
        let token = self.next_token.get() + 1;
        self.next_token.set(token);
        let path = headers
            .iter()
            .find(|(n, _)| *n == ":path")
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default();
        self.record(Call::Dispatch(self.effective.get(), token, path));
        Ok(token)
    }

    fn grpc_call(
        &self,
        upstream: &[u8],
        service: &str,
        method: &str,
        initial_metadata: &[(&str, &[u8])],
        message: &[u8],
        timeout_ms: u32,
    ) -> Result<u32, HostStatus> {
        let _work = HostWork::start();
        let metadata = serialize(initial_metadata);
        self.tally(
            0,
            upstream.len() + service.len() + method.len() + metadata.len() + message.len(),
        );
        self.failing("grpc_call")?;
        let token = self.next_token.get() + 1;
        self.next_token.set(token);
        let pairs = initial_metadata
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_vec()))
            .collect();
        self.grpc_calls.borrow_mut().insert(
            token,
            (upstream.to_vec(), pairs, message.to_vec(), timeout_ms),
        );
        self.record(Call::GrpcDispatch(
            self.effective.get(),
            token,
            format!("{service}/{method}"),
        ));
        Ok(token)
    }

    fn status(&self) -> Result<(u32, Vec<u8>), HostStatus> {
        let _work = HostWork::start();
        let status = self.grpc_status.borrow().clone();
        self.tally(status.1.len(), 0);
        Ok(status)
    }

    fn call_foreign(&self, name: &str, args: &[u8]) -> Result<Vec<u8>, HostStatus> {
        let _work = HostWork::start();
        self.tally(0, name.len() + args.len());
        self.record(Call::Foreign(name.to_string()));
        match self.foreign.borrow().get(name) {
            Some(f) => f(args),
            None => Err(NOT_FOUND),
        }
    }

    fn memory_bytes(&self) -> u64 {
        let _work = HostWork::start();
        1 << 20
    }
}
