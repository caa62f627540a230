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


class FolderError(RuntimeError):
    """A folder kflab writes to cannot be made or written; the message says which, and what to set."""


def writable(path: Path, what: str, variable: str) -> Path:
    """`path`, made if need be; a FolderError that names `variable` when that fails."""
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise unusable(path, what, variable, exc) from None
    return Path(path)


def unusable(path: Path, what: str, variable: str, exc: OSError) -> FolderError:
    return FolderError(f"cannot use {path} as kflab's {what} ({exc.strerror or exc}). Set {variable} to a folder "
                       "you can write to, then run the command again.")


def cache_dir(*parts: str) -> Path:
    """The user's cache folder for kflab (XDG), created on demand."""
    base = os.environ.get("KFLAB_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "kflab"
    )
    return writable(Path(base, *parts), "cache folder", "KFLAB_CACHE")


def state_dir() -> Path:
    """Per-checkout state (progress, hints, control-plane runtime); git-ignored."""
    return writable(Path(os.environ.get("KFLAB_STATE") or REPO / ".kflab"), "state folder", "KFLAB_STATE")
