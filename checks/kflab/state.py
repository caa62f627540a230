"""The learner's state file: check results for `kflab status`, hints shown.

It lives in .kflab/ (git-ignored) and says at its top not to edit it. Writes are
atomic, so an interrupted run never leaves half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from kflab import paths

NOTE = "Written by kflab after each check run and hint. Don't edit it: `kflab status` reads it, and a check run rewrites it."


def _file() -> Path:
    return paths.state_dir() / "state.json"


def load() -> dict:
    try:
        data = json.loads(_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    data.setdefault("labs", {})
    data.setdefault("hints", {})
    return data


def write_json(path: Path, data: dict) -> None:
    """Write JSON atomically: a temporary file in the same folder, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save(data: dict) -> None:
    write_json(_file(), {"_note": NOTE, **{k: v for k, v in data.items() if k != "_note"}})


def record_results(labs: dict[str, dict]) -> None:
    """Merge one run's per-lab results into the state."""
    data = load()
    data["labs"].update(labs)
    save(data)


def forget_results(lab_id: str) -> None:
    """Drop a lab's recorded results (after `kflab reset`, its old verdict no longer holds)."""
    data = load()
    if data["labs"].pop(lab_id, None) is not None:
        save(data)


def reveal_hint(lab_id: str, count: int, show_all: bool) -> int:
    """Reveal one more hint (or all); returns how many are now revealed."""
    data = load()
    shown = count if show_all else min(int(data["hints"].get(lab_id, 0)) + 1, count)
    data["hints"][lab_id] = shown
    save(data)
    return shown
