//! The hostcalls the adapter makes, behind one trait: `wasm::Abi` makes them for real (wasm32 only),
//! and tests use a fake that records each call, so the adapter's translation of the core's plans into
//! hostcalls is tested natively, in order.

use crate::abi::{BufferType, HostStatus, MapType, MetricType};
use std::borrow::Cow;

pub trait Hostcalls {
    /// Envoy's log level for wasm, as a number: 0 trace .. 5 critical.
    fn log_level(&self) -> Result<u32, HostStatus>;
    fn now_nanos(&self) -> Result<u64, HostStatus>;
    /// Up to `max` bytes of a buffer; empty when the host has none.
    fn buffer(&self, kind: BufferType, max: usize) -> Result<Vec<u8>, HostStatus>;
    /// The serialized pairs of a header map (parse with `abi::pairs`); empty when there is none.
    fn header_map(&self, map: MapType) -> Result<Vec<u8>, HostStatus>;
    /// Removes every value of `name`.
    fn remove_header(&self, map: MapType, name: &str) -> Result<(), HostStatus>;
    fn add_header(&self, map: MapType, name: &str, value: &[u8]) -> Result<(), HostStatus>;
    fn send_local_response(
        &self,
        status: u16,
        headers: &[(&str, &[u8])],
        body: &[u8],
        details: &str,
    ) -> Result<(), HostStatus>;
    fn resume_request(&self) -> Result<(), HostStatus>;
    fn define_metric(&self, kind: MetricType, name: &str) -> Result<u32, HostStatus>;
    fn increment(&self, id: u32, by: i64) -> Result<(), HostStatus>;
    /// Records a value in a histogram.
    fn record_metric(&self, id: u32, value: u64) -> Result<(), HostStatus>;
    /// Sets a property of the current request (Envoy keeps it as filter state `wasm.<path>`, which
    /// its access log can print).
    fn set_property(&self, path: &str, value: &[u8]) -> Result<(), HostStatus>;
    /// A property of the effective request (`["source", "address"]`); `None` when the host has
    /// none by that path.
    fn property(&self, path: &[&str]) -> Result<Option<Vec<u8>>, HostStatus>;
    /// Makes later hostcalls act on `ctx` (a request waiting on a callout another context owns).
    fn set_effective_context(&self, ctx: u32) -> Result<(), HostStatus>;
    /// A shared-data value and its CAS token; `None` when the key was never written.
    fn shared_get(&self, key: &str) -> Result<Option<(Vec<u8>, u32)>, HostStatus>;
    fn shared_set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), HostStatus>;
    fn set_tick_period_ms(&self, ms: u32) -> Result<(), HostStatus>;
    /// Dispatches an HTTP call; the answer comes to `proxy_on_http_call_response` of the context
    /// effective now, with the returned token.
    fn http_call(
        &self,
        cluster: &str,
        headers: &[(&str, Cow<'_, [u8]>)],
        timeout_ms: u32,
    ) -> Result<u32, HostStatus>;
    /// Dispatches a unary gRPC call; its answer comes to `proxy_on_grpc_receive` (the message) and
    /// `proxy_on_grpc_close` (the status) of the context effective now, with the returned token.
    /// `upstream` is a cluster name or a serialized `envoy.config.core.v3.GrpcService`.
    #[allow(clippy::too_many_arguments)]
    fn grpc_call(
        &self,
        upstream: &[u8],
        service: &str,
        method: &str,
        initial_metadata: &[(&str, &[u8])],
        message: &[u8],
        timeout_ms: u32,
    ) -> Result<u32, HostStatus>;
    /// The status of the gRPC call being closed (in `proxy_on_grpc_close`): code and message.
    fn status(&self) -> Result<(u32, Vec<u8>), HostStatus>;
    /// Calls a function the host registered by `name` (Envoy's `verify_signature`); `NotFound`
    /// when it has none by that name.
    fn call_foreign(&self, name: &str, args: &[u8]) -> Result<Vec<u8>, HostStatus>;
    /// The VM's linear memory in bytes.
    fn memory_bytes(&self) -> u64;
}
