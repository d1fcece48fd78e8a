"""Render what a manifest makes Envoy run into a bootstrap and ask a real Envoy about it.

`envoy --mode validate` builds every listener of a static bootstrap, and for a Wasm filter that
includes loading the module and calling its on_configure (measured with Envoy 1.40: a config the
filter rejects fails validation with the filter's own `mesh-authz: invalid configuration: ...`
line). So a pluginConfig or an EnvoyFilter patch is checked by putting it where Istio would put it
and validating that.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import tempfile
from pathlib import Path

import issuer_routes

WASM_TYPE = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"
ROUTER = {"name": "envoy.filters.http.router",
          "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}
REJECTION = re.compile(r"mesh-authz: invalid configuration: .*")


def _cluster(name: str) -> dict:
    return {"name": name, "type": "STATIC", "connect_timeout": "0.5s",
            "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [
                {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 9}}}}]}]}}


def bootstrap(http_filters: list[dict], clusters: list[str]) -> dict:
    """An inbound listener like a sidecar's, with these HTTP filters, and these clusters (the
    callout cluster of the config under test, as Istio's CDS would provide it)."""
    hcm = {"@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
           "stat_prefix": "inbound",
           "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [
               {"match": {"prefix": "/"}, "route": {"cluster": "inbound"}}]}]},
           "http_filters": http_filters}
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
        "static_resources": {
            "listeners": [{"name": "virtualInbound", "address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}},
                           "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                                           "typed_config": hcm}]}]}],
            "clusters": [_cluster(c) for c in sorted(set(clusters) | {"inbound"})],
        },
    }


# How Istio turns a WasmPlugin's failStrategy into the Wasm filter's fields.
FAIL_STRATEGY = {
    "FAIL_CLOSE": {"failure_policy": "FAIL_CLOSED"},
    "FAIL_RELOAD": {"failure_policy": "FAIL_RELOAD"},
    "FAIL_OPEN": {"fail_open": True},
}


def wasm_filter(plugin_config: object, wasm: Path, fail_strategy: str = "FAIL_CLOSE") -> dict:
    """The HTTP filter Istio generates for a WasmPlugin/TrafficExtension, after its agent has
    fetched the module (remote code replaced by a local file)."""
    text = plugin_config if isinstance(plugin_config, str) else json.dumps(plugin_config)
    return {"name": "mesh-authz", "typed_config": {"@type": WASM_TYPE, "config": {
        "name": "mesh-authz", "root_id": "mesh_authz", **FAIL_STRATEGY.get(fail_strategy, {}),
        "vm_config": {"vm_id": "mesh_authz", "runtime": "envoy.wasm.runtime.v8",
                      "code": {"local": {"filename": str(wasm)}}},
        "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": text}}}}


def callout_clusters(plugin_config: object) -> list[str]:
    """The clusters a pluginConfig calls: the auth service's, the revocation feed's and every
    remote JWKS's."""
    try:
        cfg = json.loads(plugin_config) if isinstance(plugin_config, str) else plugin_config
    except ValueError:
        return []
    if not isinstance(cfg, dict):
        return []
    service = cfg.get("authService")
    clusters = [str(service["cluster"])] if isinstance(service, dict) and "cluster" in service else []
    feed = cfg.get("revocation")
    if isinstance(feed, dict) and "cluster" in feed:
        clusters.append(str(feed["cluster"]))
    return clusters + [c for _, c in issuer_routes.jwks_clusters(cfg) if c]


