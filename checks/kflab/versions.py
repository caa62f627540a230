"""The pins in versions.toml, read once."""

from __future__ import annotations

import functools

from kflab import paths, tomlfile


@functools.cache
def pins() -> dict:
    return tomlfile.load(paths.VERSIONS)


def component(name: str) -> dict:
    """One `[components.NAME]` table: version, Go module, GitHub repo."""
    return pins()["components"][name]


def crd_pin(kind: str) -> dict:
    """Where one upstream CRD comes from: module, version, repo and path."""
    crds = pins()["crds"]
    if kind not in crds:
        raise KeyError(f"versions.toml pins no CRD for kind {kind!r}; known: {', '.join(sorted(crds))}")
    comp = component(crds[kind]["component"])
    return {"module": comp["module"], "version": comp["version"], "repo": comp.get("repo"), **crds[kind]}


def crd_kinds(group: str | None = None) -> list[str]:
    """Every pinned CRD kind, optionally only those of one component."""
    return [k for k, v in pins()["crds"].items() if group in (None, v["component"])]
