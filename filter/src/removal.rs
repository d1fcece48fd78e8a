//! Taking a token out of a request before it goes upstream (`forwardToken: false`), as the flow's
//! conclusion names it.

use crate::abi::{HostStatus, REQUEST_HEADERS};
use crate::hostcalls::Hostcalls;
use mesh_authz_core::jwt::Removal;

pub fn remove(h: &impl Hostcalls, removal: &Removal) -> Result<(), HostStatus> {
    match removal {
        Removal::Header(name) => h.remove_header(REQUEST_HEADERS, name),
        Removal::Cookies(None) => h.remove_header(REQUEST_HEADERS, "cookie"),
        Removal::Cookies(Some(kept)) => h
            .remove_header(REQUEST_HEADERS, "cookie")
            .and_then(|()| h.add_header(REQUEST_HEADERS, "cookie", kept)),
        Removal::Nothing => Ok(()),
    }
}
