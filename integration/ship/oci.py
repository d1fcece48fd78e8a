#!/usr/bin/env python3
"""Pack dist/mesh_authz.wasm into an OCI image layout that Istio's Wasm fetcher accepts.

Format: the *compat* variant (istio/istio pkg/wasm/imagefetcher.go, extractOCIStandardImage):
an ordinary OCI image manifest whose last (here: only) layer is
`application/vnd.oci.image.layer.v1.tar+gzip` holding `plugin.wasm`. Every registry and every
client (skopeo, crane, docker pull) handles it, unlike the custom two-layer artifact variant.

Reproducible by construction: no timestamps anywhere (tar mtime 0, gzip mtime 0 and no file name,
uid/gid 0, fixed mode), JSON written with sorted keys and no spaces. The same module gives the same
manifest digest, which is what a WasmPlugin's `sha256` pins (Istio compares it with the manifest
digest of the image it pulls, pkg/wasm/cache.go).

No Docker daemon: the layout is written by hand and pushed with `skopeo copy --preserve-digests`.

    oci.py pack  WASM OUT_DIR [--tag TAG]       write the layout, print the manifest digest
    oci.py push  OUT_DIR REF [--tag TAG]        push to REF (host[:port]/name:tag), print the digest
    oci.py check OUT_DIR WASM                   check a layout (or a pulled copy) against the fetcher rules
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

WASM_FILE_NAME = "plugin.wasm"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
WASM_MAGIC = b"\0asm"


def canonical_json(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def layer_tar(module: bytes) -> bytes:
    """A tar with one file, every header field fixed."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo(WASM_FILE_NAME)
        info.size = len(module)
        info.mode = 0o444
        info.mtime = 0
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        tar.addfile(info, io.BytesIO(module))
    return buf.getvalue()


def gzip_fixed(data: bytes) -> bytes:
    buf = io.BytesIO()
    # fileobj without a name and mtime=0: the header carries no name and no time.
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9, mtime=0) as gz:
        gz.write(data)
    return buf.getvalue()


def write_blob(blobs: Path, data: bytes) -> dict:
    digest = sha256_hex(data)
    (blobs / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def pack(wasm: Path, out: Path, tag: str) -> str:
    module = wasm.read_bytes()
    if not module.startswith(WASM_MAGIC):
        raise SystemExit(f"{wasm} is not a Wasm module (no \\0asm magic)")
    if out.exists():
        shutil.rmtree(out)
    blobs = out / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    tar = layer_tar(module)
    layer = {"mediaType": LAYER_TYPE, **write_blob(blobs, gzip_fixed(tar)),
             "annotations": {"org.opencontainers.image.title": WASM_FILE_NAME}}
    config = {
        # GOOS/GOARCH spelling, as the image spec asks; nothing selects on it (single manifest).
        "architecture": "wasm",
        "os": "wasip1",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{sha256_hex(tar)}"]},
    }
    config_desc = {"mediaType": CONFIG_TYPE, **write_blob(blobs, canonical_json(config))}
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": config_desc,
        "layers": [layer],
        "annotations": {
            "org.opencontainers.image.title": "mesh-authz",
            "org.opencontainers.image.description": "mesh-authz proxy-wasm HTTP auth filter (Istio Wasm compat image)",
            # The module's own digest, for `url: file://` / `https://` users and for audits.
            "dev.mesh-authz.module.sha256": sha256_hex(module),
        },
    }
    manifest_desc = write_blob(blobs, canonical_json(manifest))
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": MANIFEST_TYPE, **manifest_desc,
                       "annotations": {"org.opencontainers.image.ref.name": tag}}],
    }
    (out / "index.json").write_bytes(canonical_json(index))
    (out / "oci-layout").write_bytes(canonical_json({"imageLayoutVersion": "1.0.0"}))
    digest = manifest_desc["digest"]
    (out.parent / f"{out.name}.digest").write_text(digest + "\n")
    return digest


