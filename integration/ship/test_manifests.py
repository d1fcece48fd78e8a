"""envoyfilter-manifests/ against Istio's CRDs and a real Envoy, and proof that the checker bites."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

import check_manifests
import envoy_check
import issuer_routes
from conftest import MANIFESTS, REPO
import istio_schema
from istio_schema import Schemas

LEGACY_BOOTSTRAP = REPO / "integration" / "envoy" / "legacy-lua.yaml"


def load(rel: str) -> list[dict]:
    return check_manifests.load_docs((MANIFESTS / rel).read_text())


def one(rel: str) -> dict:
    (doc,) = load(rel)
    return doc


@pytest.fixture(scope="module")
def schemas(crds) -> list[Schemas]:
    return [Schemas.of(f) for f in sorted(crds.glob("crd-all*.gen.yaml"))]


def problems(objs: list[dict], schemas: list[Schemas]) -> list[str]:
    report = check_manifests.Report()
    check_manifests.check_objects(objs, "test", schemas, report)
    return report.problems


# --- the real manifests -----------------------------------------------------------------------------

def test_every_manifest_and_overlay_passes(crds, envoy, wasm):
    report = check_manifests.run(MANIFESTS, crds, envoy, wasm)
    assert report.skipped == []
    assert report.problems == []
    # 4 plain files, 11 kustomizations, and the Envoy runs: not a vacuous pass.
    assert report.checked >= 25


def test_overlays_render_and_differ():
    rendered = {}
    for env in ("test", "staging", "prod"):
        docs = check_manifests.kustomize(MANIFESTS / "overlays" / env)
        (wp,) = [d for d in docs if d["kind"] == "WasmPlugin"]
        assert [d["kind"] for d in docs].count("DestinationRule") == 1
        te = [d for d in check_manifests.kustomize(MANIFESTS / "traffic-extension" / env) if d["kind"] == "TrafficExtension"]
        assert len(te) == 1 and te[0]["spec"]["wasm"]["pluginConfig"] == wp["spec"]["pluginConfig"]
        assert te[0]["spec"]["wasm"]["sha256"] == wp["spec"]["sha256"]
        assert {k: te[0]["spec"][k] for k in ("phase", "priority", "match", "selector")} == \
            {k: wp["spec"][k] for k in ("phase", "priority", "match", "selector")}
        rendered[env] = wp
    cache = {env: wp["spec"]["pluginConfig"]["cache"]["allowTtlSeconds"] for env, wp in rendered.items()}
    assert cache["test"] < cache["staging"] < cache["prod"]
    assert rendered["test"]["metadata"]["namespace"] != rendered["prod"]["metadata"]["namespace"]
    assert all(wp["spec"]["pluginConfig"]["onError"]["mode"] == "deny" for wp in rendered.values())


def rendered(overlay: str) -> list[dict]:
    return check_manifests.kustomize(MANIFESTS / "overlays" / overlay)


def plugin(docs: list[dict]) -> dict:
    (wp,) = [d for d in docs if d["kind"] == "WasmPlugin"]
    return wp["spec"]["pluginConfig"]


def test_jwt_overlays_are_staging_plus_the_jwt_block():
    staging = plugin(rendered("staging"))
    gate_docs, auth_docs = rendered("jwt-gate"), rendered("jwt-authenticate")
    gate, auth = plugin(gate_docs), plugin(auth_docs)
    assert {k: v for k, v in gate.items() if k != "jwt"} == staging
    assert {k: v for k, v in auth.items() if k != "jwt"} == {
        k: v for k, v in staging.items() if k != "authService"
    }, "authenticate mode has no auth service"
    assert gate["jwt"]["mode"] == "gate" and "claimHeaders" not in gate["jwt"]["providers"][0]
    assert auth["jwt"]["mode"] == "authenticate" and "requireToken" not in auth["jwt"]
    claim_headers = auth["jwt"]["providers"][0]["claimHeaders"]
    assert set(claim_headers.values()) <= set(staging["identityHeaders"])
    # The issuer's route is rendered once, with the cluster the jwt block names.
    for docs in (gate_docs, auth_docs):
        (se,) = [d for d in docs if d["kind"] == "ServiceEntry"]
        (cluster,) = [c for _, c in issuer_routes.jwks_clusters(plugin(docs))]
        port, host = cluster.split("|")[1], cluster.split("|")[3]
        assert host in se["spec"]["hosts"] and int(port) in [p["number"] for p in se["spec"]["ports"]]
        assert issuer_routes.problems(docs, [plugin(docs)]) == []


def test_envoyfilter_configuration_is_the_base_plugin_config():
    base = one("base/wasmplugin.yaml")["spec"]["pluginConfig"]
    ef = one("envoyfilter/envoyfilter.yaml")
    (ext,) = [p for p in ef["spec"]["configPatches"] if p["applyTo"] == "EXTENSION_CONFIG"]
    text = ext["patch"]["value"]["typed_config"]["config"]["configuration"]["value"]
    assert json.loads(text) == base


def without_settings(code: str) -> str:
    """Lua code without the two lines that differ between mesh and local Envoy."""
    return "\n".join(l for l in code.splitlines() if not re.match(r"AUTH_(CLUSTER|AUTHORITY) = ", l))


def test_legacy_lua_is_the_same_code_in_the_envoyfilter_and_the_bootstrap():
    ef = one("legacy/envoyfilter-lua.yaml")["spec"]["configPatches"][0]["patch"]["value"]
    boot = yaml.safe_load(LEGACY_BOOTSTRAP.read_text())
    hcm = boot["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    (lua,) = [f for f in hcm["http_filters"] if f["name"] == "envoy.filters.http.lua"]
    ef_code = ef["typed_config"]["default_source_code"]["inline_string"]
    boot_code = lua["typed_config"]["default_source_code"]["inline_string"]
    assert "httpCall" in ef_code and without_settings(ef_code) == without_settings(boot_code)
    assert 'AUTH_CLUSTER = "auth"' in boot_code and 'AUTH_AUTHORITY = "auth.local"' in boot_code


def test_legacy_lua_bootstrap_validates(envoy):
    ok, line = envoy_check.validate(envoy, yaml.safe_load(LEGACY_BOOTSTRAP.read_text()))
    assert ok, line


def test_envoy_validate_rejects_broken_lua(envoy):
    # Otherwise the test above would prove nothing about the script.
    boot = yaml.safe_load(LEGACY_BOOTSTRAP.read_text())
    hcm = boot["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    hcm["http_filters"][0]["typed_config"]["default_source_code"]["inline_string"] = "function envoy_on_request(h\n"
    ok, _ = envoy_check.validate(envoy, boot)
    assert not ok


# --- the checker rejects what a cluster or a proxy would reject ---------------------------------------

def wasmplugin() -> dict:
    return copy.deepcopy(one("base/wasmplugin.yaml"))


def test_checker_rejects_unknown_field(schemas):
    obj = wasmplugin()
    obj["spec"]["pluginConfigs"] = {}
    assert any("pluginConfigs" in p for p in problems([obj], schemas))
    obj = wasmplugin()
    obj["metadata"]["creationTimestamp"] = None
    assert any("creationTimestamp" in p for p in problems([obj], schemas))


def test_checker_rejects_selector_with_target_refs(schemas):
    obj = wasmplugin()
    obj["spec"]["targetRefs"] = [{"kind": "Service", "name": "web"}]
    assert any("only one of targetRefs or selector" in p for p in problems([obj], schemas))


def test_checker_rejects_unquoted_digest_and_wrong_enum(schemas):
    obj = wasmplugin()
    obj["spec"]["sha256"] = 0  # what YAML makes of an unquoted all-digit value
    obj["spec"]["phase"] = "AUTHORIZATION"
    found = problems([obj], schemas)
    assert any(".spec.sha256" in p for p in found)
    assert any(".spec.phase" in p for p in found)
    obj = wasmplugin()
    obj["spec"]["sha256"] = "0" * 64
    assert any("placeholder" in p for p in problems([obj], schemas))


def test_checker_rejects_traffic_extension_cel_and_bad_durations(schemas):
    te = [d for d in check_manifests.kustomize(MANIFESTS / "traffic-extension" / "prod") if d["kind"] == "TrafficExtension"][0]
    te["spec"]["lua"] = {"inlineCode": "function envoy_on_request(h) end"}
    assert any("exactly one of wasm or lua" in p for p in problems([te], schemas))
    dr = one("auth-service/destinationrule.yaml")
    dr["spec"]["trafficPolicy"]["outlierDetection"]["interval"] = "10 seconds"
    assert any("outlierDetection.interval" in p for p in problems([dr], schemas))


def test_checker_reports_cel_rules_it_does_not_know(tmp_path, schemas):
    crd = yaml.load_all(schemas[0].path.read_text(), Loader=istio_schema.YAML_LOADER)
    (wp_crd,) = [d for d in crd if d and d.get("spec", {}).get("names", {}).get("kind") == "WasmPlugin"]
    wp_crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["x-kubernetes-validations"] = [
        {"rule": "self.url.startsWith('oci://registry.internal/')", "message": "internal registry only"}]
    path = tmp_path / "crd-all.gen.yaml"
    path.write_text(yaml.safe_dump(wp_crd))
    assert any("CEL rule not implemented" in p for p in problems([wasmplugin()], [Schemas(path)]))


def test_checker_enforces_mesh_authz_rules(schemas):
    obj = wasmplugin()
    obj["spec"]["failStrategy"] = "FAIL_OPEN"
    obj["spec"]["match"] = [{"mode": "CLIENT_AND_SERVER"}]
    obj["spec"]["url"] = "oci://registry.example.com/mesh/mesh-authz@sha256:" + "1" * 64
    obj["spec"]["pluginConfig"]["authService"]["cluster"] = "auth"
    found = " | ".join(problems([obj], schemas))
    for expected in ("FAIL_CLOSE", "mode: SERVER", "@sha256 digest and sha256 differ", "outbound|PORT||FQDN"):
        assert expected in found


def test_fail_reload_by_default_and_fail_close_for_older_istio(schemas):
    assert of_kind(rendered("prod"), "WasmPlugin")["spec"]["failStrategy"] == "FAIL_RELOAD"
    older = of_kind(rendered("prod-fail-close"), "WasmPlugin")
    assert older["spec"]["failStrategy"] == "FAIL_CLOSE"
    assert {k: v for k, v in older["spec"].items() if k != "failStrategy"} == \
        {k: v for k, v in of_kind(rendered("prod"), "WasmPlugin")["spec"].items() if k != "failStrategy"}
    for strategy in ("FAIL_RELOAD", "FAIL_CLOSE"):
        obj = wasmplugin()
        obj["spec"]["failStrategy"] = strategy
        assert not any("failStrategy" in p for p in problems([obj], schemas)), strategy


def test_envoyfilter_never_fails_open(wasm):
    for policy, refused in (("FAIL_RELOAD", False), ("FAIL_CLOSED", False), ("FAIL_OPEN", True)):
        spec = copy.deepcopy(one("envoyfilter/envoyfilter.yaml")["spec"])
        spec["configPatches"][0]["patch"]["value"]["typed_config"]["config"]["failure_policy"] = policy
        _, found = envoy_check.envoyfilter_bootstrap(spec, wasm)
        assert any("lets requests through" in p for p in found) == refused, (policy, found)


def gate_overlay() -> list[dict]:
    return copy.deepcopy(rendered("jwt-gate"))


def of_kind(docs: list[dict], kind: str) -> dict:
    (doc,) = [d for d in docs if d["kind"] == kind]
    return doc


def set_cluster(docs: list[dict], cluster: str) -> None:
    plugin(docs)["jwt"]["providers"][0]["jwks"]["cluster"] = cluster


def drop(kind: str):
    return lambda docs: docs.remove(of_kind(docs, kind))


def issuer_rule(docs: list[dict]) -> dict:
    (dr,) = [d for d in docs if d["kind"] == "DestinationRule" and d["spec"]["host"] == "id.example.com"]
    return dr["spec"]["trafficPolicy"]


def port_80_tls(docs: list[dict]) -> dict:
    (setting,) = [s for s in issuer_rule(docs)["portLevelSettings"] if s["port"]["number"] == 80]
    return setting["tls"]


def other_port_only(docs: list[dict]) -> None:
    port_80_tls(docs).update(mode="DISABLE")
    of_kind(docs, "ServiceEntry")["spec"]["ports"].append({"number": 8080, "name": "http-other", "protocol": "HTTP"})
    set_cluster(docs, "outbound|8080||id.example.com")


JWKS_ROUTE_BREAKAGES = {
    # what is broken -> what the checker must say
    "no ServiceEntry": (drop("ServiceEntry"), "no ServiceEntry for host id.example.com with port 80"),
    "cluster on a port the ServiceEntry lacks": (
        lambda d: set_cluster(d, "outbound|8443||id.example.com"), "no ServiceEntry for host id.example.com with port 8443"),
    "resolution NONE": (
        lambda d: of_kind(d, "ServiceEntry")["spec"].update(resolution="NONE"), "resolution NONE"),
    "no TLS origination": (
        lambda d: port_80_tls(d).update(mode="DISABLE"), "no DestinationRule originating TLS"),
    "TLS originated on another port only": (
        other_port_only, "no DestinationRule originating TLS (mode SIMPLE or MUTUAL) for id.example.com port 8080"),
    "certificate not verified": (
        lambda d: port_80_tls(d).update(insecureSkipVerify=True), "skips certificate verification"),
    "TLS originated on the HTTPS port": (
        lambda d: issuer_rule(d).update(tls={"mode": "SIMPLE"}), "encrypted twice"),
    "not an Istio cluster name": (lambda d: set_cluster(d, "jwks"), "is not Istio's outbound|PORT||FQDN name"),
}


@pytest.mark.parametrize("breakage", JWKS_ROUTE_BREAKAGES)
def test_checker_requires_a_tls_route_to_each_jwks(breakage):
    docs = gate_overlay()
    assert issuer_routes.problems(docs, [plugin(docs)]) == []
    breaks, expected = JWKS_ROUTE_BREAKAGES[breakage]
    breaks(docs)
    found = " | ".join(issuer_routes.problems(docs, [plugin(docs)]))
    assert expected in found


def test_checker_exempts_in_cluster_and_inline_jwks():
    docs = [d for d in gate_overlay() if d["kind"] not in ("ServiceEntry", "DestinationRule")]
    set_cluster(docs, "outbound|8080||keycloak.identity.svc.cluster.local")
    assert issuer_routes.problems(docs, [plugin(docs)]) == []
    plugin(docs)["jwt"]["providers"][0]["jwks"] = {"inline": '{"keys": []}'}
    assert issuer_routes.problems(docs, [plugin(docs)]) == []


def test_checker_needs_an_auth_service_except_in_authenticate_mode(schemas):
    auth = of_kind(copy.deepcopy(rendered("jwt-authenticate")), "WasmPlugin")
    assert "authService" not in auth["spec"]["pluginConfig"]
    assert not any("authService" in p for p in problems([auth], schemas))
    gate = of_kind(gate_overlay(), "WasmPlugin")
    del gate["spec"]["pluginConfig"]["authService"]
    assert any("authService.cluster" in p for p in problems([gate], schemas))


def test_envoy_rejects_bad_jwt_config(envoy, wasm):
    # The jwt block reaches the module's own validation: claimHeaders belong to authenticate mode.
    cfg = plugin(gate_overlay())
    cfg["jwt"]["providers"][0]["claimHeaders"] = {"sub": "x-user-id"}
    boot = envoy_check.bootstrap([envoy_check.wasm_filter(cfg, wasm), envoy_check.ROUTER], envoy_check.callout_clusters(cfg))
    ok, line = envoy_check.validate(envoy, boot)
    assert not ok
    assert "mesh-authz: invalid configuration: jwt.providers[0].claimHeaders" in line


def test_envoy_rejects_bad_plugin_config(envoy, wasm):
    cfg = wasmplugin()["spec"]["pluginConfig"]
    cfg["cache"]["allowTtlSeconds"] = 3600  # above maxTtlSeconds
    boot = envoy_check.bootstrap([envoy_check.wasm_filter(cfg, wasm), envoy_check.ROUTER], envoy_check.callout_clusters(cfg))
    ok, line = envoy_check.validate(envoy, boot)
    assert not ok
    assert "mesh-authz: invalid configuration: cache.allowTtlSeconds" in line


def test_envoyfilter_checks_catch_bad_patches(envoy, wasm):
    ef = one("envoyfilter/envoyfilter.yaml")
    spec = copy.deepcopy(ef["spec"])
    spec["configPatches"][1]["match"]["listener"]["filterChain"]["filter"]["subFilter"]["name"] = "envoy.filters.http.rbac"
    _, found = envoy_check.envoyfilter_bootstrap(spec, wasm)
    assert any("silently not apply" in p for p in found)
    spec = copy.deepcopy(ef["spec"])
    spec["configPatches"][0]["patch"]["value"]["typed_config"]["config"]["vm_config"]["code"]["remote"]["sha256"] = "0" * 64
    _, found = envoy_check.envoyfilter_bootstrap(spec, wasm)
    assert any("does not pin" in p for p in found)
    spec = copy.deepcopy(ef["spec"])
    cfg = spec["configPatches"][0]["patch"]["value"]["typed_config"]["config"]
    cfg["configuration"]["value"] = cfg["configuration"]["value"].replace('"timeoutMs":200', '"timeoutMs":"200"')
    boot, found = envoy_check.envoyfilter_bootstrap(spec, wasm)
    assert found == []
    ok, line = envoy_check.validate(envoy, boot)
    assert not ok and "authService.timeoutMs" in line


def test_cli_fails_on_a_broken_tree(tmp_path, crds):
    root = tmp_path / "envoyfilter-manifests"
    shutil.copytree(MANIFESTS, root)
    wp = root / "base" / "wasmplugin.yaml"
    wp.write_text(wp.read_text().replace("  phase: AUTHZ", "  phase: AUTHZ\n  targetRefs:\n    - {kind: Service, name: web}"))
    # Without Envoy: the schema part alone must already fail the run.
    proc = subprocess.run(
        [check_manifests.sys.executable, str(Path(check_manifests.__file__)), "--root", str(root),
         "--crds", str(crds), "--envoy", str(tmp_path / "no-envoy")],
        capture_output=True, text=True, env={**os.environ, "CI": "false"})
    assert proc.returncode == 1, proc.stdout
    assert "only one of targetRefs or selector" in proc.stdout


# --- gRPC to OPA and the revocation feed ------------------------------------------------------------

import callout_routes  # noqa: E402


def test_grpc_and_revocation_overlays_are_staging_plus_their_block():
    staging = plugin(rendered("staging"))
    grpc_docs = rendered("grpc-opa")
    grpc = plugin(grpc_docs)
    service = grpc["authService"]
    assert service["protocol"] == "grpc" and service["cluster"] == "outbound|9191||opa.opa-system.svc.cluster.local"
    assert "pathPrefix" not in service and "includeRequestPath" not in service
    assert {k: v for k, v in grpc.items() if k != "authService"} == {k: v for k, v in staging.items() if k != "authService"}
    assert {k: v for k, v in service.items() if k not in ("protocol", "cluster", "authority", "contextExtensions")} == \
        {k: v for k, v in staging["authService"].items() if k not in ("cluster", "authority", "pathPrefix", "includeRequestPath")}
    assert callout_routes.problems(grpc_docs, [grpc]) == []
    feed = plugin(rendered("revocation"))
    assert {k: v for k, v in feed.items() if k != "revocation"} == staging
    assert feed["revocation"]["subjectHeader"] in staging["identityHeaders"]
    assert "cluster" not in feed["revocation"], "by default the feed goes to the auth service's cluster"


def grpc_overlay() -> list[dict]:
    return copy.deepcopy(rendered("grpc-opa"))


def opa_rule(docs: list[dict]) -> dict:
    (dr,) = [d for d in docs if d["kind"] == "DestinationRule" and d["spec"]["host"] == "opa.opa-system.svc.cluster.local"]
    return dr["spec"]["trafficPolicy"]


def opa_port(docs: list[dict]) -> dict:
    (setting,) = [s for s in opa_rule(docs)["portLevelSettings"] if s["port"]["number"] == 9191]
    return setting


def h2_elsewhere_only(docs: list[dict]) -> None:
    opa_port(docs)["port"]["number"] = 8181


def top_level_upgrade_shadowed(docs: list[dict]) -> None:
    # A port-level connectionPool replaces the top-level one: the upgrade up there does not count.
    opa_rule(docs)["connectionPool"] = {"http": {"h2UpgradePolicy": "UPGRADE"}}
    del opa_port(docs)["connectionPool"]["http"]["h2UpgradePolicy"]


def grpc_service(port: dict) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "opa", "namespace": "opa-system"},
            "spec": {"ports": [port]}}


GRPC_ROUTE_BREAKAGES = {
    "no DestinationRule": (lambda d: d.remove(next(x for x in d if x["kind"] == "DestinationRule"
                                                   and x["spec"]["host"].startswith("opa."))), "gRPC needs HTTP/2"),
    "no upgrade": (lambda d: opa_port(d)["connectionPool"]["http"].pop("h2UpgradePolicy"), "gRPC needs HTTP/2"),
    "DO_NOT_UPGRADE": (lambda d: opa_port(d)["connectionPool"]["http"].update(h2UpgradePolicy="DO_NOT_UPGRADE"),
                       "gRPC needs HTTP/2"),
    "upgrade on another port": (h2_elsewhere_only, "gRPC needs HTTP/2"),
    "top-level upgrade replaced by the port's pool": (top_level_upgrade_shadowed, "gRPC needs HTTP/2"),
    "cluster on another port": (lambda d: plugin(d)["authService"].update(cluster="outbound|9000||opa.opa-system.svc.cluster.local"),
                                "opa.opa-system.svc.cluster.local:9000"),
    "an HTTP port of that name": (lambda d: (opa_port(d)["connectionPool"]["http"].pop("h2UpgradePolicy"),
                                             d.append(grpc_service({"name": "http-opa", "port": 9191}))),
                                  "gRPC needs HTTP/2"),
}


@pytest.mark.parametrize("breakage", GRPC_ROUTE_BREAKAGES)
def test_checker_requires_an_http2_route_to_a_grpc_auth_service(breakage):
    docs = grpc_overlay()
    assert callout_routes.problems(docs, [plugin(docs)]) == []
    breaks, expected = GRPC_ROUTE_BREAKAGES[breakage]
    breaks(docs)
    assert expected in " | ".join(callout_routes.problems(docs, [plugin(docs)]))


@pytest.mark.parametrize("port", [{"name": "grpc", "port": 9191}, {"name": "grpc-opa", "port": 9191},
                                  {"name": "opa", "port": 9191, "appProtocol": "grpc"},
                                  {"name": "h2", "port": 9191, "appProtocol": "http2"}])
def test_checker_accepts_a_port_declared_grpc_instead_of_the_upgrade(port):
    docs = grpc_overlay()
    opa_port(docs)["connectionPool"]["http"].pop("h2UpgradePolicy")
    docs.append(grpc_service(port))
    assert callout_routes.problems(docs, [plugin(docs)]) == []


def test_checker_ignores_http_auth_services_and_checks_the_feed_cluster(schemas):
    assert callout_routes.problems(rendered("staging"), [plugin(rendered("staging"))]) == []
    docs = copy.deepcopy(rendered("revocation"))
    assert callout_routes.problems(docs, [plugin(docs)]) == []
    plugin(docs)["revocation"]["cluster"] = "revocations"
    assert "revocation.cluster 'revocations'" in " | ".join(callout_routes.problems(docs, [plugin(docs)]))
    plugin(docs)["revocation"]["cluster"] = "outbound|8080||revocations.auth-system.svc.cluster.local"
    assert callout_routes.problems(docs, [plugin(docs)]) == []
    assert "outbound|8080||revocations.auth-system.svc.cluster.local" in envoy_check.callout_clusters(plugin(docs))


def test_envoy_rejects_http_only_fields_in_grpc_mode(envoy, wasm):
    # What the component removes: the module refuses pathPrefix in gRPC mode, so the Envoy run
    # of every pluginConfig would catch a component that forgot to.
    cfg = plugin(grpc_overlay())
    cfg["authService"]["pathPrefix"] = "/check"
    boot = envoy_check.bootstrap([envoy_check.wasm_filter(cfg, wasm), envoy_check.ROUTER], envoy_check.callout_clusters(cfg))
    ok, line = envoy_check.validate(envoy, boot)
    assert not ok and "authService.pathPrefix" in line, line


def test_envoy_rejects_a_feed_subject_outside_identity_headers(envoy, wasm):
    cfg = plugin(copy.deepcopy(rendered("revocation")))
    cfg["revocation"]["subjectHeader"] = "x-session"
    boot = envoy_check.bootstrap([envoy_check.wasm_filter(cfg, wasm), envoy_check.ROUTER], envoy_check.callout_clusters(cfg))
    ok, line = envoy_check.validate(envoy, boot)
    assert not ok and "revocation.subjectHeader" in line, line
