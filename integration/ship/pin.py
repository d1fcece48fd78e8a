#!/usr/bin/env python3
"""Point one environment's manifests at a pushed image: rewrite url and sha256 in place.

    pin.py test|staging|prod|envoyfilter|base oci://host[:port]/name:tag sha256:<manifest digest> [--root DIR]

Overlays keep their pin in overlays/<env>/image.yaml (also used by traffic-extension/<env>);
the EnvoyFilter install keeps it in envoyfilter/envoyfilter.yaml. Comments and layout are kept.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "envoyfilter-manifests"


def pin(target: str, url: str, digest: str, root: Path = ROOT) -> Path:
    if not url.startswith("oci://") or "/" not in url[len("oci://"):]:
        raise SystemExit(f"{url}: expected oci://host[:port]/name:tag")
    hexdigest = digest.removeprefix("sha256:")
    if not re.fullmatch(r"[a-f0-9]{64}", hexdigest):
        raise SystemExit(f"{digest}: not a sha256 digest")
    if target == "envoyfilter":
        path, url_key = root / "envoyfilter" / "envoyfilter.yaml", "uri"
    elif target == "base":
        path, url_key = root / "base" / "wasmplugin.yaml", "url"
    else:
        path, url_key = root / "overlays" / target / "image.yaml", "url"
    text = path.read_text()
    text, n_url = re.subn(rf"(?m)^(\s*){url_key}: oci://\S+$", rf"\g<1>{url_key}: {url}", text)
    text, n_sha = re.subn(r'(?m)^(\s*)sha256: "?[a-f0-9]*"?$', rf'\g<1>sha256: "{hexdigest}"', text)
    if n_url != 1 or n_sha != 1:
        raise SystemExit(f"{path}: expected one {url_key} and one sha256 line, found {n_url} and {n_sha}")
    path.write_text(text)
    return path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target")
    p.add_argument("url")
    p.add_argument("digest")
    p.add_argument("--root", type=Path, default=ROOT)
    a = p.parse_args()
    print(f"pinned {pin(a.target, a.url, a.digest, a.root)} to {a.url} @ {a.digest}")


if __name__ == "__main__":
    sys.exit(main())
