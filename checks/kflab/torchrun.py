"""Run a training script under the real torchrun, bounded by timeouts, and read each rank's output.

Three timeouts bound a distributed run, so that a rank that never joins ends in a
sentence instead of a hang:

- torchrun's rendezvous `join_timeout` (its agents wait that long for each other);
- the script's own `init_process_group(timeout=...)` (the ranks wait that long for each other);
- the subprocess timeout here, which kills the whole process group when the two above fail.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

from kflab import paths, rankprobe
from kflab.doctor_probes import version_tuple

JOIN_TIMEOUT_S = 30


@dataclasses.dataclass
class Launch:
    """What one launch did: exit status, time, and each local rank's stdout and stderr."""

    cmd: list[str]
    returncode: int | None  # None when it was killed for running too long
    elapsed_s: float
    timeout_s: float
    output: str  # the launcher's own stdout and stderr (for a single rank: the process's)
    stdout: dict[int, str] = dataclasses.field(default_factory=dict)
    stderr: dict[int, str] = dataclasses.field(default_factory=dict)
    roots: tuple[Path, ...] = ()  # the learner's folders: tracebacks keep only their frames
    probe_dir: Path | None = None  # what kflab.rankprobe recorded of each rank's torch.save and torch.load calls

    @property
    def timed_out(self) -> bool:
        return self.returncode is None

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def failure(self, what: str, timeout: str = "...") -> str:
        """A sentence (and the evidence) for a launch that did not finish cleanly; '' if it did.

        `timeout` is what the script should pass as its process group's timeout, in seconds.
        """
        if self.timed_out:
            return (f"{what} was still running after {self.timeout_s:.0f} s and was stopped: most likely a rank waited "
                    "for a peer that never came, and no timeout of its own ended the wait. Make every rank call the same "
                    f"collectives in the same order, and pass timeout=timedelta(seconds={timeout}) to "
                    "dist.init_process_group so that such a wait fails with a traceback that shows where.")
        if self.ok:
            return ""
        failing = [r for r in sorted(self.stderr) if "Traceback" in self.stderr[r] or "Error" in self.stderr[r]]
        # A rank that crashes takes its peers down with "connection closed" errors: show the one that crashed.
        failing.sort(key=lambda r: bool(SECONDARY.search(self.stderr[r])))
        text = self.stderr[failing[0]] if failing else self.output
        who = f" (rank {failing[0]} first)" if failing else ""
        aborted = [r for r in sorted(self.stderr) if ABORT_AT_EXIT in self.stderr[r]]
        if aborted and not failing:
            version = _torch_version()
            fix = "run the check again" if version >= (2, 15) else \
                "upgrade to torch 2.15 or newer (scripts/bootstrap does) and run the check again"
            return (f"{what} failed because PyTorch aborted rank {aborted[0]} as Python exited ('{ABORT_AT_EXIT}'). "
                    f"That is a race inside torch {'.'.join(map(str, version))} (a gloo thread outlives the interpreter, "
                    f"pytorch/pytorch#190489), not your code: {fix}.")
        evidence = "\n" + trim_traceback(text, self.roots)
        stuck = {r: where(self.stderr[r], self.roots) for r in failing if COLLECTIVE_TIMEOUT.search(self.stderr[r])}
        if stuck:
            places = ", ".join(f"rank {r} at {at}" for r, at in stuck.items())
            return (f"{what} failed: the ranks timed out waiting for each other ({places}). Every rank must call the "
                    "same collectives in the same order; one that only some ranks call (say, under `if rank == 0:`) "
                    "waits for peers that never come." + evidence)
        # Only "connection closed" errors: no rank crashed, one left while its peers still expected it.
        lost_peer = failing and all(SECONDARY.search(self.stderr[r]) for r in failing)
        loaded = sorted({r["rank"] for r in rankprobe.read(self.probe_dir, "loads")}) if self.probe_dir else []
        if lost_peer and 0 < len(loaded) < len(self.stderr):
            only = ", ".join(map(str, loaded))
            return (f"{what} failed: only rank {only} loaded the checkpoint (torch.load), so the ranks did not resume "
                    "from the same epoch and ran different numbers of steps. Load the checkpoint on every rank, not only "
                    f"on rank {only}." + evidence)
        failed = {int(r) for r in FAILED_RANK.findall(self.output)}  # torchrun lists every rank that exited non-zero
        finished = sorted(set(self.stderr) - set(failing) - failed) if failed else []
        if lost_peer and finished:
            return (f"{what} failed: rank {failing[0]} lost its connection to rank {finished[0]}, which had already "
                    "finished without an error. The ranks did not run the same number of steps: make every rank run "
                    "the same epochs and batches (when resuming, every rank loads the checkpoint)." + evidence)
        return f"{what} failed with exit status {self.returncode}{who}. Read the error below, fix your code, and run the check again." \
               + evidence


# What libstdc++ prints when torch 2.11-2.14 kill a gloo worker thread during interpreter shutdown.
ABORT_AT_EXIT = "terminate called without an active exception"
FRAME = re.compile(r'^\s*File "([^"]+)", line (\d+)')
RANK_PREFIX = re.compile(r"^\[(?:rank|default)\d+\]:\s?")
SECONDARY = re.compile(r"Connection closed by peer|Connection reset by peer|remote worker crashing|NCCL communicator was aborted")
# A collective that waited past the process group's timeout: gloo's words, then NCCL's watchdog's.
COLLECTIVE_TIMEOUT = re.compile(r"Timed out waiting \d+ ?ms|Watchdog caught collective operation timeout")
FAILED_RANK = re.compile(r"^\s*rank\s*:\s*(\d+) \(local_rank", re.M)


