"""Read a TOML file: with tomllib from Python 3.11 on, or with tomli, the same parser, on 3.10.

The course needs Python 3.11. Only scripts/gpu_check.sh may meet an older python3: a bare GPU
machine's. There pytest itself depends on tomli, so the gpu check's harness still loads.
"""

from __future__ import annotations

from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


def load(path: str | Path) -> dict:
    with open(path, "rb") as fh:
        return tomllib.load(fh)
