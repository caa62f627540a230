"""One pytest run over a box, watched from outside: per-lab wall time, memory, process count.

The run is `python -m pytest <the instructor's check files> --target <box>/labs`
inside the sandbox wrapper, with the current directory in the box and the
rootdir and ini file pinned to the instructor's repository. Every verdict comes
from the signed lines of kflab.grading.stream, never from a file that the
submission's code could have written.
"""

from __future__ import annotations

import collections
import dataclasses
import secrets
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

from kflab import checkrun, paths, results
from kflab.grading import confine, isolate, proctree, stream
from kflab.registry import Lab

POLL_S = 0.2
TAIL_BYTES = 64 * 1024
LIVE: set[int] = set()  # wrappers running now, so an interrupted grader can end them all


@dataclasses.dataclass
class Outcome:
    code: int
    stopped: str | None  # "timeout", "memory" or "processes" when the grader ended the run
    running: str | None  # the lab that had started last
    collected: dict[str, list[str]] | None  # lab id -> checkpoint names; None if collection never ended
    tiers: dict[str, dict[str, set[str]]]  # lab id -> checkpoint -> the tiers it needs beyond offline (cluster, gpu)
    started: set[str]
    results: dict[str, dict[str, dict]]  # lab id -> checkpoint -> {"outcome", "message", ...}
    reported: bool  # pytest got to the end (its last signed line came)
    isolation: dict
    modules: list[str] | None  # the harness files the run imported; None if it never got to the end
    peak_mb: float
    output: str


class _Tail(threading.Thread):
    """Drains the run's output (megabytes of it, if the learner prints that much) and keeps the end."""

    def __init__(self, pipe):
        super().__init__(daemon=True)
        self.pipe, self.chunks, self.size, self.total = pipe, collections.deque(), 0, 0

    def run(self):
        for chunk in iter(lambda: self.pipe.read1(65536), b""):
            self.chunks.append(chunk)
            self.size += len(chunk)
            self.total += len(chunk)
            while self.size - len(self.chunks[0]) > TAIL_BYTES:
                self.size -= len(self.chunks.popleft())

    def text(self) -> str:
        body = b"".join(self.chunks)[-TAIL_BYTES:].decode("utf-8", "replace")
        skipped = self.total - min(self.total, TAIL_BYTES)
        return (f"[... {skipped} earlier bytes of output not kept]\n" if skipped else "") + body


class _Events:
    """Reads the stream file as it grows; keeps only lines signed with this run's key; tolerates a torn last line."""

    def __init__(self, path: Path, labs: list[Lab], key: bytes):
        self.path, self.offset, self.partial, self.key = path, 0, b"", key
        self.lab_of = {str(lab.check_file.relative_to(paths.REPO)): lab.id for lab in labs}
        self.collected: dict[str, list[str]] | None = None
        self.tiers: dict[str, dict[str, set[str]]] = {}
        self.started: list[str] = []
        self.collector = results.Collector("grading", report=None, progress=False)
        self.modules: list[str] | None = None
        self.forged = 0  # lines without this run's signature: written by the submission's code

    def lab(self, nodeid: str) -> str | None:
        return self.lab_of.get(nodeid.split("::", 1)[0])

    def poll(self) -> None:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except OSError:
            return
        self.offset += len(data)
        *lines, self.partial = (self.partial + data).split(b"\n")
        for line in lines:
            try:
                event = stream.verified(self.key, line)
                if event is None:
                    self.forged += 1
                    continue
                self.feed(event)
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # a line the learner's code garbled is not ours to trust

    def feed(self, ev: dict) -> None:
        if ev["e"] == "collected":
            self.collected = {}
            for nodeid in ev["ids"]:
                if self.lab(nodeid):
                    self.collected.setdefault(self.lab(nodeid), []).append(results.check_name(nodeid))
            for nodeid, tiers in ev.get("tiers", {}).items():
                if self.lab(nodeid):
                    self.tiers.setdefault(self.lab(nodeid), {})[results.check_name(nodeid)] = set(tiers)
        elif ev["e"] == "modules":
            self.modules = [str(f) for f in ev["files"]]
        elif ev["e"] == "start" and self.lab(ev["id"]):
            self.started.append(self.lab(ev["id"]))
        elif ev["e"] == "report":
            outcome = ev["outcome"]
            self.collector.pytest_runtest_logreport(types.SimpleNamespace(
                nodeid=ev["id"], when=ev["when"], user_properties=[tuple(p) for p in ev["props"]],
                passed=outcome == "passed", failed=outcome == "failed", skipped=outcome == "skipped",
                duration=ev.get("duration", 0.0)))


