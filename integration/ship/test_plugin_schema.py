"""The configuration's JSON Schema: every pluginConfig of the manifests passes it (through the
checker), it is never stricter than the module (every golden configuration of every release passes
it), and the checker's schema step names what is wrong without printing a value."""

from __future__ import annotations

import copy
import json

import pytest

import check_manifests
from conftest import MANIFESTS, REPO

GOLDEN = REPO / "filter" / "core" / "tests" / "golden"


@pytest.fixture(scope="module")
def validator():
    return check_manifests.plugin_validator()


def base_config() -> dict:
    docs = check_manifests.load_docs((MANIFESTS / "base" / "wasmplugin.yaml").read_text())
    return copy.deepcopy(next(check_manifests.plugin_config(d) for d in docs if check_manifests.is_mesh_authz(d)))


def test_every_release_s_golden_configuration_passes_the_schema(validator):
    paths = sorted(p for p in GOLDEN.glob("*/*.json") if p.parent.name != "refused")
    assert len(paths) >= 20
    for p in paths:
        assert check_manifests.schema_problems(json.loads(p.read_text()), validator) == [], p


def test_every_manifest_plugin_config_passes_the_schema(validator):
    seen = 0
    for f in sorted(MANIFESTS.rglob("*.yaml")):
        for d in check_manifests.load_docs(f.read_text()):
            if isinstance(d, dict) and check_manifests.is_mesh_authz(d):
                assert check_manifests.schema_problems(check_manifests.plugin_config(d), validator) == [], f
                seen += 1
    assert seen >= 1


@pytest.mark.parametrize("change, where", [
    (lambda c: c.__setitem__("cach", {}), "pluginConfig: Additional properties"),
    (lambda c: c["authService"].__setitem__("timeoutMs", "200"), "pluginConfig.authService.timeoutMs: must satisfy type"),
    (lambda c: c.setdefault("onError", {}).__setitem__("mode", "maybe"), "pluginConfig.onError.mode"),
    (lambda c: c.__setitem__("bypass", [{"pathPrefix": "/h", "methd": "GET"}]), "pluginConfig.bypass[0]"),
    (lambda c: c["authService"].pop("cluster"), "'cluster' is a required property"),
])
def test_the_schema_step_names_the_field(validator, change, where):
    cfg = base_config()
    assert check_manifests.schema_problems(cfg, validator) == []
    change(cfg)
    problems = check_manifests.schema_problems(cfg, validator)
    assert any(where in p for p in problems), problems


def test_the_schema_step_never_prints_a_value(validator):
    cfg = base_config()
    cfg["authService"]["addHeaders"] = {"x-api-key": 73510042}
    problems = check_manifests.schema_problems(cfg, validator)
    assert problems and all("73510042" not in p for p in problems), problems
    assert any("pluginConfig.authService.addHeaders.x-api-key" in p for p in problems), problems


def test_the_checker_reports_a_plugin_config_the_schema_refuses(validator):
    docs = check_manifests.load_docs((MANIFESTS / "base" / "wasmplugin.yaml").read_text())
    obj = next(d for d in docs if check_manifests.is_mesh_authz(d))
    obj = copy.deepcopy(obj)
    check_manifests.extension_parts(obj)["pluginConfig"]["cache"]["maxEntrys"] = 5
    report = check_manifests.Report()
    check_manifests.check_objects([obj], "test", [], report)
    assert any("maxEntrys" in p for p in report.problems), report.problems
