"""integration/envoy/envoy.yaml with other ports, for the compose stack.

Envoy has no variables in its bootstrap and `--config-yaml` appends listeners and clusters rather
than replacing them, so a stack on other ports needs its own copy of the file. This writes one with
the listener, admin, auth-cluster and echo-cluster ports replaced on the parsed YAML (as `make run`
and the end-to-end tests do), and fails if any of the four is not where it is expected, so a
changed envoy.yaml cannot silently keep a fixed port.

usage: envoy_config.py OUT_DIR --listen-port N --admin-port N --auth-port N --echo-port N
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

SOURCE = Path(__file__).resolve().parent.parent / "envoy" / "envoy.yaml"


def with_ports(config: dict, listen: int, admin: int, auth: int, echo: int) -> dict:
    """The config with the four ports replaced; KeyError/ValueError if one is not found once."""
    config["admin"]["address"]["socket_address"]["port_value"] = admin
    (listener,) = config["static_resources"]["listeners"]
    listener["address"]["socket_address"]["port_value"] = listen
    clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    for name, port in (("auth", auth), ("echo", echo)):
        ((endpoint,),) = [e["lb_endpoints"] for e in clusters[name]["load_assignment"]["endpoints"]]
        endpoint["endpoint"]["address"]["socket_address"]["port_value"] = port
    return config


def write(out_dir: Path, listen: int, admin: int, auth: int, echo: int) -> Path:
    """out_dir/envoy.yaml: envoy.yaml on these ports."""
    config = with_ports(yaml.safe_load(SOURCE.read_text()), listen, admin, auth, echo)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / "envoy.yaml"
    out.write_text(f"# Generated from {SOURCE.name} by {Path(__file__).name}; edit that file instead.\n"
                   + yaml.safe_dump(config, sort_keys=False))
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    for name in ("listen", "admin", "auth", "echo"):
        parser.add_argument(f"--{name}-port", type=int, required=True)
    args = parser.parse_args(argv)
    print(write(args.out_dir, args.listen_port, args.admin_port, args.auth_port, args.echo_port))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
