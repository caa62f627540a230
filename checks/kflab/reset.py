"""`kflab reset LAB`: put a lab's starter files back, keeping a copy of the learner's work.

The starter comes from the learner's git clone of the course: the course as cloned
(`origin/HEAD`), so that work the learner committed is not taken for the starter,
or the last commit where there is no remote. Before anything is overwritten, the
lab's folder is copied to `.kflab/backups/LAB-TIMESTAMP/`, so a reset never loses
work. Files the learner added are left where they are, and git's index is untouched.
The lab's recorded check results are dropped, since they described the old files.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from kflab import paths, registry, state


class ResetError(RuntimeError):
    """Why a lab cannot be reset here, with what to do instead."""


def _git(root: Path, *args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise ResetError("git is not installed, and kflab needs it to find the original starter. "
                         "Install git, or copy the lab's folder from a fresh download of the course.") from None


def source(root: Path) -> str:
    """The commit that holds the starters: the course as cloned, else the last commit."""
    top = _git(root, "rev-parse", "--show-toplevel").stdout.strip()
    for ref in ("origin/HEAD", "HEAD") if top and Path(top).resolve() == root.resolve() else ():
        if _git(root, "rev-parse", "--verify", "--quiet", ref).returncode == 0:
            return ref
    raise ResetError(f"{root} is not a git clone of the course, so the original starter is unknown. "
                     "Copy the lab's folder from a fresh download of the course instead.")


def starter_files(root: Path, ref: str, folder: str) -> list[str]:
    """The files of `folder` (relative to root) at `ref`: the starter as it was given."""
    listed = _git(root, "ls-tree", "-r", "--name-only", ref, "--", folder)
    files = listed.stdout.split()
    if listed.returncode != 0 or not files:
        raise ResetError(f"{ref} holds no {folder}/ to restore. "
                         f"`git log -- {folder}` shows the versions that git has.")
    return files


def reset_lab(lab_id: str, root: Path = paths.REPO) -> tuple[Path | None, list[str]]:
    """Back up the lab's folder, then restore its starter files; returns (backup, restored files)."""
    lab = registry.get(lab_id)
    folder = str(lab.dir(Path("labs")))
    ref = source(root)
    files = starter_files(root, ref, folder)
    backup = None
    if (root / folder).exists():
        backup = root / ".kflab" / "backups" / f"{lab.id}-{time.strftime('%Y%m%d-%H%M%S')}"
        shutil.copytree(root / folder, backup, symlinks=True, dirs_exist_ok=True)
    restored = _git(root, "restore", f"--source={ref}", "--worktree", "--", folder)
    if restored.returncode != 0:
        raise ResetError(f"git could not restore {folder}/ from {ref}: {restored.stderr.strip()}. "
                         f"A copy of your files is in {backup}.")
    state.forget_results(lab.id)
    return backup, files


def describe(lab_id: str, backup: Path | None, files: list[str], root: Path = paths.REPO) -> str:
    lines = [f"Lab {lab_id} is back to its starter: {', '.join(Path(f).name for f in files)}."]
    if backup:
        lines.append(f"Your previous files are in {backup.relative_to(root)}/.")
    lines.append("Files you added yourself were left in place, and `kflab status` shows the lab as not done yet.")
    lines.append(f"Next: `kflab check {lab_id}`.")
    return "\n".join(lines)
