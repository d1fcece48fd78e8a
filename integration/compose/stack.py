"""The compose stack up and down with podman-compose, on ports the caller names.

`make compose-up` / `make compose-down` and integration/ship/test_compose.py both use this, so the
developer's stack and the tested one are started the same way: the images compose-images chose
(dist/compose/images.env), an envoy.yaml on the requested ports, a check that those ports are free
before anything starts (never talk to someone else's server), and a bounded wait on Envoy's admin
`/ready` that also makes sure the Envoy answering is the one just started.

usage: stack.py up|down [--project NAME] [--listen-port N --admin-port N --auth-port N --echo-port N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import envoy_config

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
COMPOSE_FILE = REPO / "integration" / "docker-compose.yml"
STATE = REPO / "dist" / "compose"
IMAGES_ENV = STATE / "images.env"
# The path Envoy is started with inside its container (the compose file's `command`).
CONFIG_IN_CONTAINER = "/work/integration/envoy/envoy.yaml"


class StackError(Exception):
    """Something an operator must act on; the message says what."""


@dataclass(frozen=True)
class Ports:
    listen: int = 10000
    admin: int = 9901
    auth: int = 8081
    echo: int = 8082

    def named(self) -> dict[str, int]:
        return {"listen": self.listen, "admin": self.admin, "auth": self.auth, "echo": self.echo}


def compose_command() -> list[str] | None:
    """PODMAN_COMPOSE if set, else the venv's podman-compose (PyPI), else one on PATH."""
    if os.environ.get("PODMAN_COMPOSE"):
        return os.environ["PODMAN_COMPOSE"].split()
    beside = Path(sys.executable).parent / "podman-compose"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("podman-compose")
    return [found] if found else None


def taken(ports: Ports) -> list[str]:
    """The ports something on 127.0.0.1 already listens on, as `name port`."""
    busy = []
    for name, port in ports.named().items():
        with socket.socket() as s:
            # As Envoy binds: a connection of a stack just brought down (TIME_WAIT) is no listener.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                busy.append(f"{name} {port}")
    return busy


