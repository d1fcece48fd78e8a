//! What a configuration says of itself when it loads: the limit on its size, and the lines an
//! operator reads at start (what runs, what to watch for).

use super::Config;

/// A plugin configuration larger than this is refused rather than read.
pub const MAX_CONFIG_BYTES: usize = 1 << 20;

/// `Err` (the reason, for the log) when a configuration of `size` bytes is not to be read at all.
pub fn check_size(size: usize) -> Result<(), String> {
    if size > MAX_CONFIG_BYTES {
        return Err(format!(
            "(config): {size} bytes is over the {MAX_CONFIG_BYTES}-byte limit"
        ));
    }
    Ok(())
}

impl Config {
    /// Whether the host's `verify_signature` is worth probing: only token checks use it.
    pub fn wants_envoy_verify(&self) -> bool {
        self.jwt.is_some()
    }

    /// The start lines: where signatures are checked (`envoy_verify`: by Envoy's
    /// `verify_signature`), what runs, and each deprecation warning.
    pub fn announce(&self, envoy_verify: bool) {
        match &self.jwt {
            Some(jwt) if envoy_verify => log::info!(
                "token checks: {} provider(s), signatures checked by Envoy's verify_signature (BoringSSL) for RS*/ES*, in the VM for the others",
                jwt.providers.len()
            ),
            // Every signature in the VM: a forged RS256 token then costs about a millisecond of
            // this worker's CPU, which any client can make it spend.
            Some(jwt) => log::warn!(
                "token checks: {} provider(s), signatures checked by the VM for every algorithm (RustCrypto, about 1 ms per RSA check, forged tokens included): this Envoy has no verify_signature",
                jwt.providers.len()
            ),
            None => {}
        }
        log::info!(
            concat!(
                "mesh-authz ",
                env!("CARGO_PKG_VERSION"),
                " configured: {}, cache {}, {} bypass rule(s)"
            ),
            self.auth.as_ref().map_or(
                "no auth service (jwt authenticate mode)".to_string(),
                |a| format!("auth cluster '{}'", a.cluster)
            ),
            self.cache
                .map_or("off".to_string(), |p| format!("{} entries", p.max_entries)),
            self.bypass.len()
        );
        for warning in self.warnings() {
            log::warn!("{warning}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configuration_over_the_limit_is_refused_before_it_is_read() {
        assert!(check_size(MAX_CONFIG_BYTES).is_ok());
        let e = check_size(MAX_CONFIG_BYTES + 1).unwrap_err();
        assert!(
            e.contains("1048577 bytes is over the 1048576-byte limit"),
            "{e}"
        );
    }
}