def validate(envoy: str, config: dict, timeout: float = 120) -> tuple[bool, str]:
    """(passed, the most useful line of Envoy's output)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="mesh-authz-check-") as f:
        json.dump(config, f)
        f.flush()
        proc = subprocess.run([envoy, "--mode", "validate", "-c", f.name, "-l", "info"],
                              capture_output=True, text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    if proc.returncode == 0:
        return True, "OK"
    m = REJECTION.search(out)
    if m:
        return False, m.group(0)
    lines = [l for l in out.splitlines() if "error" in l.lower() or "critical" in l.lower()]
    return False, (lines[-1] if lines else out.strip().splitlines()[-1] if out.strip() else f"exit {proc.returncode}")


# --- EnvoyFilter ---------------------------------------------------------------------------------

def _localise(value: dict, wasm: Path) -> dict:
    """What the Istio agent does to an ECDS Wasm config: remote (oci://, https://) -> local file."""
    value = copy.deepcopy(value)
    cfg = value.get("typed_config", {}).get("config", {})
    code = cfg.get("vm_config", {}).get("code", {})
    if "remote" in code:
        code.pop("remote")
        code["local"] = {"filename": str(wasm)}
    return value


def remote_problems(value: dict) -> list[str]:
    """A remote module must be pinned: Istio's agent checks sha256 (for oci://, the manifest digest)."""
    remote = value.get("typed_config", {}).get("config", {}).get("vm_config", {}).get("code", {}).get("remote")
    if remote is None:
        return []
    uri, sha = str(remote.get("http_uri", {}).get("uri", "")), remote.get("sha256")
    problems = []
    if not uri.startswith(("oci://", "https://")):
        problems.append(f"remote code uri {uri!r} is neither oci:// nor https://")
    if not isinstance(sha, str) or not re.fullmatch(r"[a-f0-9]{64}", sha) or set(sha) == {"0"}:
        problems.append(f"remote code sha256 {sha!r} does not pin a pushed image (make oci-push ... PIN=envoyfilter)")
    return problems


def envoyfilter_bootstrap(spec: dict, wasm: Path) -> tuple[dict | None, list[str]]:
    """Apply the inbound HTTP_FILTER patches of an EnvoyFilter to a sidecar-like chain
    [router]; a filter given by config_discovery gets the EXTENSION_CONFIG of the same name, as
    ECDS would deliver it. Returns the bootstrap and the problems found on the way."""
    problems: list[str] = []
    extensions = {}
    for i, p in enumerate(spec.get("configPatches", [])):
        if p.get("applyTo") == "EXTENSION_CONFIG":
            value = p.get("patch", {}).get("value", {})
            problems += [f"configPatches[{i}]: {m}" for m in remote_problems(value)]
            extensions[value.get("name")] = _localise(value, wasm)
    chain = [copy.deepcopy(ROUTER)]
    clusters: list[str] = []
    for i, p in enumerate(spec.get("configPatches", [])):
        if p.get("applyTo") != "HTTP_FILTER":
            continue
        match = p.get("match", {})
        if match.get("context") not in ("SIDECAR_INBOUND", "ANY", None):
            continue
        patch = p.get("patch", {})
        value = copy.deepcopy(patch.get("value", {}))
        if "config_discovery" in value:
            ext = extensions.get(value.get("name"))
            if ext is None:
                problems.append(f"configPatches[{i}]: config_discovery names {value.get('name')!r}, "
                                "but no EXTENSION_CONFIG patch of that name exists")
                continue
            wanted = ext.get("typed_config", {}).get("@type")
            if wanted not in value["config_discovery"].get("type_urls", []):
                problems.append(f"configPatches[{i}]: type_urls does not list {wanted}")
            value = {"name": value["name"], "typed_config": ext["typed_config"]}
        cfg = value.get("typed_config", {}).get("config", {})
        if cfg.get("fail_open") or cfg.get("failure_policy") not in (None, "FAIL_RELOAD", "FAIL_CLOSED"):
            problems.append(f"configPatches[{i}]: fail_open is true or failure_policy is "
                            f"{cfg.get('failure_policy')}: a module that fails lets requests through")
        clusters += callout_clusters(cfg.get("configuration", {}).get("value", ""))
        lua = value.get("typed_config", {}).get("default_source_code", {}).get("inline_string", "")
        clusters += re.findall(r'AUTH_CLUSTER = "([^"]+)"', lua)
        op = patch.get("operation")
        sub = (match.get("listener", {}).get("filterChain", {}).get("filter", {})
               .get("subFilter", {}).get("name"))
        names = [f["name"] for f in chain]
        if op in ("INSERT_BEFORE", "INSERT_AFTER") and sub is not None:
            if sub not in names:
                problems.append(f"configPatches[{i}]: subFilter {sub} is not in every inbound chain; "
                                "the patch would silently not apply")
                continue
            at = names.index(sub) + (1 if op == "INSERT_AFTER" else 0)
        elif op == "INSERT_FIRST":
            at = 0
        elif op == "ADD":
            at = len(chain)
        else:
            problems.append(f"configPatches[{i}]: operation {op} is not one this check renders")
            continue
        chain.insert(at, value)
    if len(chain) == 1:
        problems.append("no inbound HTTP filter patch")
        return None, problems
    return bootstrap(chain, clusters), problems