def load_layout(out: Path) -> tuple[str, dict, Path]:
    index = json.loads((out / "index.json").read_text())
    entries = index.get("manifests", [])
    if len(entries) != 1:
        raise ValueError(f"{out}/index.json: expected one manifest, found {len(entries)}")
    digest = entries[0]["digest"]
    blobs = out / "blobs" / "sha256"
    raw = (blobs / digest.split(":", 1)[1]).read_bytes()
    if f"sha256:{sha256_hex(raw)}" != digest:
        raise ValueError(f"manifest blob does not hash to {digest}")
    return digest, json.loads(raw), blobs


def check(out: Path, wasm: Path) -> str:
    """Istio's compat-variant rules, plus: the bytes are our module. Returns the manifest digest."""
    digest, manifest, blobs = load_layout(out)
    if manifest.get("mediaType") == "application/vnd.docker.distribution.manifest.v2+json":
        raise ValueError("Docker schema 2 manifest: Istio would expect a Docker layer type")
    layers = manifest.get("layers") or []
    if not layers:
        raise ValueError("no layers (the fetcher needs at least one)")
    last = layers[-1]
    if last.get("mediaType") != LAYER_TYPE:
        raise ValueError(f"last layer is {last.get('mediaType')}, the fetcher expects {LAYER_TYPE}")
    blob = (blobs / last["digest"].split(":", 1)[1]).read_bytes()
    if f"sha256:{sha256_hex(blob)}" != last["digest"] or len(blob) != last["size"]:
        raise ValueError("layer blob does not match its descriptor")
    found = None
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob)), mode="r:") as tar:
        for member in tar:
            # Istio matches on filepath.Base(name) and takes the first hit.
            if os.path.basename(member.name) == WASM_FILE_NAME:
                extracted = tar.extractfile(member)
                found = extracted.read() if extracted else None
                break
    if found is None:
        raise ValueError(f"{WASM_FILE_NAME} not found in the last layer")
    if not found.startswith(WASM_MAGIC) or len(found) < 8:
        raise ValueError(f"{WASM_FILE_NAME} is not a Wasm binary (Istio's isValidWasmBinary)")
    if found != wasm.read_bytes():
        raise ValueError(f"{WASM_FILE_NAME} differs from {wasm}")
    return digest


def tls_flag(ref: str) -> str:
    host = ref.split("/", 1)[0]
    local = host.split(":", 1)[0] in ("127.0.0.1", "localhost", "[::1]")
    return "--dest-tls-verify=false" if local else "--dest-tls-verify=true"


def push(out: Path, ref: str, tag: str) -> str:
    if shutil.which("skopeo") is None:
        raise SystemExit("skopeo not found (Debian: apt-get install skopeo, or `make tools` as root)")
    if "/" not in ref:
        raise SystemExit(f"REGISTRY={ref}: expected host[:port]/name[:tag]")
    digest, _, _ = load_layout(out)
    digest_file = out.parent / f"{out.name}.pushed"
    cmd = ["skopeo", "copy", "--quiet", "--preserve-digests", tls_flag(ref),
           "--digestfile", str(digest_file), f"oci:{out}:{tag}", f"docker://{ref}"]
    subprocess.run(cmd, check=True)
    pushed = digest_file.read_text().strip()
    if pushed != digest:
        raise SystemExit(f"registry stored {pushed}, layout has {digest}")
    return digest


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("pack")
    a.add_argument("wasm", type=Path)
    a.add_argument("out", type=Path)
    a.add_argument("--tag", default="latest")
    b = sub.add_parser("push")
    b.add_argument("out", type=Path)
    b.add_argument("ref")
    b.add_argument("--tag", default="latest")
    c = sub.add_parser("check")
    c.add_argument("out", type=Path)
    c.add_argument("wasm", type=Path)
    args = p.parse_args()
    if args.cmd == "pack":
        print(pack(args.wasm, args.out, args.tag))
    elif args.cmd == "push":
        print(push(args.out, args.ref, args.tag))
    else:
        try:
            print(check(args.out, args.wasm))
        except (ValueError, OSError) as e:
            sys.exit(f"{args.out}: {e}")


if __name__ == "__main__":
    main()
