//! The instruction count's cases and the one bootstrap that serves them all: a listener per case
//! (per case and module in an A/B), each cut from the bootstrap the timed bench gives that
//! variant (`Rig::options`), so both benchmarks measure the same filter chains.
//!
//! Every listener of one module names the same `vm_id`, so Envoy runs one VM per module: V8
//! reserves a large address range per VM, and under Valgrind a dozen VMs do not start where two do.

use crate::jwt_variant::{Checker, JwtVariant, TokenLoad};
use crate::rig::{Case, Rig};
use crate::variant::Variant;
use mesh_authz_integration::envoy::{overrides, PortMap};
use serde_norway::Value;
use std::collections::BTreeSet;
use std::path::Path;

/// Which module a listener runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Module {
    Candidate,
    Baseline,
}

/// One measured listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct InstrCase {
    pub variant: Variant,
    /// The plugin's `accessLog` (decision recorded as filter state); `true` is the default.
    pub access_log: bool,
    pub module: Module,
    /// A large header on every request, or none: what the filter's cost per request byte is.
    pub big_header: Option<BigHeader>,
}

/// The large header of a case: `cookie` (forwarded to the auth service, so part of the cache
/// key) or `x-junk` (neither forwarded nor looked at by any rule), `BIG_HEADER_BYTES` long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BigHeader {
    Cookie,
    Junk,
}

/// The size browsers allow one cookie.
pub const BIG_HEADER_BYTES: usize = 4096;

impl BigHeader {
    pub fn name(self) -> &'static str {
        match self {
            BigHeader::Cookie => "cookie",
            BigHeader::Junk => "x-junk",
        }
    }

    fn suffix(self) -> &'static str {
        match self {
            BigHeader::Cookie => "_cookie4k",
            BigHeader::Junk => "_xjunk4k",
        }
    }
}

/// What a full run also measures with a large header: no filter and a hit, with each header.
pub const WITH_BIG_HEADER: [(Variant, BigHeader); 4] = [
    (Variant::Passthrough, BigHeader::Cookie),
    (Variant::Hit, BigHeader::Cookie),
    (Variant::Passthrough, BigHeader::Junk),
    (Variant::Hit, BigHeader::Junk),
];

pub const GATE_REPEATED: Variant = Variant::Jwt(JwtVariant {
    checker: Checker::Gate,
    load: TokenLoad::Repeated,
});

/// `(variant, accessLog)` of a full run: the baselines, the filter's paths, each path without the
/// access-log record, and the token check against a hit with the same request bytes.
pub const FULL: [(Variant, bool); 14] = [
    (Variant::Passthrough, true),
    (Variant::ExtAuthz, true),
    (Variant::Lua, true),
    (Variant::Bypass, true),
    (Variant::Hit, true),
    (Variant::Hit, false),
    (Variant::CacheOff, true),
    (Variant::CacheOff, false),
    (GATE_REPEATED, true),
    (Variant::HitJwt, true),
    (Variant::ExtAuthzGrpc, true),
    (Variant::GrpcCacheOff, true),
    (Variant::GrpcHit, true),
    (Variant::HitRevocation, true),
];

/// The gate's cases: what its figures need, nothing more (each listener costs start-up time). The
/// gRPC callout against native gRPC ext_authz and the revocation check on a hit are gated; a gRPC
/// hit is a hit once the decision is cached, so it is measured in full runs only.
pub const CHECK: [(Variant, bool); 9] = [
    (Variant::Passthrough, true),
    (Variant::ExtAuthz, true),
    (Variant::Bypass, true),
    (Variant::Hit, true),
    (Variant::Hit, false),
    (Variant::CacheOff, true),
    (Variant::ExtAuthzGrpc, true),
    (Variant::GrpcCacheOff, true),
    (Variant::HitRevocation, true),
];

/// The name of the gRPC auth cluster in the composed bootstrap: every case's own bootstrap calls
/// its auth cluster `auth`, and the clusters of all cases are merged by name.
pub const GRPC_CLUSTER: &str = "auth_grpc";

impl InstrCase {
    /// The listener's name and the row's id: `hit`, `hit_nolog`, `baseline.hit`.
    pub fn id(&self) -> String {
        let log = if self.access_log { "" } else { "_nolog" };
        let module = match self.module {
            Module::Candidate => "",
            Module::Baseline => "baseline.",
        };
        let big = self.big_header.map_or("", BigHeader::suffix);
        format!("{module}{}{log}{big}", self.variant.name())
    }

