"""A submission's process tree, seen from outside through /proc: who is in it, its memory, and its end.

Memory is PSS, so pages shared after fork count once. The kill stops every
process before killing it, so a fork loop cannot outrun it.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

MB = 1 << 20


def pids() -> list[int]:
    """Every process this machine's /proc shows."""
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def read(path) -> str:
    """A /proc file's text; empty when the process has gone or hides it."""
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def descendants(root: int) -> list[int]:
    """Every process below `root` (by parent links, so a new session does not hide one)."""
    children: dict[int, list[int]] = {}
    for pid in pids():
        stat = read(f"/proc/{pid}/stat")
        if stat:
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def memory_mb(pids: list[int]) -> float:
    """Proportional set size of the processes, in MiB (resident size where PSS is unavailable)."""
    total_kb = 0
    for pid in pids:
        text = read(f"/proc/{pid}/smaps_rollup")
        line = next((ln for ln in text.splitlines() if ln.startswith("Pss:")), None)
        if line:
            total_kb += int(line.split()[1])
        else:
            statm = read(f"/proc/{pid}/statm").split()
            total_kb += int(statm[1]) * os.sysconf("SC_PAGE_SIZE") // 1024 if len(statm) > 1 else 0
    return total_kb / 1024


def rss_mb(pids: list[int]) -> float:
    """Resident set size of the processes, in MiB (pages shared after fork counted in each)."""
    pages = sum(int((read(f"/proc/{pid}/statm").split() or ["0", "0"])[1]) for pid in pids)
    return pages * os.sysconf("SC_PAGE_SIZE") / MB


def kill_tree(root: int) -> None:
    """Stop, then kill, every process below `root`, then `root` (and its process group) itself."""
    for _ in range(20):
        below = descendants(root)
        if not below:
            break
        for pid in below:
            send_signal(pid, signal.SIGSTOP)
        for pid in below:
            send_signal(pid, signal.SIGKILL)
        time.sleep(0.02)
    try:
        os.killpg(root, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        send_signal(root, signal.SIGKILL)


def send_signal(pid: int, sig: int) -> None:
    """Signal a process that may already have gone, or may not be ours to signal."""
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
