"""Kind's cluster config (kind.x-k8s.io/v1alpha4), checked the way Kind reads it.

The allowed fields are not typed in by hand: they come from Kind's own Go types
(`pkg/apis/config/v1alpha4/types.go`) at the pinned Kind version, fetched through
the Go module proxy. Kind decodes a config with go-yaml's KnownFields(true), so a
field its structs do not declare is an error, and so it is here. The parsed schema
is cached beside the fetched file.
"""

from __future__ import annotations

import difflib
import functools
import json
import re

from kflab import upstream, versions

MODULE = "sigs.k8s.io/kind"
TYPES = "pkg/apis/config/v1alpha4/types.go"
API_VERSION = "kind.x-k8s.io/v1alpha4"
# Kind validates these named string types against their constants (Node.Validate);
# the others (proxy mode, protocol...) accept values the v1alpha4 constants omit.
ENFORCED_ENUMS = {"NodeRole"}
SCALARS = {"string": str, "bool": bool, "int32": int, "int64": int, "int": int}

_STRUCT = re.compile(r"^type (\w+) struct \{\n(.*?)^\}", re.S | re.M)
_NAMED = re.compile(r"^type (\w+) (string|bool|int32)$", re.M)
_CONST = re.compile(r"^\s*\w+\s+(\w+)\s*=\s*\"([^\"]*)\"", re.M)
_FIELD = re.compile(r"^\s*(\w+)(?:\s+([^\s`]+))?\s+`([^`]*)`\s*$")
_TAG = re.compile(r'(\w+):"([^"]*)"')


def parse_types(source: str) -> dict:
    """Go source -> {"structs": {Name: {field: type}}, "named": {Name: base}, "enums": {Name: [values]}}.

    The field names are the YAML keys Kind's decoder accepts (`yaml:` tags, `json:`
    when a field has no yaml tag); `,inline` embeds another struct's fields.
    """
    source = re.sub(r"/\*.*?\*/", "", source, flags=re.S)
    source = re.sub(r"//[^\n]*", "", source)
    raw = {}
    for name, body in _STRUCT.findall(source):
        fields = []
        for line in body.splitlines():
            match = _FIELD.match(line)
            if match:
                go_name, go_type, tag = match.groups()
                tags = dict(_TAG.findall(tag))
                key, _, opts = (tags.get("yaml") or tags.get("json") or "").partition(",")
                fields.append((key, go_type or go_name, "inline" in opts))
        raw[name] = fields

    def flatten(name: str) -> dict:
        out = {}
        for key, go_type, inline in raw[name]:
            if inline:
                out.update(flatten(go_type.lstrip("*")))
            elif key and key != "-":
                out[key] = go_type
        return out

    enums: dict[str, list[str]] = {}
    for type_name, value in _CONST.findall(source):
        enums.setdefault(type_name, []).append(value)
    return {"structs": {name: flatten(name) for name in raw},
            "named": dict(_NAMED.findall(source)), "enums": enums}


@functools.cache
def schema() -> dict:
    """The v1alpha4 schema at the pinned Kind version (fetched and parsed once, then cached)."""
    version = versions.pins()["kind"]["version"]
    source = upstream.module_file(MODULE, version, TYPES, repo="kubernetes-sigs/kind")
    cached = source.with_suffix(".schema.json")
    if cached.exists() and cached.stat().st_mtime >= source.stat().st_mtime:
        return json.loads(cached.read_text())
    parsed = parse_types(source.read_text())
    cached.write_text(json.dumps(parsed, indent=1, sort_keys=True))
    return parsed


def _type_name(value) -> str:
    return {bool: "true/false", int: "a number", str: "text", list: "a list", dict: "a mapping"}.get(type(value), type(value).__name__)


def problems(config, types: dict | None = None) -> list[str]:
    """Every way `config` (parsed YAML) breaks Kind's v1alpha4 types, as sentences.

    Like Kind, it first reads `kind` and `apiVersion`, then decodes strictly.
    """
    if not isinstance(config, dict):
        return ["the file should hold one mapping (`kind: Cluster` ...), not a list or a scalar"]
    if config.get("apiVersion") != API_VERSION or config.get("kind") != "Cluster":
        return [f"the config must say `kind: Cluster` and `apiVersion: {API_VERSION}` "
                f"(it says kind={config.get('kind')!r}, apiVersion={config.get('apiVersion')!r})"]
    found: list[str] = []
    _walk(config, "Cluster", "", types or schema(), found)
    return found


def _walk(value, go_type: str, where: str, types: dict, found: list[str]) -> None:
    here = where or "(top level)"
    go_type = go_type.lstrip("*")
    if go_type.startswith("[]"):
        if not isinstance(value, list):
            found.append(f"{here}: should be a list, but is {_type_name(value)}")
            return
        for i, item in enumerate(value):
            _walk(item, go_type[2:], f"{where}[{i}]", types, found)
    elif go_type.startswith("map["):
        if not isinstance(value, dict):
            found.append(f"{here}: should be a mapping (key: value), but is {_type_name(value)}")
            return
        for key, item in value.items():
            _walk(item, go_type.split("]", 1)[1], f"{where}.{key}", types, found)
    elif go_type in types["structs"]:
        fields = types["structs"][go_type]
        if not isinstance(value, dict):
            found.append(f"{here}: should be a mapping of {go_type} fields, but is {_type_name(value)}")
            return
        for key, item in value.items():
            if key not in fields:
                close = difflib.get_close_matches(str(key), fields, n=1)
                advice = f"did you mean {close[0]!r}?" if close else "Kind knows: " + ", ".join(sorted(fields))
                found.append(f"{where + '.' if where else ''}{key}: Kind has no field {key!r} in a {go_type} ({advice})")
            else:
                _walk(item, fields[key], f"{where}.{key}" if where else key, types, found)
    else:
        _scalar(value, go_type, here, types, found)


def _scalar(value, go_type: str, here: str, types: dict, found: list[str]) -> None:
    base = types["named"].get(go_type, go_type)
    wanted = SCALARS.get(base)
    if wanted is None:
        return
    if wanted is str:
        # go-yaml puts any scalar into a string field; only lists and mappings break it.
        ok = not isinstance(value, (list, dict))
    else:
        ok = isinstance(value, wanted) and (wanted is bool or not isinstance(value, bool))
    if not ok:
        found.append(f"{here}: should be {_type_name(wanted())}, but is {value!r}")
    elif go_type in ENFORCED_ENUMS and str(value) not in types["enums"].get(go_type, []):
        found.append(f"{here}: {value!r} is not one of {', '.join(types['enums'][go_type])}")
