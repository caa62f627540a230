"""The trial side of `kflab tune`: one trial is the template's training container, run as a local process.

What a cluster does and what happens here instead:

- The container image, volumes and `workingDir` are ignored. The command and args
  run in the folder that holds the Experiment file, so `python3 train.py` runs the
  lab's train.py.
- `python` and `python3` are this course's interpreter: the virtualenv's bin folder
  comes first on PATH, so the trial imports the same torch the checks use.
- Like Katib's StdOut collector (which appends `1>metrics.log 2>&1`), stdout and
  stderr go to one log, and the metrics are read from it.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from kflab import katib_trial
from kflab.tune_search import TuneError


@dataclasses.dataclass
class Trial:
    """One trial: its assignment, its process while it runs, and its outcome."""

    number: int
    assignment: dict[str, str]
    argv: list[str]
    log: Path
    status: str = "Running"  # Succeeded, Failed, MetricsUnavailable, Killed
    objective: float | None = None
    metrics: dict[str, float | None] = dataclasses.field(default_factory=dict)
    seconds: float = 0.0
    exit_code: int | None = None
    optuna_trial: object = None
    _proc: subprocess.Popen | None = None
    _start: float = 0.0

    def tail(self, lines: int = 12) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").strip().splitlines()[-lines:])
        except OSError:
            return ""

    def as_dict(self) -> dict:
        return {"number": self.number, "assignment": self.assignment, "status": self.status, "objective": self.objective,
                "metrics": self.metrics, "seconds": round(self.seconds, 2), "exit_code": self.exit_code,
                "command": self.argv, "log": str(self.log)}


def pod_of(node, name: str) -> dict | None:
    """The pod spec (a mapping with `containers`) that holds the container `name`, anywhere in a trial manifest."""
    if isinstance(node, dict):
        if any(isinstance(c, dict) and c.get("name") == name for c in node.get("containers") or []):
            return node
        node = list(node.values())
    if isinstance(node, list):
        return next((pod for pod in (pod_of(n, name) for n in node) if pod is not None), None)
    return None


def primary_container(manifest: dict, name: str) -> dict:
    """The container named `name` anywhere in the trial manifest (a Job, a PyTorchJob...)."""
    pod = pod_of(manifest, name)
    if pod is None:
        raise TuneError(f"the trialSpec has no container named {name!r} (spec.trialTemplate.primaryContainerName); "
                        "name the training container the same in both places.")
    return next(c for c in pod["containers"] if isinstance(c, dict) and c.get("name") == name)


def command(manifest: dict, container_name: str) -> tuple[list[str], dict[str, str]]:
    """The argv and plain env of the primary container, after substitution."""
    c = primary_container(manifest, container_name)
    for key in ("command", "args", "env"):
        if c.get(key) is not None and not isinstance(c[key], list):
            raise TuneError(f"container {container_name!r}: its {key} is {c[key]!r:.60}, not a list. Write each "
                            + ("entry as `- name: X` with `value: Y` on the line below." if key == "env" else
                               "word on its own `- ` line, such as [python3, train.py, --lr=...]."))
    argv = [str(a) for a in (c.get("command") or []) + (c.get("args") or [])]
    if argv and not c.get("command"):
        raise TuneError(f"container {container_name!r} has args but no command; locally there is no image entrypoint "
                        "to run them with, so put the program in `command` (for example [python3, train.py]).")
    if not argv:
        raise TuneError(f"container {container_name!r} has no command or args; locally there is no image entrypoint "
                        "to fall back on, so spell out the command (for example python3 train.py --lr=...).")
    env = {str(e["name"]): str(e["value"]) for e in c.get("env") or [] if isinstance(e, dict) and "name" in e and "value" in e}
    return argv, env


def start(trial: Trial, env: dict[str, str], workdir: Path) -> None:
    venv_bin = str(Path(sys.executable).parent)
    full_env = {**os.environ, **env, "PATH": venv_bin + os.pathsep + os.environ.get("PATH", ""), "PYTHONUNBUFFERED": "1"}
    trial.log.parent.mkdir(parents=True, exist_ok=True)
    with open(trial.log, "w", encoding="utf-8") as out:
        try:
            trial._proc = subprocess.Popen(trial.argv, cwd=workdir, env=full_env, stdout=out, stderr=subprocess.STDOUT,
                                           start_new_session=True)
        except OSError as exc:  # e.g. the command is not on PATH
            out.write(f"kflab tune could not start {trial.argv[0]!r}: {exc}\n")
            trial._proc = None
    trial._start = time.monotonic()


def poll(trial: Trial, objective: dict, formats: list[str] | None, timeout_s: float) -> bool:
    """True once the trial has finished (or was stopped for running past timeout_s); sets its outcome."""
    if trial._proc is not None:
        if trial._proc.poll() is None:
            if time.monotonic() - trial._start < timeout_s:
                return False
            stop(trial)
            with open(trial.log, "a", encoding="utf-8") as out:
                out.write(f"\nkflab tune: stopped after {timeout_s:.0f} s (--trial-timeout)\n")
        trial.exit_code = trial._proc.returncode
    trial.seconds = time.monotonic() - trial._start
    names = [objective["objectiveMetricName"], *(objective.get("additionalMetricNames") or [])]
    values = katib_trial.parse_metrics(trial.log.read_text(errors="replace"), names, formats)
    trial.metrics = {n: katib_trial.reduce(v, katib_trial.strategy(objective, n)) for n, v in values.items()}
    trial.objective = trial.metrics[names[0]]
    if trial.status == "Killed":
        return True
    if trial.exit_code != 0:
        trial.status = "Failed"
    else:
        trial.status = "Succeeded" if trial.objective is not None else "MetricsUnavailable"
    return True


def stop(trial: Trial, status: str | None = None) -> None:
    """Stop a running trial's whole process group (SIGTERM, then SIGKILL)."""
    proc = trial._proc
    if proc is None or proc.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=5)
            break
        except ProcessLookupError:
            break
        except subprocess.TimeoutExpired:
            continue
    if status:
        trial.status = status