    pub fn label(&self) -> String {
        let log = if self.access_log {
            ""
        } else {
            ", accessLog: false"
        };
        let module = match self.module {
            Module::Candidate => "",
            Module::Baseline => " [baseline module]",
        };
        let big = self
            .big_header
            .map(|h| format!(", {BIG_HEADER_BYTES} B {}", h.name()))
            .unwrap_or_default();
        format!("{}{log}{big}{module}", self.variant.label())
    }
}

/// The cases of a run: each `(variant, accessLog)` once, and the mesh-authz ones again for the
/// baseline module when there is one (those `baseline_only` names, when given: a module older
/// than an option refuses a configuration that sets it).
pub fn cases(
    list: &[(Variant, bool)],
    big: &[(Variant, BigHeader)],
    baseline: bool,
    baseline_only: Option<&[String]>,
) -> Vec<InstrCase> {
    let mut out: Vec<InstrCase> = list
        .iter()
        .map(|&(variant, access_log)| InstrCase {
            variant,
            access_log,
            module: Module::Candidate,
            big_header: None,
        })
        .collect();
    out.extend(big.iter().map(|&(variant, header)| InstrCase {
        variant,
        access_log: true,
        module: Module::Candidate,
        big_header: Some(header),
    }));
    if baseline {
        let wanted: Vec<InstrCase> = list
            .iter()
            .filter(|(v, _)| v.is_mesh_authz())
            .map(|&(variant, access_log)| InstrCase {
                variant,
                access_log,
                module: Module::Baseline,
                big_header: None,
            })
            .filter(|c| {
                let id = c.id();
                let plain = id.trim_start_matches("baseline.");
                baseline_only.is_none_or(|only| only.iter().any(|o| o == plain))
            })
            .collect();
        out.extend(wanted);
    }
    out
}

fn key(k: &str) -> Value {
    Value::String(k.into())
}

/// Sets `vm_id` in every `vm_config` under `v`; returns how many.
fn set_vm_id(v: &mut Value, vm_id: &str) -> usize {
    match v {
        Value::Mapping(m) => {
            let mut n = 0;
            if let Some(Value::Mapping(vm)) = m.get_mut(key("vm_config")) {
                vm.insert(key("vm_id"), key(vm_id));
                n += 1;
            }
            n + m
                .iter_mut()
                .map(|(_, c)| set_vm_id(c, vm_id))
                .sum::<usize>()
        }
        Value::Sequence(s) => s.iter_mut().map(|c| set_vm_id(c, vm_id)).sum(),
        Value::Tagged(t) => set_vm_id(&mut t.value, vm_id),
        _ => 0,
    }
}

fn section<'a>(doc: &'a mut Value, name: &str) -> Result<&'a mut Vec<Value>, String> {
    doc.get_mut("static_resources")
        .and_then(|s| s.get_mut(name))
        .and_then(Value::as_sequence_mut)
        .ok_or_else(|| format!("a bootstrap without static_resources.{name}"))
}

/// The plugin JSON with `accessLog: false` when it is off, as text; the default is left unsaid,
/// so that a baseline module older than the option still takes the configuration.
fn with_access_log(json: &str, on: bool) -> Result<String, String> {
    if on {
        return Ok(json.to_string());
    }
    let mut v: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    v.as_object_mut()
        .ok_or("the plugin configuration is not a JSON object")?
        .insert("accessLog".into(), on.into());
    Ok(v.to_string())
}

/// Under Valgrind Envoy runs some 50 times slower: a callout that takes microseconds natively
/// can pass the checked-in 200 ms timeout, and a timed-out request is a 503 on another code path.
/// Every checker gets this long instead.
const AUTH_TIMEOUT_MS: u64 = 5000;

/// The rendered bootstrap with the auth timeouts of ext_authz and Lua raised; an error if the
/// text to change is not there, so the patch never silently stops applying.
fn slow_auth(variant: Variant, yaml: String) -> Result<String, String> {
    let (from, to) = match variant {
        Variant::ExtAuthz | Variant::ExtAuthzGrpc => (
            "timeout: 0.2s".to_string(),
            format!("timeout: {}s", AUTH_TIMEOUT_MS / 1000),
        ),
        Variant::Lua => (
            "AUTH_TIMEOUT_MS = 200".to_string(),
            format!("AUTH_TIMEOUT_MS = {AUTH_TIMEOUT_MS}"),
        ),
        _ => return Ok(yaml),
    };
    if !yaml.contains(&from) {
        return Err(format!(
            "{}: no `{from}` in its bootstrap to raise",
            variant.name()
        ));
    }
    Ok(yaml.replace(&from, &to))
}

