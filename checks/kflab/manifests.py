"""Strict, offline validation of Kubernetes manifests.

Core kinds go through kubernetes-validate in strict mode (unknown fields are
errors). Custom resources go through the `openAPIV3Schema` of their pinned
upstream CRD, made strict the way the API server prunes: an object that lists
its properties accepts no others unless it says `x-kubernetes-preserve-unknown-fields`.
Every problem comes back as a sentence that names the field's path.
"""

from __future__ import annotations

import copy
import difflib
import functools

from kflab import upstream, versions

KUBERNETES = versions.pins()["controlplane"]["kubernetes"].lstrip("v").rsplit(".", 1)[0] + ".0"

# Root metadata of any object: ObjectMeta's fields a manifest may set.
OBJECT_META = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string"},
        "generateName": {"type": "string"},
        "namespace": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        "finalizers": {"type": "array", "items": {"type": "string"}},
    },
}


def _strict(node):
    """openAPIV3Schema -> JSON Schema with the API server's structural rules."""
    if isinstance(node, list):
        return [_strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strict(v) for k, v in node.items() if not k.startswith("x-kubernetes-") and k != "nullable"}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if "properties" in node and "additionalProperties" not in node and not node.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


@functools.cache
def _crds_by_group_kind() -> dict[tuple[str, str], dict]:
    import yaml

    # libyaml's loader when present: the pinned CRDs are megabytes of YAML, and the
    # pure-Python loader spends seconds on them in every check run.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    found = {}
    for kind in versions.crd_kinds():
        for doc in yaml.load_all(upstream.crd_file(kind).read_text(), Loader=loader):
            if doc and doc.get("kind") == "CustomResourceDefinition":
                spec = doc["spec"]
                found[(spec["group"], spec["names"]["kind"])] = doc
    return found


@functools.cache
def _crd_validator(group: str, kind: str, version: str):
    import jsonschema

    crd = _crds_by_group_kind().get((group, kind))
    if crd is None:
        return None
    for v in crd["spec"]["versions"]:
        if v["name"] == version and v.get("served", True):
            schema = _strict(copy.deepcopy(v.get("schema", {}).get("openAPIV3Schema", {"type": "object"})))
            schema.setdefault("properties", {})["metadata"] = OBJECT_META
            return jsonschema.Draft7Validator(schema)
    served = [v["name"] for v in crd["spec"]["versions"] if v.get("served", True)]
    raise LookupError(f"{kind} is served as {', '.join(group + '/' + s for s in served)}, not {group}/{version}")


def _path(error) -> str:
    out = ""
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _sentence(error, kind: str) -> str:
    if error.validator == "additionalProperties" and error.validator_value is False:
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        close = difflib.get_close_matches(extra[0], allowed, n=1) if extra else []
        advice = f"did you mean {close[0]!r}?" if close else "allowed here: " + ", ".join(allowed[:12]) + (" …" if len(allowed) > 12 else "")
        return f"{_path(error)}: unknown field {', '.join(map(repr, extra))} in {'an' if kind[:1] in 'AEIOU' else 'a'} {kind} ({advice})"
    if error.validator == "required":
        return f"{_path(error)}: {error.message}"
    return f"{_path(error)}: {error.message}"


def crd_problems(obj: dict) -> list[str] | None:
    """Problems against the pinned upstream CRD, or None if no pinned CRD defines the kind."""
    group, _, version = obj.get("apiVersion", "").rpartition("/")
    try:
        validator = _crd_validator(group, obj.get("kind", ""), version)
    except LookupError as exc:
        return [str(exc)]
    if validator is None:
        return None
    errors = sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))
    return [_sentence(e, obj["kind"]) for e in errors]


def core_problems(obj: dict) -> list[str] | None:
    """Problems from kubernetes-validate (strict), or None if it has no schema for the kind."""
    import kubernetes_validate as kv

    try:
        kv.validate(obj, KUBERNETES, strict=True)
    except kv.SchemaNotFoundError:
        return None
    except kv.ValidationError as exc:  # carries the first jsonschema error's fields
        return [_sentence(exc, obj["kind"])]
    return []


