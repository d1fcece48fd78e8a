"""The routes of mesh-authz's own callouts other than JWKS (issuer_routes.py): a gRPC auth
service needs an HTTP/2 cluster, and a revocation feed an Istio cluster name.

gRPC only runs over HTTP/2. Istio builds `outbound|PORT||HOST` as HTTP/1.1 unless the port is
declared HTTP/2 or gRPC (Service/ServiceEntry port name `grpc-*`/`http2-*`, protocol or
`appProtocol` grpc/http2) or a DestinationRule sets `h2UpgradePolicy: UPGRADE` for it. Over an
HTTP/1.1 cluster every check fails (Envoy refuses the gRPC call) and, with `onError: deny`, every
request is denied: a broken route is an outage, caught here rather than in the mesh.
"""

from __future__ import annotations

import re

from issuer_routes import ISTIO_CLUSTER, _host_matches

H2_PROTOCOLS = ("GRPC", "GRPC-WEB", "HTTP2")
H2_NAME = re.compile(r"^(grpc|grpc-web|http2)(-.*)?$", re.IGNORECASE)


def _port_is_h2(port: object) -> bool:
    if not isinstance(port, dict):
        return False
    declared = str(port.get("appProtocol") or port.get("protocol") or "").upper()
    return declared in H2_PROTOCOLS or bool(H2_NAME.match(str(port.get("name") or "")))


def _declared_h2(objects: list[dict], host: str, port: int) -> bool:
    """A Service or ServiceEntry in `objects` declaring `host:port` HTTP/2 or gRPC."""
    for o in objects:
        spec = o.get("spec") or {}
        meta = o.get("metadata") or {}
        if o.get("kind") == "ServiceEntry" and any(_host_matches(h, host) for h in spec.get("hosts") or []):
            ports = spec.get("ports") or []
        elif o.get("kind") == "Service" and host == f"{meta.get('name')}.{meta.get('namespace')}.svc.cluster.local":
            ports = spec.get("ports") or []
        else:
            continue
        if any(isinstance(p, dict) and p.get("port", p.get("number")) == port and _port_is_h2(p) for p in ports):
            return True
    return False


def _h2_policy(policy: object, port: int) -> object:
    """The h2UpgradePolicy a traffic policy gives one port: its portLevelSettings entry's, else the
    policy's (Istio's merge: a port-level connectionPool replaces the top-level one)."""
    if not isinstance(policy, dict):
        return None
    for s in policy.get("portLevelSettings") or []:
        if isinstance(s, dict) and (s.get("port") or {}).get("number") == port and "connectionPool" in s:
            return ((s["connectionPool"] or {}).get("http") or {}).get("h2UpgradePolicy")
    return (((policy.get("connectionPool") or {}).get("http")) or {}).get("h2UpgradePolicy")


def _upgraded(objects: list[dict], host: str, port: int, subset: str) -> bool:
    for rule in (o for o in objects if o.get("kind") == "DestinationRule"):
        spec = rule.get("spec") or {}
        if not _host_matches(spec.get("host"), host):
            continue
        found = None
        if subset:
            for s in spec.get("subsets") or []:
                if isinstance(s, dict) and s.get("name") == subset:
                    found = _h2_policy(s.get("trafficPolicy"), port)
        found = found if found is not None else _h2_policy(spec.get("trafficPolicy"), port)
        if found == "UPGRADE":
            return True
    return False


def problems(objects: list[dict], plugin_configs: list[object]) -> list[str]:
    """Problems with the gRPC auth service's and the revocation feed's clusters of
    `plugin_configs`, looked up among `objects` (one rendered overlay)."""
    found = []
    for cfg in plugin_configs:
        if not isinstance(cfg, dict):
            continue
        service = cfg.get("authService") if isinstance(cfg.get("authService"), dict) else {}
        if service.get("protocol") == "grpc":
            cluster = str(service.get("cluster", ""))
            m = ISTIO_CLUSTER.match(cluster)
            if m is not None:
                port, subset, host = int(m.group(1)), m.group(2), m.group(3)
                if not (_declared_h2(objects, host, port) or _upgraded(objects, host, port, subset)):
                    found.append(
                        f"pluginConfig.authService.cluster {cluster}: gRPC needs HTTP/2, and nothing in this "
                        f"overlay makes {host}:{port} HTTP/2 (a DestinationRule with h2UpgradePolicy: UPGRADE "
                        "for that port, or a Service/ServiceEntry port named grpc-*/http2-* or with "
                        "appProtocol grpc); over HTTP/1.1 every check fails")
        feed = cfg.get("revocation")
        if isinstance(feed, dict) and "cluster" in feed and not ISTIO_CLUSTER.match(str(feed["cluster"])):
            found.append(f"pluginConfig.revocation.cluster {feed['cluster']!r} is not Istio's outbound|PORT||FQDN name")
    return found
