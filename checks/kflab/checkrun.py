"""Run the checks for a selection of labs: the one place that builds a pytest command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from kflab import paths, registry


def parallel_args(n_files: int) -> list[str]:
    """pytest-xdist over lab modules (one module per worker keeps its once-per-lab fixtures single)."""
    if n_files < 2 or os.environ.get("KFLAB_SERIAL"):
        return []
    try:
        import xdist  # noqa: F401
    except ImportError:
        return []
    return ["-n", str(min(n_files, os.cpu_count() or 1)), "--dist", "loadfile"]


def pytest_args(labs: list[registry.Lab], target: str | None = None, extra: list[str] | None = None,
                parallel: bool = True) -> list[str]:
    files = [str(lab.check_file) for lab in labs if lab.check_file.exists()]
    args = [*files, "-p", "no:cacheprovider", *(parallel_args(len(files)) if parallel else [])]
    if target is not None:
        # One token: before conftest.py registers --target, pytest's early parse would take a
        # separate value for a test path and load any conftest.py in that folder.
        args.append(f"--target={target}")
    return args + list(extra or [])


def run_pytest(args: list[str], env: dict | None = None, cwd: Path = paths.REPO, **popen) -> int:
    """pytest in a child interpreter (so learner imports never leak into the caller)."""
    cmd = [sys.executable, "-m", "pytest", *args]
    merged = {**os.environ, **(env or {})}
    merged["PYTHONPATH"] = os.pathsep.join(filter(None, [str(paths.CHECKS), merged.get("PYTHONPATH")]))
    return subprocess.call(cmd, env=merged, cwd=cwd, **popen)


def check(labs: list[registry.Lab], target: str | None, extra: list[str]) -> int:
    """`kflab check`: the checks with their verdict, and a sentence if the run died before it."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp, "report.json")  # written at the very end: its absence means pytest never got there
        code = run_pytest(pytest_args(labs, target, [*extra, f"--kflab-report={report}"]))
        if not report.exists() and code not in (0, 4):  # 4: pytest's usage error, which it explains itself
            print(f"\nkflab check: the check run ended (exit code {code}) before it could give a verdict. Code it ran "
                  "may have called os._exit() or crashed Python; run your lab's file with python to see where. "
                  f"Next: `kflab hint {labs[0].id}`.", file=sys.stderr)
    return code


def collect_results(labs: list[registry.Lab], target: str, extra: list[str] | None = None, quiet: bool = True) -> dict:
    """Run the checks and return the per-lab results the plugin reports."""
    with tempfile.TemporaryDirectory(prefix="kflab-run-") as tmp:
        report = Path(tmp) / "report.json"
        args = pytest_args(labs, target, [f"--kflab-report={report}", "--no-progress", *(extra or [])])
        out = subprocess.DEVNULL if quiet else None
        code = run_pytest(args + (["-q"] if quiet else []), stdout=out, stderr=out)
        if not report.exists():
            return {"error": f"pytest exited with {code} before reporting (run `pytest {' '.join(args)}` to see why)", "labs": {}}
        return json.loads(report.read_text())
