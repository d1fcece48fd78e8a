"""How a sidecar reaches each JWT issuer's keys: a rendered overlay must carry the Istio objects
behind every remote `jwks.cluster` of its mesh-authz configuration.

The filter fetches a JWKS with plain HTTP through the named cluster. For an external issuer,
Istio only builds `outbound|PORT||HOST` from a ServiceEntry with that host and port, and only a
DestinationRule turns that cluster's plain HTTP into TLS; without them the keys never arrive (every
token is refused) or travel in clear text (anyone on the path can swap the keys). A Kubernetes
service host (`*.svc.cluster.local`) needs neither: Istio knows it, and mesh mTLS protects it.
Also refused anywhere: TLS origination on a port declared HTTPS/TLS (see `double_tls`).
"""

from __future__ import annotations

import re

ISTIO_CLUSTER = re.compile(r"^outbound\|([1-9][0-9]{0,4})\|([^|]*)\|([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$")
TLS_MODES = ("SIMPLE", "MUTUAL")


def jwks_clusters(plugin_config: object) -> list[tuple[str, str]]:
    """(field, cluster) of every remote JWKS in a pluginConfig."""
    jwt = plugin_config.get("jwt") if isinstance(plugin_config, dict) else None
    providers = jwt.get("providers") if isinstance(jwt, dict) else None
    out = []
    for i, p in enumerate(providers if isinstance(providers, list) else []):
        jwks = p.get("jwks") if isinstance(p, dict) else None
        if isinstance(jwks, dict) and "inline" not in jwks:
            out.append((f"pluginConfig.jwt.providers[{i}].jwks.cluster", str(jwks.get("cluster", ""))))
    return out


def _host_matches(pattern: object, host: str) -> bool:
    if not isinstance(pattern, str):
        return False
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return pattern == host


def _service_entry_problem(objects: list[dict], host: str, port: int) -> str | None:
    entries = [o for o in objects if o.get("kind") == "ServiceEntry"
               and any(_host_matches(h, host) for h in (o.get("spec") or {}).get("hosts") or [])]
    with_port = [o for o in entries if any(isinstance(p, dict) and p.get("number") == port
                                           for p in (o.get("spec") or {}).get("ports") or [])]
    if not with_port:
        return (f"no ServiceEntry for host {host} with port {port} in this overlay "
                "(Istio builds no such cluster without one)")
    if all((o.get("spec") or {}).get("resolution", "NONE") == "NONE" for o in with_port):
        return (f"the ServiceEntry for {host}:{port} has resolution NONE: its cluster forwards to the "
                "original destination, which a fetch from the filter does not have; use DNS")
    return None


def _tls_for(policy: object, port: int) -> object:
    """The tls a traffic policy gives one port: its portLevelSettings entry's, else the policy's."""
    if not isinstance(policy, dict):
        return None
    for s in policy.get("portLevelSettings") or []:
        if isinstance(s, dict) and (s.get("port") or {}).get("number") == port and "tls" in s:
            return s["tls"]
    return policy.get("tls")


def _destination_rule_problem(objects: list[dict], host: str, port: int, subset: str) -> str | None:
    rules = [o for o in objects if o.get("kind") == "DestinationRule"
             and _host_matches((o.get("spec") or {}).get("host"), host)]
    for rule in rules:
        spec = rule.get("spec") or {}
        tls = None
        if subset:
            for s in spec.get("subsets") or []:
                if isinstance(s, dict) and s.get("name") == subset:
                    tls = _tls_for(s.get("trafficPolicy"), port)
        tls = tls if tls is not None else _tls_for(spec.get("trafficPolicy"), port)
        if isinstance(tls, dict) and tls.get("mode") in TLS_MODES:
            if tls.get("insecureSkipVerify") is True:
                return (f"the DestinationRule for {host}:{port} skips certificate verification: "
                        "anyone on the path could serve their own signing keys")
            return None
    return (f"no DestinationRule originating TLS (mode SIMPLE or MUTUAL) for {host} port {port} in "
            "this overlay: the filter's plain-HTTP JWKS fetch would leave the mesh unencrypted")


def double_tls(objects: list[dict]) -> list[str]:
    """A DestinationRule originating TLS on a port a ServiceEntry declares as HTTPS or TLS: the
    workloads' own TLS to it would be wrapped in a second TLS and fail. Origination belongs on a
    plain-HTTP port of its own (Istio's pattern: port 80, targetPort 443)."""
    found = []
    for entry in (o for o in objects if o.get("kind") == "ServiceEntry"):
        spec = entry.get("spec") or {}
        tls_ports = [p.get("number") for p in spec.get("ports") or []
                     if isinstance(p, dict) and p.get("protocol") in ("HTTPS", "TLS")]
        for rule in (o for o in objects if o.get("kind") == "DestinationRule"):
            host = (rule.get("spec") or {}).get("host")
            if not any(_host_matches(host, h) or _host_matches(h, str(host)) for h in spec.get("hosts") or []):
                continue
            for port in tls_ports:
                tls = _tls_for((rule.get("spec") or {}).get("trafficPolicy"), port)
                if isinstance(tls, dict) and tls.get("mode") in TLS_MODES:
                    found.append(f"DestinationRule {host} originates TLS on port {port}, which the ServiceEntry "
                                 "declares HTTPS/TLS: workloads' own TLS there would be encrypted twice; originate "
                                 "on a plain HTTP port (e.g. 80 with targetPort 443)")
    return found


def problems(objects: list[dict], plugin_configs: list[object]) -> list[str]:
    """Problems with the routes to the JWKS endpoints named in `plugin_configs`, looked up among
    `objects` (one rendered overlay), and any double TLS among those objects."""
    found = []
    for cfg in plugin_configs:
        for field, cluster in jwks_clusters(cfg):
            m = ISTIO_CLUSTER.match(cluster)
            if m is None:
                found.append(f"{field} {cluster!r} is not Istio's outbound|PORT||FQDN name")
                continue
            port, subset, host = int(m.group(1)), m.group(2), m.group(3)
            if host.endswith(".svc.cluster.local"):
                continue
            for problem in (_service_entry_problem(objects, host, port),
                            _destination_rule_problem(objects, host, port, subset)):
                if problem:
                    found.append(f"{field} {cluster}: {problem}")
    return found + double_tls(objects)
