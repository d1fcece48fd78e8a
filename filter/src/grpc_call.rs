//! The answer of a gRPC call, as Envoy delivers it: initial metadata, the message, trailing
//! metadata, then the close with its status. These handlers only read what arrived and keep it per
//! token for the request flow to take (`take`); judging it is the core's (`grpc::response`,
//! `grpc::status`), and the flow decides what to do with the request.
//!
//! What is kept is bounded: at most `MAX_PENDING` calls, each message at most the size the call
//! allowed Envoy to receive (`grpc::service::MAX_RESPONSE_BYTES`).

use crate::abi::GRPC_RECEIVE_BUFFER;
use crate::hostcalls::Hostcalls;
use mesh_authz_core::grpc::service::MAX_RESPONSE_BYTES;
use std::cell::RefCell;
use std::collections::BTreeMap;

/// Calls whose answers are kept at once; beyond it an arrival is dropped with a warning (the flow
/// takes each call's answer at its close, so this is only reached if nothing takes them).
pub const MAX_PENDING: usize = 4096;

/// What arrived for one call.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Arrived {
    /// The CheckResponse bytes (without the gRPC frame), or `None` when no message came.
    pub message: Option<Vec<u8>>,
    /// The close: gRPC status code and message. `None` until the call closed.
    pub close: Option<(u32, Vec<u8>)>,
}

thread_local! {
    static ARRIVED: RefCell<BTreeMap<u32, Arrived>> = const { RefCell::new(BTreeMap::new()) };
}

/// What arrived for `token`, removed; the flow calls this when the call closed.
pub fn take(token: u32) -> Option<Arrived> {
    ARRIVED.with(|a| a.borrow_mut().remove(&token))
}

fn record(token: u32, update: impl FnOnce(&mut Arrived)) {
    ARRIVED.with(|a| {
        let mut a = a.borrow_mut();
        if !a.contains_key(&token) && a.len() >= MAX_PENDING {
            log::warn!("gRPC answer for call {token} dropped: {MAX_PENDING} answers are waiting to be taken");
            return;
        }
        update(a.entry(token).or_default());
    });
}

/// Initial metadata carries nothing the decision reads.
pub fn on_receive_initial_metadata(context_id: u32, token: u32, headers: usize) {
    log::debug!("#{context_id} gRPC call {token}: initial metadata ({headers} entries)");
}

pub fn on_receive<H: Hostcalls>(host: &H, context_id: u32, token: u32, size: usize) {
    let max = size.min(MAX_RESPONSE_BYTES as usize);
    match host.buffer(GRPC_RECEIVE_BUFFER, max) {
        Ok(message) => {
            log::debug!(
                "#{context_id} gRPC call {token}: message of {} bytes",
                message.len()
            );
            record(token, |a| a.message = Some(message));
        }
        Err(e) => log::warn!("#{context_id} gRPC call {token}: message not readable ({e})"),
    }
}

/// Trailing metadata: its `grpc-status` reaches `on_close` as the status.
pub fn on_receive_trailing_metadata(context_id: u32, token: u32, trailers: usize) {
    log::debug!("#{context_id} gRPC call {token}: trailing metadata ({trailers} entries)");
}

pub fn on_close<H: Hostcalls>(host: &H, context_id: u32, token: u32, status_code: u32) {
    // The host hands the code as an argument too; the message comes only from `proxy_get_status`.
    let (code, message) = host.status().unwrap_or_else(|_| (status_code, Vec::new()));
    log::debug!(
        "#{context_id} gRPC call {token}: closed with {} ({code})",
        mesh_authz_core::grpc::status::name(code)
    );
    record(token, |a| a.close = Some((code, message)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeHost;

    #[test]
    fn a_message_and_its_close_are_kept_per_token_until_taken() {
        let h = FakeHost::default();
        *h.grpc_message.borrow_mut() = b"\x0a\x00".to_vec();
        on_receive_initial_metadata(1, 7, 2);
        on_receive(&h, 1, 7, 2);
        on_receive_trailing_metadata(1, 7, 1);
        *h.grpc_status.borrow_mut() = (0, Vec::new());
        on_close(&h, 1, 7, 0);
        *h.grpc_status.borrow_mut() = (14, b"no healthy upstream".to_vec());
        on_close(&h, 1, 8, 14);
        assert_eq!(
            take(7),
            Some(Arrived {
                message: Some(b"\x0a\x00".to_vec()),
                close: Some((0, Vec::new()))
            })
        );
        assert_eq!(take(7), None, "taken once");
        assert_eq!(
            take(8),
            Some(Arrived {
                message: None,
                close: Some((14, b"no healthy upstream".to_vec()))
            })
        );
    }

    #[test]
    fn a_message_is_read_no_larger_than_the_call_allowed() {
        let h = FakeHost::default();
        *h.grpc_message.borrow_mut() = vec![1; MAX_RESPONSE_BYTES as usize + 10];
        on_receive(&h, 1, 9, MAX_RESPONSE_BYTES as usize + 10);
        let got = take(9).and_then(|a| a.message).unwrap_or_default();
        assert_eq!(got.len(), MAX_RESPONSE_BYTES as usize);
    }

    #[test]
    fn pending_answers_are_bounded() {
        let h = FakeHost::default();
        for token in 0..(MAX_PENDING as u32 + 5) {
            on_close(&h, 1, 10_000 + token, 0);
        }
        let kept = (0..(MAX_PENDING as u32 + 5))
            .filter(|t| take(10_000 + t).is_some())
            .count();
        assert_eq!(kept, MAX_PENDING);
    }

    #[test]
    fn a_grpc_call_is_recorded_with_what_it_was_given() {
        use crate::fake::Call;
        let h = FakeHost::default();
        h.enter(1);
        let token = h
            .grpc_call(b"up", "svc", "Check", &[("x-api-key", b"k")], b"msg", 200)
            .unwrap();
        assert_eq!(h.take(), [Call::GrpcDispatch(1, token, "svc/Check".into())]);
        let calls = h.grpc_calls.borrow();
        let (up, md, msg, timeout) = &calls[&token];
        assert_eq!(
            (up.as_slice(), msg.as_slice(), *timeout),
            (b"up".as_slice(), b"msg".as_slice(), 200)
        );
        assert_eq!(md, &[("x-api-key".to_string(), b"k".to_vec())]);
    }
}