/// The plugin JSON with the callout timeout raised (see `AUTH_TIMEOUT_MS`).
fn slow_plugin_auth(json: &str) -> Result<String, String> {
    let mut v: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    if let Some(a) = v
        .get_mut("authService")
        .and_then(serde_json::Value::as_object_mut)
    {
        a.insert("timeoutMs".into(), AUTH_TIMEOUT_MS.into());
    }
    Ok(v.to_string())
}

/// The plugin JSON asking `GRPC_CLUSTER`.
fn grpc_plugin_cluster(json: &str) -> Result<String, String> {
    let mut v: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let a = v
        .get_mut("authService")
        .and_then(serde_json::Value::as_object_mut)
        .ok_or("a gRPC case without authService")?;
    a.insert("cluster".into(), GRPC_CLUSTER.into());
    Ok(v.to_string())
}

/// Renames the cluster `auth` to `GRPC_CLUSTER` wherever `v` names it (the cluster's own `name`
/// and `load_assignment`, native ext_authz's `envoy_grpc`); returns how many.
fn rename_auth_cluster(v: &mut Value) -> usize {
    match v {
        Value::Mapping(m) => m
            .iter_mut()
            .map(|(k, c)| {
                let named = matches!(k.as_str(), Some("name" | "cluster_name"))
                    && c.as_str() == Some("auth");
                if named {
                    *c = key(GRPC_CLUSTER);
                    1
                } else {
                    rename_auth_cluster(c)
                }
            })
            .sum(),
        Value::Sequence(s) => s.iter_mut().map(rename_auth_cluster).sum(),
        Value::Tagged(t) => rename_auth_cluster(&mut t.value),
        _ => 0,
    }
}

/// The plugin JSON without the bypass rules a module older than `corsPreflight` refuses (only
/// `pathPrefix` and `method` rules kept), for `--baseline-compat`.
fn plain_bypass(json: &str) -> Result<String, String> {
    let mut v: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    if let Some(rules) = v
        .get_mut("bypass")
        .and_then(serde_json::Value::as_array_mut)
    {
        rules.retain(|r| {
            r.as_object()
                .is_some_and(|o| o.keys().all(|k| k == "pathPrefix" || k == "method"))
        });
    }
    Ok(v.to_string())
}

