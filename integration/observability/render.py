#!/usr/bin/env python3
"""The dashboard's panels rendered from a real Prometheus, for docs/dashboard.png (render.sh).

    render.py keys DIR                 an RSA key (openssl) and its JWKS in DIR
    render.py load DIR SECONDS URL...  bounded mixed load through the Envoys at URL...
    render.py plot DASHBOARD PROM START END OUT.png [SHADE_FROM SHADE_TO]

Grafana is not installable here, so `plot` evaluates the dashboard's own PromQL (targets read from
dashboard.json, template variables set to "all") with Prometheus's query_range API and draws each
panel with matplotlib. `keys` and `load` need only the standard library and openssl.
"""

from __future__ import annotations

import base64
import http.client
import json
import random
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

KID = "render-1"
ISSUER = "https://auth.example"
AUDIENCE = "mesh-authz-example"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def keys(out: Path) -> None:
    key = out / "key.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    modulus = subprocess.run(["openssl", "rsa", "-in", str(key), "-noout", "-modulus"],
                             check=True, capture_output=True, text=True).stdout.strip().split("=", 1)[1]
    n = bytes.fromhex(modulus)
    jwk = {"kty": "RSA", "kid": KID, "alg": "RS256", "use": "sig", "n": b64(n), "e": b64((65537).to_bytes(3, "big"))}
    (out / "jwks.json").write_text(json.dumps({"keys": [jwk]}))


def jwt(key: Path, sub: str, exp: int, kid: str = KID) -> str:
    head = b64(json.dumps({"alg": "RS256", "kid": kid, "typ": "JWT"}).encode())
    body = b64(json.dumps({"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "exp": exp, "iat": int(time.time())}).encode())
    signed = f"{head}.{body}".encode()
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(key)], input=signed,
                         check=True, capture_output=True).stdout
    return f"{head}.{body}.{b64(sig)}"


def load(out: Path, seconds: float, urls: list[str]) -> None:
    key = out / "key.pem"
    now = int(time.time())
    valid = [jwt(key, f"jwt-user-{i}", now + 3600) for i in range(20)]
    expired = jwt(key, "jwt-user-0", now - 600)
    foreign = jwt(key, "jwt-user-0", now + 3600, kid="not-in-jwks")
    # (weight, path, bearer): known API keys (cache hits), a viewer on /admin (403), unknown keys
    # from a small pool (401s and misses), health checks (bypass), signed tokens, rejected tokens.
    mix = [(40, "/hello", lambda: random.choice(["alice-token", "bob-token"])),
           (8, "/admin", lambda: "bob-token"),
           (14, "/hello", lambda: f"unknown-{random.randrange(400)}"),
           (6, "/healthz", lambda: None),
           (22, "/hello", lambda: random.choice(valid)),
           (6, "/hello", lambda: expired),
           (4, "/hello", lambda: foreign)]
    weights = [w for w, _, _ in mix]
    deadline = time.monotonic() + seconds
    max_requests = int(seconds * 200)  # a hard cap beside the clock
    sent = {"n": 0, "codes": {}}
    lock = threading.Lock()

    def worker(url: str) -> None:
        parsed = urllib.parse.urlsplit(url)
        conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=5)
        while time.monotonic() < deadline:
            with lock:
                if sent["n"] >= max_requests:
                    return
                sent["n"] += 1
            _, path, bearer = random.choices(mix, weights)[0]
            token = bearer()
            headers = {"authorization": f"Bearer {token}"} if token else {}
            try:
                conn.request("GET", path, headers=headers)
                resp = conn.getresponse()
                resp.read()
                code = resp.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=5)
                code = 0
            with lock:
                sent["codes"][code] = sent["codes"].get(code, 0) + 1
            time.sleep(0.025)  # about 40 requests a second per worker
    threads = [threading.Thread(target=worker, args=(u,)) for u in urls for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"load: {sent['n']} requests, answers {dict(sorted(sent['codes'].items()))}")


def query_range(prom: str, expr: str, start: float, end: float, step: float) -> list[dict]:
    q = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(f"{prom}/api/v1/query_range?{q}", timeout=30) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(f"{expr}: {body}")
    return body["data"]["result"]


def legend(fmt: str, labels: dict) -> str:
    for k, v in labels.items():
        fmt = fmt.replace("{{" + k + "}}", v)
    return fmt


def plot(dashboard: Path, prom: str, start: float, end: float, out: Path,
         shade: tuple[float, float] | None = None) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dash = json.loads(dashboard.read_text())
    panels = dash["panels"]
    step = 2.0
    rows = (sum(2 if p["gridPos"]["w"] == 24 else 1 for p in panels) + 1) // 2
    fig = plt.figure(figsize=(13, 3.3 * rows), dpi=60)
    grid = fig.add_gridspec(rows, 2, hspace=0.55, wspace=0.18)
    row, col, empty = 0, 0, []
    for p in panels:
        wide = p["gridPos"]["w"] == 24
        if wide and col == 1:
            row, col = row + 1, 0
        ax = fig.add_subplot(grid[row, :] if wide else grid[row, col])
        right = None
        drawn = 0
        for t in p["targets"]:
            expr = (t["expr"].replace("$__rate_interval", "10s")
                    .replace('"$namespace"', '".*"').replace('"$pod"', '".*"'))
            for series in query_range(prom, expr, start, end, step):
                xs = [float(v[0]) - start for v in series["values"]]
                ys = [float(v[1]) for v in series["values"]]
                name = legend(t["legendFormat"], series["metric"])
                target = ax
                if "right axis" in name:
                    right = right or ax.twinx()
                    target = right
                target.plot(xs, ys, linewidth=1.2, label=name, color=f"C{drawn % 10}")
                drawn += 1
        if drawn == 0:
            empty.append(p["title"])
        unit = p["fieldConfig"]["defaults"].get("unit", "")
        ax.set_title(p["title"], fontsize=11, loc="left")
        ax.set_ylabel(unit, fontsize=8)
        ax.set_xlabel("seconds since the load started", fontsize=8)
        if shade:
            ax.axvspan(*shade, color="grey", alpha=0.15, label="auth service down")
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        if right is not None:
            h2, l2 = right.get_legend_handles_labels()
            handles, labels = handles + h2, labels + l2
            right.tick_params(labelsize=7)
        ax.legend(handles, labels, fontsize=7, loc="upper left", ncol=2, framealpha=0.7)
        if wide:
            row, col = row + 1, 0
        elif col == 0:
            col = 1
        else:
            row, col = row + 1, 0
    fig.suptitle(f"{dash['title']}: panels of dashboard.json from Prometheus query_range (not Grafana)", fontsize=12)
    fig.savefig(out, bbox_inches="tight")
    print(f"plot: {out} ({out.stat().st_size} bytes){'; panels without data: ' + str(empty) if empty else ''}")


def main() -> int:
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "keys":
        keys(Path(args[0]))
    elif cmd == "load":
        load(Path(args[0]), float(args[1]), args[2:])
    elif cmd == "plot":
        shade = (float(args[5]), float(args[6])) if len(args) == 7 else None
        plot(Path(args[0]), args[1], float(args[2]), float(args[3]), Path(args[4]), shade)
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
