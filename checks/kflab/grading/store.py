"""One result file per submission, written atomically and keyed by what was graded.

The key hashes the submission's content together with the checks (the lab's
check modules, their registry entries, the harness) and the grading options. A
second run skips every submission whose file holds the same key; the outputs are
always rebuilt from these files, so a grader killed mid-run loses nothing that
had finished.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from pathlib import Path

from kflab import paths
from kflab.registry import Lab


def checks_key(labs: list[Lab], options: dict) -> str:
    """A hash of the checks of `labs`, their registry entries, the grader and the options.

    The rest of the harness is checked per result (`harness_hashes`): only the
    modules a run imported, so an edit elsewhere in kflab regrades nobody.
    """
    digest = hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode())
    files = [lab.check_file for lab in labs if lab.check_file.exists()]
    files += sorted(Path(__file__).parent.glob("*.py")) + [paths.CHECKS / "conftest.py"]
    for lab in labs:
        digest.update(repr(dataclasses.astuple(lab)).encode())
    for path in files:
        digest.update(str(path.relative_to(paths.REPO)).encode() + b"\0")
        digest.update(path.read_bytes() if path.exists() else b"")
    return digest.hexdigest()


def harness_hashes(files: set[str] | None) -> dict[str, str]:
    """{file: sha256} for the harness modules a grading used (all of kflab when a run never finished)."""
    if files is None:
        files = {str(p) for p in (paths.CHECKS / "kflab").rglob("*.py")}
    return {f: _sha(Path(f)) for f in sorted(files)}


def _sha(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "absent"


def lab_ids(row: dict) -> list[str]:
    """The labs a stored row was graded for, in its order (the keys of its `labs`)."""
    labs = row.get("labs")
    return list(labs) if isinstance(labs, dict) else []


class Store:
    """`OUT/results/NAME.json` per submission and `OUT/logs/NAME.log` beside it."""

    def __init__(self, out: Path):
        self.out = Path(out)
        self.results = self.out / "results"
        self.logs = self.out / "logs"

    def path(self, name: str) -> Path:
        return self.results / f"{name}.json"

    def load(self, name: str) -> dict | None:
        try:
            data = json.loads(self.path(name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # absent, or a file a crash left unreadable: grade it again
        return data if isinstance(data, dict) and "key" in data else None

    def up_to_date(self, name: str, key: str) -> bool:
        found = self.load(name)
        if found is None or found["key"] != key:
            return False
        return all(_sha(Path(f)) == h for f, h in found.get("harness", {}).items())

    def save(self, name: str, key: str, result: dict, log: str) -> None:
        write_text(self.logs / f"{name}.log", log)  # first the log, so a saved result always has one
        write_text(self.path(name), json.dumps({**result, "key": key}, indent=2) + "\n")  # keeps checkpoint order


def write_text(path: Path, text: str) -> None:
    """Write text atomically (a temporary file in the same folder, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
