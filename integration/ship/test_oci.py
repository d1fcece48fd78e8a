"""The OCI image: reproducible, accepted by Istio's fetcher rules, and round-tripped through a
real registry (Debian's docker-registry on 127.0.0.1) with the digest the manifests pin."""

from __future__ import annotations

import gzip
import io
import json
import shutil
import socket
import subprocess
import tarfile
import time
import urllib.request
from pathlib import Path

import pytest

import check_manifests
import oci
import pin
from conftest import MANIFESTS, need_tool

REGISTRY_START_TIMEOUT = 15.0


def test_same_module_same_digest(tmp_path, wasm):
    a = oci.pack(wasm, tmp_path / "a" / "img", "0.1.0")
    time.sleep(1.1)  # a timestamp that leaked in anywhere would now differ
    b = oci.pack(wasm, tmp_path / "b" / "img", "0.1.0")
    assert a == b
    for blob in (tmp_path / "a" / "img" / "blobs" / "sha256").iterdir():
        assert blob.read_bytes() == (tmp_path / "b" / "img" / "blobs" / "sha256" / blob.name).read_bytes()
    other = tmp_path / "other.wasm"
    other.write_bytes(wasm.read_bytes() + b"\0")
    assert oci.pack(other, tmp_path / "c" / "img", "0.1.0") != a


def test_layout_follows_istio_fetcher_rules(tmp_path, wasm):
    out = tmp_path / "img"
    digest = oci.pack(wasm, out, "0.1.0")
    assert oci.check(out, wasm) == digest
    _, manifest, blobs = oci.load_layout(out)
    assert manifest["mediaType"] == oci.MANIFEST_TYPE
    (layer,) = manifest["layers"]
    raw = (blobs / layer["digest"].split(":")[1]).read_bytes()
    assert raw[4:8] == b"\0\0\0\0"  # gzip mtime 0
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(raw))) as tar:
        (member,) = tar.getmembers()
    assert (member.name, member.mtime, member.uid, member.gid) == ("plugin.wasm", 0, 0, 0)


def test_check_rejects_what_istio_would(tmp_path, wasm):
    out = tmp_path / "img"
    oci.pack(wasm, out, "0.1.0")
    not_wasm = tmp_path / "x.wasm"
    not_wasm.write_bytes(b"\0asm\1\0\0\0")
    with pytest.raises(ValueError, match="differs"):
        oci.check(out, not_wasm)
    # A layer without plugin.wasm.
    _, manifest, blobs = oci.load_layout(out)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("module.wasm")
        data = wasm.read_bytes()
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    layer = gzip.compress(buf.getvalue(), mtime=0)
    manifest["layers"][0].update(oci.write_blob(blobs, layer))
    desc = oci.write_blob(blobs, oci.canonical_json(manifest))
    index = json.loads((out / "index.json").read_text())
    index["manifests"][0].update(desc)
    (out / "index.json").write_text(json.dumps(index))
    with pytest.raises(ValueError, match="plugin.wasm not found"):
        oci.check(out, wasm)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def registry(tmp_path):
    binary = need_tool("docker-registry", "Debian: docker-registry, installed by `make tools` as root")
    port = free_port()
    storage = tmp_path / "registry"
    storage.mkdir()
    config = tmp_path / "registry.yml"
    config.write_text(json.dumps({  # JSON is YAML
        "version": 0.1,
        "log": {"level": "error", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(storage)}},
        "http": {"addr": f"127.0.0.1:{port}"},
    }))
    log = (tmp_path / "registry.log").open("w")
    proc = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + REGISTRY_START_TIMEOUT
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"docker-registry did not come up: {(tmp_path / 'registry.log').read_text()}")
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_push_pull_and_pin(tmp_path, wasm, registry):
    need_tool("skopeo", "Debian: skopeo, installed by `make tools` as root")
    layout = tmp_path / "dist" / "mesh-authz"
    digest = oci.pack(wasm, layout, "0.1.0")
    ref = f"{registry}/mesh/mesh-authz:0.1.0"
    assert oci.push(layout, ref, "0.1.0") == digest

    # What the registry serves is what Istio's fetcher resolves the tag to.
    req = urllib.request.Request(f"http://{registry}/v2/mesh/mesh-authz/manifests/0.1.0",
                                 headers={"Accept": oci.MANIFEST_TYPE}, method="HEAD")
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.headers["Docker-Content-Digest"] == digest
        assert resp.headers["Content-Type"] == oci.MANIFEST_TYPE

    pulled = tmp_path / "pulled"
    subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", "--preserve-digests",
                    f"docker://{ref}", f"oci:{pulled}:pulled"], check=True)
    assert oci.check(pulled, wasm) == digest  # layers per the fetcher rules, bytes are the module

    # The pin lands in the rendered WasmPlugin and TrafficExtension as Istio's sha256.
    root = tmp_path / "envoyfilter-manifests"
    shutil.copytree(MANIFESTS, root)
    pin.pin("test", f"oci://{ref}", digest, root)
    for path in ("overlays/test", "traffic-extension/test"):
        (ext,) = [d for d in check_manifests.kustomize(root / path) if d["kind"] in check_manifests.EXTENSION_KINDS]
        mod = check_manifests.extension_parts(ext)
        assert mod["url"] == f"oci://{ref}"
        assert f"sha256:{mod['sha256']}" == digest
        assert check_manifests.policy(ext) == []
    pin.pin("envoyfilter", f"oci://{ref}", digest, root)
    (ef,) = check_manifests.load_docs((root / "envoyfilter" / "envoyfilter.yaml").read_text())
    remote = ef["spec"]["configPatches"][0]["patch"]["value"]["typed_config"]["config"]["vm_config"]["code"]["remote"]
    assert (remote["http_uri"]["uri"], f"sha256:{remote['sha256']}") == (f"oci://{ref}", digest)


def test_checked_in_pins_are_well_formed():
    # The checked-in digests pin released images, not the module in this tree (which changes
    # with every commit); `make oci-push ... PIN=<env>` moves them. Here: only their shape.
    for env in ("test", "staging", "prod"):
        (doc,) = check_manifests.load_docs((MANIFESTS / "overlays" / env / "image.yaml").read_text())
        assert check_manifests.SHA256.match(doc["spec"]["sha256"]), env
        assert doc["spec"]["url"].startswith("oci://")