def as_list(value) -> list:
    """A manifest list, or [] when the field holds something else (the schema check reports that)."""
    return value if isinstance(value, list) else []


def as_dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def name_of(doc) -> str | None:
    """metadata.name of a manifest, or None when it has none (or no metadata mapping)."""
    return as_dict(doc.get("metadata")).get("name") if isinstance(doc, dict) else None


def quantity(value):
    """A Kubernetes quantity ("500m", "2Gi", 4) as a Decimal, by the Kubernetes client's own parser; None if it is not one."""
    from kubernetes.utils.quantity import parse_quantity

    if isinstance(value, str) and any(c.isspace() for c in value):  # the client tolerates "4 Gi"; the API server does not
        return None
    try:
        return parse_quantity(value)
    except (ValueError, TypeError, ArithmeticError):
        return None


def first_problem(docs: list) -> str | None:
    """The first schema problem among a file's documents, as "Kind name: problem", or None.

    Cluster fixtures ask this before they apply a file, so that a malformed object reads as a
    sentence rather than a KeyError in the harness.
    """
    for doc in docs:
        found = problems(doc)
        if found:
            kind = doc.get("kind", "object") if isinstance(doc, dict) else "object"
            return f"{kind} {name_of(doc) or '(no name)'}: {found[0]}"
    return None


RBAC_GROUP = "rbac.authorization.k8s.io"


def subject_problems(binding: dict) -> list[str]:
    """What the API server's RBAC validation refuses in a binding's subjects, which no schema checks.

    Kubernetes' rules: kind is exactly User, Group or ServiceAccount; a ServiceAccount has
    no apiGroup; a User or Group has apiGroup rbac.authorization.k8s.io (v1 fills it in when empty).
    """
    found = []
    for i, subject in enumerate(as_list(binding.get("subjects"))):
        subject, where = as_dict(subject), f"subjects[{i}]"
        kind, group = subject.get("kind"), subject.get("apiGroup") or ""
        if kind not in ("User", "Group", "ServiceAccount"):
            found.append(f"{where}.kind is {kind!r}; it must be exactly User, Group or ServiceAccount (case-sensitive)")
        elif kind == "ServiceAccount" and group:
            found.append(f"{where} is a ServiceAccount with apiGroup {group!r}; a ServiceAccount (a core object) "
                         "takes no apiGroup, so remove that line")
        elif kind != "ServiceAccount" and group not in ("", RBAC_GROUP):
            found.append(f"{where} is a {kind} with apiGroup {group!r}; a {kind} takes apiGroup {RBAC_GROUP}")
    return found


def expect_valid(obj: dict, name: str, schema: str, advice: str) -> None:
    """A CheckFailure listing what the pinned `schema` refuses in `obj`, then `advice`; nothing when it is valid."""
    from kflab.failures import expect

    found = problems(obj)
    expect(not found, f"{name} does not match the pinned {schema} schema:\n  - " + "\n  - ".join(found[:8]) + "\n" + advice)


def problems(obj: dict) -> list[str]:
    """Every schema problem of one manifest, as sentences; empty when it is valid."""
    if not isinstance(obj, dict) or not obj.get("apiVersion") or not obj.get("kind"):
        return ["every object needs `apiVersion` and `kind`"]
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        return [f"the {obj['kind']}'s metadata is {'empty' if metadata is None else 'not a mapping'}: "
                "indent `name:` (and the other fields) under `metadata:`"]
    if not metadata.get("name") and not metadata.get("generateName"):
        return [f"the {obj['kind']} has no metadata.name"]
    for check in (crd_problems, core_problems):
        found = check(obj)
        if found is not None:
            return found
    return [f"{obj['apiVersion']} {obj['kind']} is neither a core Kubernetes kind nor a CRD this course pins (see versions.toml)"]
