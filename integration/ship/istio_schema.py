"""Check Kubernetes objects against Istio's CRD schemas the way a strict API server would.

Three things on top of a plain openAPIV3Schema check (shared/istio/README.md says why):
- unknown fields are errors: `additionalProperties: false` is added to every object schema that
  lists `properties` and does not say `x-kubernetes-preserve-unknown-fields`;
- the CEL rules (`x-kubernetes-validations`) are re-implemented below, one function per rule
  text; a rule that applies to the object but has no implementation is an error, so a new CRD
  version cannot make the check pass silently;
- list-map keys (`x-kubernetes-list-type: map`) must be unique.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import yaml

OBJECT_META_KEYS = {"name", "namespace", "labels", "annotations"}
# libyaml when PyYAML has it (the CRD files are ~1 MB each), else the pure-Python loader.
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _strict(schema: object) -> object:
    """OpenAPI v3 (Kubernetes flavour) to JSON Schema, closing every object that lists properties."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) if k not in ("properties", "additionalProperties") else v for k, v in schema.items()}
    if "properties" in schema:
        out["properties"] = {k: _strict(v) for k, v in schema["properties"].items()}
        if not schema.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    if isinstance(schema.get("additionalProperties"), dict):
        out["additionalProperties"] = _strict(schema["additionalProperties"])
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if schema.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


class Schemas:
    """The CRDs of one crd-all.gen.yaml, by (group/version, kind). `Schemas.of(path)` shares one
    per file within a process."""

    _loaded: dict[Path, "Schemas"] = {}

    @classmethod
    def of(cls, path: Path) -> "Schemas":
        key = path.resolve()
        if key not in cls._loaded:
            cls._loaded[key] = cls(path)
        return cls._loaded[key]

    def __init__(self, path: Path):
        self.path = path
        self.raw: dict[tuple[str, str], dict] = {}
        for doc in yaml.load_all(path.read_text(), Loader=YAML_LOADER):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for version in spec["versions"]:
                if version.get("served"):
                    key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                    self.raw[key] = version["schema"]["openAPIV3Schema"]
        self._validators: dict[tuple[str, str], jsonschema.Draft7Validator] = {}

    def validate(self, obj: object) -> list[str]:
        if not isinstance(obj, dict):
            return ["not a mapping"]
        key = (str(obj.get("apiVersion")), str(obj.get("kind")))
        raw = self.raw.get(key)
        if raw is None:
            return [f"{key[0]} {key[1]}: no such served kind in {self.path.name}"]
        if key not in self._validators:
            schema = _strict(copy.deepcopy(raw))
            # metadata is `type: object` in CRDs; checked by _metadata instead.
            schema["properties"]["metadata"] = {"type": "object"}
            schema["properties"].setdefault("apiVersion", {"type": "string"})
            schema["properties"].setdefault("kind", {"type": "string"})
            self._validators[key] = jsonschema.Draft7Validator(schema)
        errors = [f"{_where(e.absolute_path)}: {e.message}" for e in self._validators[key].iter_errors(obj)]
        errors += _metadata(obj.get("metadata"))
        errors += _cel_and_lists(raw, obj, "")
        return errors


def _where(path) -> str:
    return "." + ".".join(str(p) for p in path) if path else "(root)"


def _metadata(meta: object) -> list[str]:
    if not isinstance(meta, dict):
        return ["metadata: missing"]
    errors = [f"metadata.{k}: unknown or server-set field" for k in meta if k not in OBJECT_META_KEYS]
    for field in ("name", "namespace"):
        value = meta.get(field)
        if not isinstance(value, str) or not DNS_LABEL.match(value) or len(value) > 63:
            errors.append(f"metadata.{field}: {value!r} is not a DNS label (namespaced Istio objects need both)")
    for field in ("labels", "annotations"):
        value = meta.get(field, {})
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            errors.append(f"metadata.{field}: values must be strings (quote \"true\" and numbers)")
    return errors


# --- CEL rules ---------------------------------------------------------------------------------