/// One bootstrap with a listener per case, named by `InstrCase::id`. The admin block and the
/// clusters come from the cases' own bootstraps (the same auth and echo for all); stats are
/// flushed rarely, so no flush falls into a measured window.
pub fn compose(
    rig: &Rig,
    cases: &[InstrCase],
    launcher: &Path,
    wasm: &Path,
    baseline: Option<&Path>,
    compat: bool,
    grpc_port: Option<u16>,
) -> Result<String, String> {
    let mut out: Option<Value> = None;
    let mut clusters: BTreeSet<String> = BTreeSet::new();
    for c in cases {
        let module = match c.module {
            Module::Candidate => wasm,
            Module::Baseline => baseline.ok_or("a baseline case without --baseline-wasm")?,
        };
        let case = Case {
            variant: c.variant,
            workers: 1,
        };
        let mut opts = rig
            .options(&case, launcher, module)
            .map_err(|e| format!("{}: {e}", c.id()))?;
        if c.variant.is_grpc() {
            let port = grpc_port.ok_or_else(|| format!("{}: no gRPC auth service", c.id()))?;
            opts.ports = PortMap::ephemeral(port, rig.echo.port());
            if c.variant.is_mesh_authz() {
                opts.patches.push(overrides::auth_cluster_http2);
            }
        }
        if let Some(json) = &opts.plugin_config {
            let mut json = slow_plugin_auth(&with_access_log(json, c.access_log)?)?;
            if compat && c.module == Module::Baseline {
                json = plain_bypass(&json)?;
            }
            if c.variant.is_grpc() {
                json = grpc_plugin_cluster(&json)?;
            }
            opts.plugin_config = Some(json);
        }
        let text = slow_auth(
            c.variant,
            opts.render().map_err(|e| format!("{}: {e}", c.id()))?,
        )?;
        let mut doc: Value = serde_norway::from_str(&text).map_err(|e| e.to_string())?;
        let vm_id = match c.module {
            Module::Candidate => "mesh_authz",
            Module::Baseline => "mesh_authz_baseline",
        };
        if c.variant.is_grpc() {
            // Both the listener (native ext_authz names its cluster) and the cluster itself.
            if rename_auth_cluster(&mut doc) < 2 {
                return Err(format!("{}: no `auth` cluster to rename", c.id()));
            }
        }
        let listeners = std::mem::take(section(&mut doc, "listeners")?);
        let [mut listener] = <[Value; 1]>::try_from(listeners)
            .map_err(|l| format!("{}: {} listeners, expected 1", c.id(), l.len()))?;
        if c.variant.is_mesh_authz() && set_vm_id(&mut listener, vm_id) == 0 {
            return Err(format!("{}: no vm_config in its listener", c.id()));
        }
        if let Value::Mapping(m) = &mut listener {
            m.insert(key("name"), key(&c.id()));
        }
        let new_clusters = std::mem::take(section(&mut doc, "clusters")?);
        let base = out.get_or_insert_with(|| doc.clone());
        section(base, "listeners")?.push(listener);
        for cluster in new_clusters {
            let name = cluster
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if clusters.insert(name) {
                section(base, "clusters")?.push(cluster);
            }
        }
    }
    let mut doc = out.ok_or("no case to run")?;
    if let Value::Mapping(m) = &mut doc {
        m.insert(key("stats_flush_interval"), key("240s"));
    }
    serde_norway::to_string(&doc).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_baseline_repeats_only_the_filter() {
        let all = cases(&FULL, &WITH_BIG_HEADER, true, None);
        let ids: BTreeSet<String> = all.iter().map(InstrCase::id).collect();
        assert_eq!(ids.len(), all.len());
        assert!(ids.contains("hit_nolog") && ids.contains("baseline.hit_nolog"));
        assert!(ids.contains("hit_cookie4k") && ids.contains("passthrough_xjunk4k"));
        assert!(!ids.contains("baseline.passthrough"));
        assert_eq!(cases(&CHECK, &[], false, None).len(), 9);
        assert!(ids.contains("grpc_cache_off") && ids.contains("baseline.hit_revocation"));
        assert!(ids.contains("ext_authz_grpc") && !ids.contains("baseline.ext_authz_grpc"));
        let only = ["hit".to_string(), "bypass".to_string()];
        let some = cases(&FULL, &[], true, Some(&only));
        assert_eq!(some.len(), FULL.len() + 2);
        assert!(some.iter().any(|c| c.id() == "baseline.bypass"));
    }

    #[test]
    fn access_log_and_vm_id_are_set() {
        let j = with_access_log(r#"{"a":1}"#, false).unwrap();
        assert_eq!(j, r#"{"a":1,"accessLog":false}"#);
        assert_eq!(with_access_log(r#"{"a": 1}"#, true).unwrap(), r#"{"a": 1}"#);
        let slow = slow_plugin_auth(r#"{"authService":{"timeoutMs":200}}"#).unwrap();
        assert_eq!(slow, r#"{"authService":{"timeoutMs":5000}}"#);
        assert!(slow_auth(Variant::ExtAuthz, "x: 1".into()).is_err());
        assert_eq!(
            slow_auth(Variant::Lua, "AUTH_TIMEOUT_MS = 200".into()).unwrap(),
            "AUTH_TIMEOUT_MS = 5000"
        );
        let plain = plain_bypass(r#"{"bypass":[{"pathPrefix":"/h"},{"corsPreflight":true}]}"#);
        assert_eq!(plain.unwrap(), r#"{"bypass":[{"pathPrefix":"/h"}]}"#);
        let mut v: Value = serde_norway::from_str(
            "l:\n- f: {config: {vm_config: {vm_id: x}}}\n- f: {config: {vm_config: {vm_id: y}}}\n",
        )
        .unwrap();
        assert_eq!(set_vm_id(&mut v, "b"), 2);
        assert!(!serde_norway::to_string(&v).unwrap().contains("vm_id: x"));
    }

    #[test]
    fn grpc_cases_ask_their_own_cluster() {
        let j = grpc_plugin_cluster(r#"{"authService":{"cluster":"auth"}}"#).unwrap();
        assert_eq!(j, r#"{"authService":{"cluster":"auth_grpc"}}"#);
        assert!(grpc_plugin_cluster("{}").is_err());
        let mut v: Value = serde_norway::from_str(concat!(
            "l: {grpc_service: {envoy_grpc: {cluster_name: auth}}, route: {cluster: echo}}\n",
            "c:\n- {name: auth, load_assignment: {cluster_name: auth}}\n- {name: echo}\n",
        ))
        .unwrap();
        assert_eq!(rename_auth_cluster(&mut v), 3);
        let text = serde_norway::to_string(&v).unwrap();
        assert!(
            !text.contains(": auth\n") && text.contains("name: echo"),
            "{text}"
        );
        assert_eq!(
            slow_auth(Variant::ExtAuthzGrpc, "timeout: 0.2s".into()).unwrap(),
            "timeout: 5s"
        );
    }
}
