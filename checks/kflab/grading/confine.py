"""The grader's side of confinement: limits, the sandbox wrapper's config, pids cgroups.

The wrapper (kflab/grading/sandbox.py) applies what is decided here inside the
child; kflab.grading.proctree watches and ends the child's process tree from outside.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

from kflab import paths
from kflab.grading import proctree

SANDBOX = Path(__file__).with_name("sandbox.py")
CGROUP_PREFIX = "kflab-grade-"
MB = 1 << 20


@dataclasses.dataclass(frozen=True)
class Limits:
    """What one submission may use. `timeout` is wall time per lab, in seconds."""

    timeout: float = 300.0
    address_space_mb: int = 8192  # per process; importing torch alone maps about 3 GB
    file_size_mb: int = 256
    max_procs: int = 512  # processes and threads of the whole submission
    memory_mb: int = 4096  # PSS of the whole process tree, watched from outside
    scratch_mb: int = 512  # each of the private /tmp and /dev/shm
    max_submission_mb: int = 200  # what intake unpacks and isolate copies

    def rlimits(self) -> dict[str, int]:
        nproc = self.max_procs
        if os.geteuid() != 0:  # RLIMIT_NPROC counts every process of the user, not just ours
            nproc += _user_processes()
        return {"RLIMIT_AS": self.address_space_mb * MB, "RLIMIT_FSIZE": self.file_size_mb * MB,
                "RLIMIT_NPROC": nproc, "RLIMIT_CORE": 0}


def _user_processes() -> int:
    """Tasks (threads count too) that the user runs now: RLIMIT_NPROC counts them all."""
    uid = os.getuid()
    mine = []
    for pid in proctree.pids():
        try:
            if os.stat(f"/proc/{pid}").st_uid == uid:
                mine.append(pid)
        except OSError:
            pass
    return _tasks(mine)


class PidsCgroup:
    """A pids cgroup (v1 or v2) that bounds a submission's process count even for root."""

    def __init__(self, path: Path):
        self.path = path

    @classmethod
    def create(cls, name: str, max_procs: int) -> PidsCgroup | None:
        if os.geteuid() != 0:
            return None
        base = _pids_hierarchy()
        if base is None:
            return None
        path = base / f"{CGROUP_PREFIX}{os.getpid()}-{name}"
        try:
            path.mkdir(exist_ok=True)
            (path / "pids.max").write_text(str(max_procs))
        except OSError:
            _rmdir(path)
            return None
        return cls(path)

    @property
    def procs_file(self) -> str:
        return str(self.path / "cgroup.procs")

    def remove(self) -> None:
        """Kill whatever is left in it (normally nothing: the PID namespace took it down) and remove it."""
        for _ in range(50):
            try:
                pids = [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
            except OSError:
                return
            if not pids:
                break
            for pid in pids:
                proctree.send_signal(pid, signal.SIGKILL)
            time.sleep(0.05)
        _rmdir(self.path)


def _pids_hierarchy() -> Path | None:
    """Our own cgroup in the pids controller's hierarchy, if it is writable."""
    try:
        return _find_pids_hierarchy()
    except (OSError, ValueError, IndexError):
        return None


def _find_pids_hierarchy() -> Path | None:
    try:
        own = Path("/proc/self/cgroup").read_text().splitlines()
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    for line in mounts:
        fields = line.split()
        sep = fields.index("-")
        fstype, options, mountpoint = fields[sep + 1], fields[sep + 3], fields[4]
        if fstype == "cgroup" and "pids" in options.split(","):
            rel = next((ln.split(":", 2)[2] for ln in own if "pids" in ln.split(":")[1].split(",")), None)
        elif fstype == "cgroup2":
            rel = next((ln.split(":", 2)[2] for ln in own if ln.startswith("0::")), None)
            if rel is not None and "pids" not in proctree.read(Path(mountpoint, rel.lstrip("/"), "cgroup.subtree_control")):
                continue  # a v2 child only gets pids.max if its parent delegates the controller
        else:
            continue
        if rel is not None:
            base = Path(mountpoint, rel.lstrip("/"))
            if os.access(base, os.W_OK):
                return base
    return None


def too_many_processes(tree: list[int], limits: Limits) -> bool:
    """A fork loop, seen from outside: the wrapper and its tree hold `max_procs` tasks.

    That is where the pids cgroup or RLIMIT_NPROC in the wrapper's user namespace
    refuses the next fork (both count threads too), and where the watch alone stops a
    tree that no OS limit bounds. Ending it at once means it does not wait out its time
    limit, and, under an ordinary user's RLIMIT_NPROC that every job shares, it does
    not keep taking the forks that the other jobs need.
    """
    return _tasks(tree) >= limits.max_procs


def _tasks(pids: list[int]) -> int:
    count = 0
    for pid in pids:
        try:
            count += len(os.listdir(f"/proc/{pid}/task"))
        except OSError:
            pass
    return count


def remove_stale_cgroups() -> None:
    """Remove cgroups left by graders that were killed (their pid is in the name)."""
    base = _pids_hierarchy()
    if base is None:
        return
    for path in base.glob(f"{CGROUP_PREFIX}*"):
        owner = path.name[len(CGROUP_PREFIX):].split("-", 1)[0]
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            PidsCgroup(path).remove()


def sandbox_command(box, limits: Limits, network: bool, hide: list[Path], cgroup: PidsCgroup | None,
                    cmd: list[str], namespaces: bool = True) -> list[str]:
    """The wrapper's command line; its config goes to a file in the box's run folder.

    `namespaces=False` makes the grader behave as it does where the kernel refuses namespaces (for tests).
    """
    candidates = {p for p in ("/tmp", "/dev/shm", tempfile.gettempdir()) if os.path.isdir(p)}
    scratch = sorted(p for p in candidates if not any(q != p and _under(p, q) for q in candidates))
    needed = {str(paths.REPO), sys.prefix, sys.base_prefix, str(paths.cache_dir())}
    if network and os.environ.get("KUBECONFIG"):  # cluster checks read it; keep it visible if it lives in /tmp
        needed.add(os.path.dirname(os.path.abspath(os.environ["KUBECONFIG"])))
    keep = sorted(p for p in needed if any(_under(p, s) for s in scratch))
    config = {
        "parent": os.getpid(), "rlimits": limits.rlimits(), "network": network,
        "box": str(box.root), "keep": keep, "scratch": scratch, "scratch_mb": limits.scratch_mb,
        "hide": [str(p) for p in hide], "report": str(box.isolation_report),
        "cgroup_procs": cgroup.procs_file if cgroup else None, "max_procs": limits.max_procs,
        "confine": namespaces,
    }
    box.sandbox_config.write_text(json.dumps(config))
    return [sys.executable, "-I", "-S", str(SANDBOX), str(box.sandbox_config), "--", *cmd]


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _rmdir(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass
