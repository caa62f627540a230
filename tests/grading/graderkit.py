"""Helpers for the grader's tests: what this machine can confine, a watch on the world outside, leftovers."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from kflab import paths, registry
from kflab.grading import confine, corpus, proctree

LAB = registry.get("2.1")
LIMITS = confine.Limits(timeout=20, address_space_mb=2048, memory_mb=3072, max_procs=64, file_size_mb=64, scratch_mb=128)


@functools.cache
def confinement() -> dict:
    """What the sandbox achieves on this machine (namespaces, read-only view, pids cgroup)."""
    with tempfile.TemporaryDirectory(prefix="kflab-probe-") as tmp:
        from kflab.grading.isolate import Box

        box = Box.make(Path(tmp))
        cgroup = confine.PidsCgroup.create("probe", 16)
        argv = confine.sandbox_command(box, LIMITS, False, [], cgroup, [sys.executable, "-c", "pass"])
        subprocess.run(argv, check=False, capture_output=True)
        if cgroup:
            cgroup.remove()
        return box.isolation()


def confined() -> bool:
    """True where a submission can neither write outside its box nor reach the network (namespaces)."""
    facts = confinement()
    return "files" in facts and "network" in facts


def processes_bounded() -> bool:
    """True where the OS bounds a submission's process count (a pids cgroup, or RLIMIT_NPROC for non-root)."""
    return os.geteuid() != 0 or "processes" in confinement()


needs_confinement = pytest.mark.skipif(not confined(), reason="this machine cannot confine submissions (needs namespaces)")


class Outside:
    """What a submission could touch outside its box: the course's lab 2.1 files, and any path with our token."""

    def __init__(self, token: str):
        self.token = token
        self.before = self.snapshot()

    def snapshot(self) -> dict[str, tuple]:
        seen = {}
        for base in (LAB.dir(paths.LABS), LAB.dir(paths.SOLUTIONS), LAB.check_file, paths.CHECKS / "conftest.py"):
            for path in [base, *base.rglob("*")] if base.is_dir() else [base]:
                if "__pycache__" not in path.parts:
                    st = path.lstat()
                    seen[str(path)] = (st.st_size, st.st_mtime_ns)
        for folder in {Path.home(), Path("/tmp"), Path(tempfile.gettempdir()), Path("/var/tmp"), Path("/dev/shm"),
                       paths.REPO, paths.LABS}:
            for path in folder.glob(f"*{self.token}*") if folder.is_dir() else []:
                seen[str(path)] = ("escaped",)
        return seen

    def changes(self) -> list[str]:
        after = self.snapshot()
        return sorted(p for p in set(self.before) | set(after) if self.before.get(p) != after.get(p))


def leftover_processes(grader_pid: int) -> list[str]:
    """Processes still running from a grader's boxes (their command lines name its work folder)."""
    marker = f"kflab-grade-{grader_pid}-".encode()
    left = []
    for pid in proctree.pids():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if marker in cmdline:
            left.append(cmdline.replace(b"\0", b" ").decode(errors="replace")[:200])
    return left


def corpus_kinds() -> list[str]:
    """Every broken kind this machine can run safely (a fork loop needs an OS bound on processes)."""
    return [k for k in corpus.BROKEN if k != "process_spawner" or processes_bounded()]
