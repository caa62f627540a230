"""A fresh box per submission: its lab folders copied in, and nothing that could change the checks.

Only the selected labs' folders are copied, so a submission's `checks/` folder or
root `conftest.py` never reaches the run; they are reported. Inside the lab
folders, `conftest.py` files and `checks/` folders are left out and reported too.
Links are copied only when they stay inside the lab folder; a link that leads out
(to /etc/passwd, to the instructor's solutions) is skipped and reported.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import stat
from pathlib import Path

from kflab import paths
from kflab.registry import Lab

SKIPPED_DIRS = {"__pycache__", ".git", ".ipynb_checkpoints", ".pytest_cache", ".venv", "node_modules", ".kflab"}
IGNORED = ("checks", "conftest.py")  # what could change the checks if it were loaded
MAX_FILES = 10_000


@dataclasses.dataclass
class Box:
    """The temporary folder a submission runs in; everything it may write is below `root`."""

    root: Path

    @property
    def labs(self) -> Path:
        return self.root / "labs"

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def sandbox_config(self) -> Path:
        return self.run / "sandbox.json"

    @property
    def isolation_report(self) -> Path:
        return self.run / "isolation.jsonl"

    def isolation(self) -> dict:
        """What the sandbox wrapper reported it achieved (its JSON lines, merged); empty if it wrote none."""
        facts = {}
        try:
            for line in self.isolation_report.read_text(encoding="utf-8").splitlines():
                facts.update(json.loads(line))
        except (OSError, ValueError):
            pass
        return facts

    @classmethod
    def make(cls, parent: Path) -> Box:
        box = cls(Path(parent) / "box")
        for folder in (box.labs, box.home, box.tmp, box.run):
            folder.mkdir(parents=True, exist_ok=True)
        return box


class TooBig(ValueError):
    """The submission is larger than the limit."""


def copy_labs(root: Path, labs: list[Lab], dest: Path, sub_root: Path, max_bytes: int) -> tuple[list[str], list[str]]:
    """Copy each lab's folder from the labs root `root` into `dest`; returns (missing lab ids, notes)."""
    missing, notes, budget = [], [], [max_bytes, MAX_FILES]
    outer = Path(sub_root).resolve()
    for lab in labs:
        src = lab.dir(root)
        if src.is_symlink() and not src.resolve().is_relative_to(outer):
            notes.append(f"skipped {lab.folder}: a link that leads outside the submission")
            missing.append(lab.id)
        elif not src.is_dir():
            missing.append(lab.id)
        elif not src.resolve().is_relative_to(outer):
            notes.append(f"skipped {lab.folder}: it lies behind a link that leads outside the submission")
            missing.append(lab.id)
        else:
            _copy_tree(src.resolve(), lab.dir(dest), lab.folder, notes, budget)
    return missing, notes


def _copy_tree(src: Path, dst: Path, shown: str, notes: list[str], budget: list[int]) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for dirpath, dirnames, filenames in os.walk(src):  # never follows links to folders
        here = Path(dirpath)
        rel = here.relative_to(src)
        for name in sorted(dirnames):
            if name in SKIPPED_DIRS or name == "checks" or (here / name).is_symlink():
                dirnames.remove(name)
                if name != "checks" and (here / name).is_symlink():  # scan_ignored reports checks/
                    notes.append(f"skipped {shown}/{rel / name}/: a link to a folder")
            else:
                (dst / rel / name).mkdir(exist_ok=True)
        for name in filenames:
            path, shown_path = here / name, f"{shown}/{rel / name}"
            if name == "conftest.py":  # scan_ignored reports it
                continue
            target = path.resolve() if path.is_symlink() else path
            if path.is_symlink() and not target.is_relative_to(src):
                notes.append(f"skipped {shown_path}: a link to {os.readlink(path)}, outside the lab folder")
                continue
            try:
                info = target.stat()
            except OSError:
                notes.append(f"skipped {shown_path}: a broken link")
                continue
            if not stat.S_ISREG(info.st_mode):
                notes.append(f"skipped {shown_path}: not a regular file")
                continue
            budget[0] -= info.st_size
            budget[1] -= 1
            if budget[0] < 0 or budget[1] < 0:
                raise TooBig(f"the lab folders hold more than the limit ({MAX_FILES} files or the size cap); nothing was graded")
            shutil.copyfile(target, dst / rel / name)


