"""Where things live: the repo, the user's cache, the course state.

Every other module asks here instead of building paths of its own.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LABS = REPO / "labs"
SOLUTIONS = REPO / "solutions"
CHECKS = REPO / "checks"
DOCS = REPO / "docs"
REGISTRY = LABS / "labs.toml"
VERSIONS = REPO / "versions.toml"


def cache_dir(*parts: str) -> Path:
    """The user's cache folder for kflab (XDG), created on demand."""
    base = os.environ.get("KFLAB_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "kflab"
    )
    path = Path(base, *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def state_dir() -> Path:
    """Per-checkout state (progress, hints, control-plane runtime); git-ignored."""
    path = Path(os.environ.get("KFLAB_STATE") or REPO / ".kflab")
    path.mkdir(parents=True, exist_ok=True)
    return path
