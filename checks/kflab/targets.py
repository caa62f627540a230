"""Which code the checks look at: `labs` (default), `solutions`, or a submission."""

from __future__ import annotations

import os
from pathlib import Path

from kflab import paths

ENV = "KFLAB_TARGET"


class TargetError(ValueError):
    """The --target value names nothing we can check."""


def _is_labs_shaped(path: Path) -> bool:
    return any(child.is_dir() and child.name.startswith("stage") for child in path.iterdir())


def resolve(target: str | None = None) -> Path:
    """The folder shaped like labs/ that `target` names.

    A submission may be that folder itself or a repository root holding one.
    """
    if target == "":  # `--target ""`, from a shell variable that was never set: say so rather than check labs/
        raise TargetError("--target is empty. Give `labs`, `solutions` or a submission folder.")
    target = target or os.environ.get(ENV) or "labs"
    if target == "labs":
        return paths.LABS
    if target == "solutions":
        return paths.SOLUTIONS
    path = Path(target).expanduser().resolve()
    if not path.is_dir():
        raise TargetError(f"--target {target}: there is no folder there. Give `labs`, `solutions` or a submission folder.")
    if _is_labs_shaped(path):
        return path
    if (path / "labs").is_dir() and _is_labs_shaped(path / "labs"):
        return path / "labs"
    raise TargetError(
        f"--target {target}: this folder holds no stage1/, stage2/... folders and no labs/ folder. "
        "Point it at a copy of labs/ or at a repository root that contains one."
    )


def describe(root: Path) -> str:
    """How a report names the target: `labs`, `solutions`, or the path."""
    if root == paths.LABS:
        return "labs"
    if root == paths.SOLUTIONS:
        return "solutions"
    return str(root)