_GO_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")
_DURATION_UNIT = {"ns": 1e-6, "us": 1e-3, "µs": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def _duration_ms(text: object) -> float | None:
    if not isinstance(text, str) or not _GO_DURATION.match(text):
        return None
    return sum(float(n) * _DURATION_UNIT[u] for n, _, u in re.findall(r"(\d+(\.\d+)?)(ns|us|µs|ms|s|m|h)", text))


def _has(obj: object, field: str) -> bool:
    return isinstance(obj, dict) and field in obj


def _url_scheme_ok(value: object, allowed: list[str]) -> bool:
    if not isinstance(value, str):
        return False
    text = value if "://" in value else "http://" + value
    parts = urlsplit(text)
    return parts.scheme in allowed and bool(parts.netloc or parts.path)


def _rule(rule: str):
    """The Python form of a CEL rule text, or None when it has none yet."""
    text = " ".join(rule.split())
    m = re.fullmatch(r"((\(has\(self\.\w+\) \? 1 : 0\))( \+ )?)+ <= 1", text)
    if m:
        fields = re.findall(r"has\(self\.(\w+)\)", text)
        return lambda s: sum(_has(s, f) for f in fields) <= 1
    m = re.fullmatch(r"has\(self\.(\w+)\) != has\(self\.(\w+)\)", text)
    if m:
        return lambda s: _has(s, m.group(1)) != _has(s, m.group(2))
    m = re.fullmatch(r"isURL\(self\) \? \(url\(self\)\.getScheme\(\) in \[(.*?)\]\) : .*", text)
    if m:
        allowed = [a.strip().strip('"') for a in m.group(1).split(",")]
        return lambda s: _url_scheme_ok(s, allowed)
    fixed = {
        'self.all(key, !key.contains("*"))': lambda s: all("*" not in k for k in s),
        'self.all(key, key.size() != 0)': lambda s: all(len(k) for k in s),
        '!self.contains("*")': lambda s: "*" not in s,
        "self.size() == 0": lambda s: len(s) == 0,
        "duration(self) >= duration('1ms')": lambda s: (_duration_ms(s) or 0) >= 1,
        "0 < self && self <= 65535": lambda s: isinstance(s, int) and 0 < s <= 65535,
        '(has(self.valueFrom) ? self.valueFrom : "") != "HOST" || !has(self.value)':
            lambda s: s.get("valueFrom", "") != "HOST" or "value" not in s,
        'has(self.context) ? ((self.context == "WAYPOINT") ? has(self.waypoint) : !has(self.waypoint)) : !has(self.waypoint)':
            lambda s: (("waypoint" in s) if s.get("context") == "WAYPOINT" else ("waypoint" not in s)),
        # ServiceEntry
        'self != "*"': lambda s: s != "*",
        "self.all(l1, self.exists_one(l2, l1.number == l2.number))":
            lambda s: all(sum(p["number"] == q["number"] for q in s) == 1 for p in s),
        '!((has(self.addresses) ? self.addresses : []).exists(k, k.contains("/")) && '
        '!((has(self.resolution) ? self.resolution : "NONE") in ["STATIC", "NONE"]))':
            lambda s: not (any("/" in a for a in s.get("addresses", []))
                           and s.get("resolution", "NONE") not in ("STATIC", "NONE")),
        '((has(self.resolution) ? self.resolution : "NONE") == "NONE") ? !has(self.endpoints) : true':
            lambda s: s.get("resolution", "NONE") != "NONE" or "endpoints" not in s,
        '((has(self.resolution) ? self.resolution : "") == "DNS_ROUND_ROBIN") ? '
        '((has(self.endpoints) ? self.endpoints : []).size() <= 1) : true':
            lambda s: s.get("resolution", "") != "DNS_ROUND_ROBIN" or len(s.get("endpoints", [])) <= 1,
    }
    return fixed.get(text)


def _cel_and_lists(schema: object, value: object, where: str) -> list[str]:
    if not isinstance(schema, dict):
        return []
    errors = []
    for rule in schema.get("x-kubernetes-validations", []):
        check = _rule(rule["rule"])
        if check is None:
            errors.append(f"{where or '(root)'}: CEL rule not implemented by this checker: {rule['rule']!r}")
            continue
        try:
            ok = check(value)
        except (TypeError, AttributeError, KeyError):
            ok = False
        if not ok:
            errors.append(f"{where or '(root)'}: {rule.get('message') or rule['rule']}")
    if isinstance(value, dict):
        for key, sub in value.items():
            if key in schema.get("properties", {}):
                errors += _cel_and_lists(schema["properties"][key], sub, f"{where}.{key}")
            elif isinstance(schema.get("additionalProperties"), dict):
                errors += _cel_and_lists(schema["additionalProperties"], sub, f"{where}.{key}")
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        keys = schema.get("x-kubernetes-list-map-keys") if schema.get("x-kubernetes-list-type") == "map" else None
        seen = set()
        for i, item in enumerate(value):
            errors += _cel_and_lists(schema["items"], item, f"{where}[{i}]")
            if keys and isinstance(item, dict):
                ident = tuple(repr(item.get(k)) for k in keys)
                if ident in seen:
                    errors.append(f"{where}[{i}]: duplicate list-map key {dict(zip(keys, ident))}")
                seen.add(ident)
    return errors
