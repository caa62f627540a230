"""Well-formed hand-ins for the grader's tests and benchmark: the solutions or the starters, as a folder or an archive.

kflab.grading.corpus mutates these into every kind of broken hand-in.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from kflab import paths
from kflab.registry import Lab


def _copy(source_root: Path, labs: list[Lab], dest: Path, layout: str = "labs") -> Path:
    """A submission folder holding `labs` from `source_root`; layout `labs` (labs-shaped) or `repo` (root with labs/)."""
    root = dest / "labs" if layout == "repo" else dest
    for lab in labs:
        shutil.copytree(lab.dir(source_root), lab.dir(root), ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def main_file(lab: Lab, root: Path) -> Path:
    """The lab's first .py file (in name order), the one the checks import first."""
    return sorted(lab.dir(root).glob("*.py"))[0]


def prepend(dest: Path, labs: list[Lab], code: str) -> Path:
    """Put `code` at the top of each lab's first .py file, so it runs when the checks import it."""
    for lab in labs:
        path = main_file(lab, dest)
        path.write_text(code.strip() + "\n\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    return dest


def solution(dest: Path, labs: list[Lab], layout: str = "labs") -> Path:
    """A hand-in of the reference solutions of `labs`, as a folder at `dest`."""
    return _copy(paths.SOLUTIONS, labs, dest, layout)


def starter(dest: Path, labs: list[Lab], layout: str = "labs") -> Path:
    """A hand-in of the untouched starters of `labs`, as a folder at `dest`."""
    return _copy(paths.LABS, labs, dest, layout)


def archive(dest: Path, labs: list[Lab], fmt: str = "zip", source: str = "solution") -> Path:
    """A well-formed archive of a solution or starter, one folder deep, as students often zip."""
    staged = dest.with_name(dest.name + "-staging")
    (solution if source == "solution" else starter)(staged / dest.name, labs, layout="repo")
    base = shutil.make_archive(str(dest), "zip" if fmt == "zip" else "gztar", staged)
    shutil.rmtree(staged)
    return Path(base)