def command(box: isolate.Box, labs: list[Lab], offline: bool) -> list[str]:
    extra = ["--no-progress", "-p", "kflab.grading.stream",
             "--rootdir", str(paths.REPO), "-c", str(paths.REPO / "pyproject.toml"), "-q", "--tb=short"]
    if offline:
        extra += ["-m", "offline"]
    # One lab at a time (no xdist): the wall-time limit is per lab, and --jobs already fills the CPUs.
    return [sys.executable, "-m", "pytest", *checkrun.pytest_args(labs, str(box.labs), extra, parallel=False)]


def run(box: isolate.Box, labs: list[Lab], limits: confine.Limits, *, offline: bool, network: bool,
        hide: list[Path], tag: str) -> Outcome:
    """Run the checks of `labs` once; stop the run when a lab outlives the limit or memory runs over."""
    events_file, key = box.run / f"stream-{tag}.jsonl", secrets.token_hex(32).encode()
    env = isolate.environment(box, network)
    env[stream.ENV] = str(events_file)
    env["PYTHONSAFEPATH"] = "1"  # the box (the current directory) is not put on sys.path
    cgroup = confine.PidsCgroup.create(tag, limits.max_procs)
    argv = confine.sandbox_command(box, limits, network, hide, cgroup, command(box, labs, offline))
    proc = subprocess.Popen(argv, cwd=box.root, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    LIVE.add(proc.pid)
    try:  # the key, once; stdin closes, and the stream plugin reads it before any learner code runs
        proc.stdin.write(key + b"\n")
        proc.stdin.close()
    except OSError:  # the run died at once; it reports nothing, and that is said below
        pass
    tail, events = _Tail(proc.stdout), _Events(events_file, labs, key)
    tail.start()
    stopped, peak, running, clock, last_check = None, 0.0, None, time.monotonic(), 0.0
    try:
        while proc.poll() is None:
            time.sleep(POLL_S)
            events.poll()
            now_running = events.started[-1] if events.started else None
            if now_running != running:
                running, clock = now_running, time.monotonic()
            if time.monotonic() - clock > limits.timeout:
                stopped = "timeout"
            elif time.monotonic() - last_check >= 1.0:
                last_check = time.monotonic()
                tree = proctree.descendants(proc.pid)
                peak = max(peak, proctree.memory_mb(tree))
                if peak > limits.memory_mb:
                    stopped = "memory"
                elif confine.too_many_processes([proc.pid, *tree], limits):
                    stopped = "processes"
            if stopped:
                proctree.kill_tree(proc.pid)
                break
    finally:
        if proc.poll() is None:
            proctree.kill_tree(proc.pid)
        proc.wait()
        LIVE.discard(proc.pid)
        tail.join(timeout=5)
        if cgroup:
            cgroup.remove()
    events.poll()
    output = tail.text()
    if events.forged:
        output += f"\n[grader] {events.forged} line(s) in the result stream were not signed by the checks; ignored\n"
    return Outcome(code=proc.returncode, stopped=stopped, running=running, collected=events.collected, tiers=events.tiers,
                   started=set(events.started), results=events.collector.labs, reported=events.modules is not None,
                   isolation=box.isolation(), modules=events.modules, peak_mb=round(peak, 1), output=output)


def kill_all() -> None:
    for pid in list(LIVE):
        proctree.kill_tree(pid)

