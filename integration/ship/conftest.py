"""Shared helpers for the shipping tests (manifests, OCI image, docker-compose)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))

MANIFESTS = REPO / "envoyfilter-manifests"
WASM = Path(os.environ.get("WASM", REPO / "dist" / "mesh_authz.wasm"))
ENVOY = os.environ.get("ENVOY", str(Path(sys.executable).parent / "envoy"))


def need(ok: bool, what: str) -> None:
    """Skip with one line when an optional tool or input is absent; under CI=true, fail."""
    if ok:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} (required under CI=true)")
    pytest.skip(what)


def need_tool(name: str, hint: str) -> str:
    path = shutil.which(name)
    need(path is not None, f"{name} not found ({hint})")
    return str(path)


@pytest.fixture(scope="session")
def crds() -> Path:
    import check_manifests
    path = check_manifests.default_crds()
    need(any(path.glob("crd-all*.gen.yaml")) if path.is_dir() else False,
         f"Istio CRD schemas not found in {path} (shared/istio beside the checkout)")
    return path


@pytest.fixture(scope="session")
def envoy() -> str:
    need(Path(ENVOY).exists(), f"Envoy not found at {ENVOY} (make venv)")
    return ENVOY


@pytest.fixture(scope="session")
def wasm() -> Path:
    need(WASM.exists(), f"{WASM} not built (make build)")
    return WASM