def trim_traceback(text: str, roots: tuple[Path, ...], tail: int = 15) -> str:
    """The last traceback in `text` with only the frames in `roots` (and the error), else the last lines."""
    lines = [RANK_PREFIX.sub("", line) for line in text.strip().splitlines()]
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")]
    if not starts or not roots:
        return "\n".join(lines[-tail:])
    kept, keep = ["Traceback (your files only):"], False
    for line in lines[starts[-1] + 1:]:
        frame = FRAME.match(line)
        if frame:
            keep = any(Path(frame.group(1)).resolve().is_relative_to(r) for r in roots)
        elif not line.startswith(" "):
            keep = True  # the exception itself
        if keep:
            kept.append(line)
    return "\n".join(kept[:40])


def where(text: str, roots: tuple[Path, ...]) -> str:
    """The last frame of `text` in the learner's files, as "train.py:233 `dist.barrier()`"."""
    lines = [RANK_PREFIX.sub("", line) for line in text.splitlines()]
    at = "a collective"
    for i, line in enumerate(lines):
        frame = FRAME.match(line)
        if frame and any(Path(frame.group(1)).resolve().is_relative_to(r) for r in roots):
            code = lines[i + 1].split("  #")[0].strip() if i + 1 < len(lines) else ""
            at = f"{Path(frame.group(1)).name}:{frame.group(2)}" + (f" `{code}`" if code else "")
    return at


def _torch_version() -> tuple[int, int]:
    """The installed torch's (major, minor), read without importing it."""
    try:
        return (version_tuple(importlib.metadata.version("torch")) or (0, 0))[:2]
    except importlib.metadata.PackageNotFoundError:
        return (0, 0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _child_env(extra: dict | None) -> dict:
    env = {**os.environ, **(extra or {})}
    # The probe module lives in the harness; keep it importable from the children.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(paths.CHECKS), env.get("PYTHONPATH")]))
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _run(cmd: list[str], cwd: Path, env: dict, timeout_s: float) -> tuple[int | None, str, float]:
    """Run in a new process group; on timeout stop the whole group (launcher and ranks)."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors="replace", start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout_s)
        return proc.returncode, out, time.monotonic() - start
    except subprocess.TimeoutExpired:
        out = ""
        for sig, grace in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                out, _ = proc.communicate(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
        return None, out or "", time.monotonic() - start


def run(script: Path, args: list[str] = (), nproc: int = 2, cwd: Path | None = None, timeout_s: float = 90,
        join_timeout_s: int = JOIN_TIMEOUT_S, env: dict | None = None, log_dir: Path | None = None,
        probe_dir: Path | None = None, nnodes: int = 1) -> Launch:
    """`torchrun --nproc-per-node=N script args`, with per-rank logs and every timeout set.

    With `probe_dir`, each rank runs under kflab.rankprobe, which records every
    torch.save call (rank and path) there: evidence of who writes checkpoints.
    """
    script = Path(script).resolve()
    cwd = Path(cwd or script.parent)
    log_dir = Path(log_dir or cwd / "torchrun-logs")
    run_id = f"kflab-{uuid.uuid4().hex[:8]}"
    # `python -m torch.distributed.run` is the torchrun command, run by this interpreter.
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nnodes={nnodes}", f"--nproc-per-node={nproc}",
           "--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{free_port()}", f"--rdzv-id={run_id}",
           f"--rdzv-conf=join_timeout={join_timeout_s}", "--max-restarts=0",
           f"--log-dir={log_dir}", "--redirects=3"]
    if nnodes > 1:
        cmd.append("--node-rank=0")
    extra = dict(env or {})
    if probe_dir is not None:
        Path(probe_dir).mkdir(parents=True, exist_ok=True)
        extra["KFLAB_PROBE_DIR"] = str(probe_dir)
        cmd += ["--no-python", sys.executable, "-m", "kflab.rankprobe"]
    cmd += [str(script), *map(str, args)]
    code, out, elapsed = _run(cmd, cwd, _child_env(extra), timeout_s)
    launch = Launch(cmd, code, elapsed, timeout_s, out, roots=(script.parent,), probe_dir=probe_dir)
    for rank_dir in sorted(log_dir.glob(f"{run_id}_*/attempt_*/*")):
        if rank_dir.name.isdigit():
            launch.stdout[int(rank_dir.name)] = _read(rank_dir / "stdout.log")
            launch.stderr[int(rank_dir.name)] = _read(rank_dir / "stderr.log")
    return launch


def run_one_rank(script: Path, args: list[str] = (), world_size: int = 2, cwd: Path | None = None,
                 timeout_s: float = 45, env: dict | None = None) -> Launch:
    """Start rank 0 of a `world_size` job by hand, with the variables torchrun would set; the others never start."""
    script = Path(script).resolve()
    rendezvous = {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": str(world_size), "LOCAL_WORLD_SIZE": "1",
                  "GROUP_RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port())}
    cmd = [sys.executable, str(script), *map(str, args)]
    code, out, elapsed = _run(cmd, Path(cwd or script.parent), _child_env({**(env or {}), **rendezvous}), timeout_s)
    return Launch(cmd, code, elapsed, timeout_s, out, stdout={0: out}, stderr={0: out}, roots=(script.parent,))


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""
