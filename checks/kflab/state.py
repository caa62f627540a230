"""The learner's state file: check results for `kflab status`, hints shown.

It lives in .kflab/ (git-ignored) and says at its top not to edit it. Writes are
atomic, so an interrupted run never leaves half a file.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from kflab import paths

NOTE = "Written by kflab after each check run and hint. Don't edit it: `kflab status` reads it, and a check run rewrites it."


def _file() -> Path:
    return paths.state_dir() / "state.json"


def _count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _well_formed(data) -> bool:
    """The shape kflab writes: labs maps ids to run summaries with counts, hints maps ids to counts."""
    if not isinstance(data, dict):
        return False
    labs, hints = data.get("labs", {}), data.get("hints", {})
    return (isinstance(labs, dict) and isinstance(hints, dict) and all(map(_count, hints.values()))
            and all(isinstance(r, dict) and all(_count(r.get(k, 0)) for k in ("passed", "failed", "skipped"))
                    for r in labs.values()))


def _set_aside(path: Path, why: str) -> None:
    """Keep an unreadable state file beside the new one, and say so once."""
    kept = path.with_name(f"{path.name}.broken")
    try:
        os.replace(path, kept)
        where = f"it is kept as {kept.name}"
    except OSError:
        where = "it could not be moved aside"
    print(f"kflab: {path} {why}, so kflab starts a fresh one ({where}). Progress and hints count from zero; "
          "run `kflab check` to record your results again.", file=sys.stderr)


def load() -> dict:
    """The state, or a fresh one when the file is missing or unreadable (it is set aside, never silently lost)."""
    path = _file()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        data = {}
    except (OSError, ValueError) as exc:
        _set_aside(path, "is not readable JSON" if isinstance(exc, ValueError) else f"cannot be read ({exc.strerror})")
        data = {}
    if not _well_formed(data):
        _set_aside(path, "is not in the shape kflab writes (was it edited?)")
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
    try:
        write_json(_file(), {"_note": NOTE, **{k: v for k, v in data.items() if k != "_note"}})
    except OSError as exc:  # a read-only .kflab/, a full disk
        raise paths.unusable(_file().parent, "state folder", "KFLAB_STATE", exc) from None


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
