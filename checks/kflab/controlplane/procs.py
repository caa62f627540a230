"""Processes that `up` starts, tracked by pid files so that `down` stops only those.

Each component runs in its own session (so its own process group) and its pid
file records the pid and the process's start time. A pid whose start time no
longer matches belongs to someone else, because the kernel reuses pids.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

STOP_GRACE_S = 10


@dataclass(frozen=True)
class Record:
    pid: int
    start: str | None  # /proc/PID/stat field 22, or None where /proc is absent
    argv0: str
    argv: tuple[str, ...] = ()


def start_time(pid: int, proc: Path = Path("/proc")) -> str | None:
    """The process's start time in clock ticks since boot, or None if it has gone."""
    try:
        stat = (proc / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":  # a zombie has exited; only its parent has not reaped it yet
        return None
    return fields[19]


def read(pidfile: Path) -> Record | None:
    try:
        data = json.loads(pidfile.read_text())
        return Record(int(data["pid"]), data.get("start"), str(data.get("argv0", "")), tuple(data.get("argv", ())))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write(pidfile: Path, record: Record) -> None:
    tmp = pidfile.with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": record.pid, "start": record.start, "argv0": record.argv0,
                               "argv": list(record.argv)}) + "\n")
    tmp.replace(pidfile)


def alive(record: Record | None, proc: Path = Path("/proc")) -> bool:
    """Whether the recorded process still runs and is the one we started."""
    if record is None:
        return False
    if proc.is_dir():
        return record.start is not None and start_time(record.pid, proc) == record.start
    try:  # no /proc (macOS): a signal 0 is the best available test
        os.kill(record.pid, 0)
        return True
    except OSError:
        return False


def state(pidfile: Path, proc: Path = Path("/proc")) -> str:
    """'running', 'dead' (a pid file whose process is gone) or 'not started'."""
    record = read(pidfile)
    if record is None:
        return "not started"
    return "running" if alive(record, proc) else "dead"


def start(name: str, argv: list[str], pidfile: Path, logfile: Path, env: dict[str, str] | None = None) -> Record:
    """Start `argv` in a new session, output appended to `logfile`; record it in `pidfile`."""
    logfile.parent.mkdir(parents=True, exist_ok=True)
    with open(logfile, "ab") as log:
        log.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} starting {name}: {' '.join(argv)}\n".encode())
        log.flush()
        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True, env={**os.environ, **(env or {})})
    record = Record(child.pid, start_time(child.pid), argv[0], tuple(argv))
    write(pidfile, record)
    return record


def stop(pidfile: Path, grace_s: float = STOP_GRACE_S, proc: Path = Path("/proc")) -> str:
    """Stop the recorded process group (TERM, then KILL); remove the pid file. Says what it did."""
    record = read(pidfile)
    if record is None:
        return "not started"
    if not alive(record, proc):
        pidfile.unlink(missing_ok=True)
        return "was not running"
    _signal_group(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while alive(record, proc) and time.monotonic() < deadline:
        time.sleep(0.1)
    how = "stopped"
    if alive(record, proc):
        _signal_group(record.pid, signal.SIGKILL)
        how = "killed after TERM timed out"
    pidfile.unlink(missing_ok=True)
    return how


def _signal_group(pid: int, sig: int) -> None:
    # start_new_session made the child a group leader, so its pgid is its pid.
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def log_tail(logfile: Path, lines: int = 25) -> str:
    try:
        return "".join(logfile.read_text(errors="replace").splitlines(keepends=True)[-lines:])
    except OSError:
        return "(no log yet)\n"