def scan_ignored(sub_root: Path, limit: int = 10) -> list[str]:
    """`checks/` folders and `conftest.py` files anywhere in the submission (none of them is used)."""
    found, seen = [], 0
    for dirpath, dirnames, filenames in os.walk(sub_root):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if d not in SKIPPED_DIRS]
        found += [str((here / d).relative_to(sub_root)) + "/" for d in dirnames if d == "checks"]
        found += [str((here / f).relative_to(sub_root)) for f in filenames if f == "conftest.py"]
        seen += len(filenames) + len(dirnames)
        if len(found) > limit or seen > 10 * MAX_FILES:  # a report, not an inventory
            break
    if not found:
        return []
    listed = ", ".join(sorted(found)[:limit]) + (" ..." if len(found) > limit else "")
    return [f"ignored what the submission holds in checks/ folders and conftest.py files ({listed}): "
            "grading always uses the instructor's own checks"]


# Words that no lab's code needs: code that holds one may be reaching into pytest or the grader.
TAMPERING = ("_pytest", "pytest_", "TestReport", "KFLAB_GRADE", "kflab.grading", "import pytest", "from pytest")


def scan_tampering(labs_dir: Path, limit: int = 5) -> list[str]:
    """The copied files that mention pytest's or the grader's internals, for the instructor to read."""
    found = []
    for path in sorted(labs_dir.rglob("*")):
        if path.suffix not in (".py", ".ipynb") or not path.is_file() or path.is_symlink():
            continue
        text = path.read_bytes()[:1 << 20].decode("utf-8", "replace")
        words = [w for w in TAMPERING if w in text]
        if words:
            found.append(f"labs/{path.relative_to(labs_dir)} ({', '.join(words)})")
    if not found:
        return []
    listed = ", ".join(found[:limit]) + (" ..." if len(found) > limit else "")
    return [f"code that mentions pytest's or the grader's internals, which no lab needs: {listed}. "
            "Code imported into the checks can change their verdicts; read it before you trust this grade"]


def environment(box: Box, network: bool) -> dict[str, str]:
    """A small, explicit environment: HOME and TMPDIR in the box, the caches the checks read."""
    keep = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "CUDA_VISIBLE_DEVICES", "NO_COLOR")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.update({
        "HOME": str(box.home), "TMPDIR": str(box.tmp), "TMP": str(box.tmp), "TEMP": str(box.tmp),
        "XDG_CACHE_HOME": str(box.home / ".cache"), "XDG_CONFIG_HOME": str(box.home / ".config"),
        "USER": "student", "LOGNAME": "student",
        "KFLAB_CACHE": str(paths.cache_dir()),  # pinned upstream schemas, read-only in the box
        "KFLAB_STATE": str(box.run / "state"),
        "PYTHONPATH": str(paths.CHECKS), "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1",
        "MPLBACKEND": "Agg",
    })
    if network:  # the cluster tier needs the Kubernetes API, so the box keeps the network
        env["KUBECONFIG"] = os.environ.get("KUBECONFIG") or str(Path("~/.kube/config").expanduser())
    return env


def remove(folder: Path) -> None:
    """Delete a box even when the submission left read-only folders in it."""
    def retry(func, path, _exc):
        try:
            os.chmod(os.path.dirname(path), 0o700)
            os.chmod(path, 0o700)
            func(path)
        except OSError:
            pass

    shutil.rmtree(folder, onerror=retry)