def free_ports() -> Ports:
    """Four ports the kernel hands out as free, all held at once so they differ."""
    socks = [socket.socket() for _ in range(4)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return Ports(*(s.getsockname()[1] for s in socks))
    finally:
        for s in socks:
            s.close()


def images() -> dict[str, str]:
    """The image variables compose-images wrote."""
    if not IMAGES_ENV.exists():
        raise StackError(f"{IMAGES_ENV} missing: run `make compose-images`")
    pairs = (line.split("=", 1) for line in IMAGES_ENV.read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs}


def environment(ports: Ports, config_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(images())
    env["MESH_AUTHZ_ENVOY_CONFIG_DIR"] = str(config_dir)
    env["MESH_AUTHZ_AUTH_PORT"] = str(ports.auth)
    env["MESH_AUTHZ_ECHO_PORT"] = str(ports.echo)
    return env


def compose(project: str, env: dict[str, str], *args: str, timeout: float) -> subprocess.CompletedProcess:
    cmd = compose_command()
    if cmd is None:
        raise StackError("podman-compose not found (make venv installs it)")
    return subprocess.run([*cmd, "-p", project, "-f", str(COMPOSE_FILE), *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def _get(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.read()
    except OSError:
        return None


def _connects(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _containers(project: str) -> list[str]:
    """`name status restart-count` of each container of the project."""
    ids = subprocess.run(["podman", "ps", "-aq", "--filter", f"label=io.podman.compose.project={project}"],
                         capture_output=True, text=True, timeout=30).stdout.split()
    if not ids:
        return ["no containers"]
    out = subprocess.run(["podman", "inspect", "--format", "{{.Name}} {{.State.Status}} {{.RestartCount}}", *ids],
                         capture_output=True, text=True, timeout=30).stdout
    return out.splitlines()


def wait_ready(project: str, ports: Ports, started: float, deadline_s: float = 60.0) -> None:
    """Until Envoy is LIVE and the auth service and echo upstream accept connections; then check
    that no container of the project exited or restarted (one whose port was taken after `up`
    checked it) and that the Envoy answering started after `started` from our config, not another
    one on the port."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if _get(f"http://127.0.0.1:{ports.admin}/ready") == b"LIVE\n" and _connects(ports.auth) \
                and _connects(ports.echo):
            break
        time.sleep(0.25)
    else:
        raise StackError(f"the stack was not ready within {deadline_s:.0f} s (admin port {ports.admin}, "
                         f"auth {ports.auth}, echo {ports.echo})")
    restarted = [line for line in _containers(project) if not line.endswith(" running 0")]
    if restarted:
        raise StackError("a container exited or restarted (a port taken meanwhile?): " + "; ".join(restarted))
    info = json.loads(_get(f"http://127.0.0.1:{ports.admin}/server_info") or b"{}")
    config = info.get("command_line_options", {}).get("config_path")
    uptime = float(info.get("uptime_current_epoch", "inf").rstrip("s"))
    if config != CONFIG_IN_CONTAINER or uptime > time.time() - started + 1:
        raise StackError(f"the Envoy on admin port {ports.admin} is not this stack's "
                         f"(config {config}, up {uptime} s)")


def up(project: str, ports: Ports) -> None:
    busy = taken(ports)
    if busy:
        raise StackError(f"ports already in use on 127.0.0.1: {', '.join(busy)} (choose others: "
                         "LISTEN_PORT= ADMIN_PORT= AUTH_PORT= ECHO_PORT=)")
    config_dir = STATE / project
    envoy_config.write(config_dir, ports.listen, ports.admin, ports.auth, ports.echo)
    started = time.time()
    try:
        proc = compose(project, environment(ports, config_dir), "up", "-d", timeout=180)
        if proc.returncode != 0:
            raise StackError(f"podman-compose up failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
        wait_ready(project, ports, started)
    except (StackError, subprocess.TimeoutExpired) as e:
        # Never leave a half-started stack restarting on the ports; say what it printed first.
        message = f"{e}\n--- podman-compose logs ---\n{logs(project)}"
        down(project)
        raise StackError(message) from e


def down(project: str) -> subprocess.CompletedProcess:
    # Images and ports do not matter to `down`; the variables only keep compose from warning.
    env = dict(os.environ, MESH_AUTHZ_ENVOY_CONFIG_DIR=str(STATE / project))
    proc = compose(project, env, "down", "-t", "2", timeout=120)
    if proc.returncode == 0:
        shutil.rmtree(STATE / project, ignore_errors=True)
    return proc


def logs(project: str) -> str:
    try:
        proc = compose(project, dict(os.environ), "logs", "--tail", "40", timeout=60)
    except subprocess.TimeoutExpired:
        return "(podman-compose logs did not answer within 60 s)"
    return proc.stdout + proc.stderr


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("--project", default="mesh-authz")
    for name, default in Ports().named().items():
        parser.add_argument(f"--{name}-port", type=int, default=default)
    args = parser.parse_args(argv)
    if args.action == "down":
        proc = down(args.project)
        print(proc.stdout + proc.stderr if proc.returncode else f"compose: {args.project} down")
        return proc.returncode
    ports = Ports(args.listen_port, args.admin_port, args.auth_port, args.echo_port)
    try:
        up(args.project, ports)
    except StackError as e:
        print(f"compose: {e}", file=sys.stderr)
        return 1
    print(f"compose: {args.project} up: Envoy on 127.0.0.1:{ports.listen} (admin {ports.admin}), "
          f"auth service {ports.auth}, echo {ports.echo}")
    print(f"  curl -i -H 'authorization: Bearer alice-token' http://127.0.0.1:{ports.listen}/hello")
    print(f"  curl -i http://127.0.0.1:{ports.listen}/hello")
    print("  make compose-down")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
