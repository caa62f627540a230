"""The pins in versions.toml, read once."""

from __future__ import annotations

import functools
import tomllib

from kflab import paths


@functools.cache
def pins() -> dict:
    with open(paths.VERSIONS, "rb") as fh:
        return tomllib.load(fh)


def crd_pin(kind: str) -> dict:
    """The pin of one upstream CRD, by its kind (`TrainJob`, `Notebook`...)."""
    crds = pins()["crds"]
    if kind not in crds:
        raise KeyError(f"versions.toml pins no CRD for kind {kind!r}; known: {', '.join(sorted(crds))}")
    return crds[kind]
