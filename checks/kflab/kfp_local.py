"""Run learner pipelines with the real kfp.local, and report what the runner did.

`run()` executes a pipeline or component once with SubprocessRunner(use_venv=False)
and local caching, and returns its outputs plus the runner's own account of the
run: which tasks it executed, which were cache hits, which it skipped. Those
come from the runner's log lines, not from wall time.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import io
import json
import logging
import re
import sys
import time
import warnings
from pathlib import Path

from kflab.failures import CheckFailure

ANSI = re.compile(r"\x1b\[[0-9;]*m")
EXECUTING = re.compile(r"Executing task '?([\w.-]+)'?")
CACHE_HIT = re.compile(r"Task '?([\w.-]+)'? cache hit")
SKIPPED = re.compile(r"Skipping (?:conditional )?task '?([\w.-]+)'?")
FINISHED = re.compile(r"Task '?([\w.-]+)'? finished with status (\w+)")
CONTAINER_REFUSED = "only supports running Lightweight Python Components"  # SubprocessRunner's RuntimeError
LOG_LINES = 40  # of the runner's log shown under a failure; the lab's file run with python shows it all


class RunFailed(CheckFailure):
    """The local run failed; `task` names the task that failed, when the runner said which."""

    def __init__(self, message: str, task: str | None):
        super().__init__(message)
        self.task = task


@dataclasses.dataclass
class LocalRun:
    outputs: object
    executed: collections.Counter
    cache_hits: collections.Counter
    skipped: list[str]
    failed: list[str]
    seconds: float
    log: str
    root: Path | None = None

    @property
    def tasks(self) -> set[str]:
        return set(self.executed) | set(self.cache_hits)

    @property
    def output(self):
        """The single output of a pipeline that returns one value."""
        if isinstance(self.outputs, dict) and list(self.outputs) == ["Output"]:
            return self.outputs["Output"]
        return self.outputs

    def task_outputs(self, task: str) -> list[dict]:
        """executor_output.json of every execution of `task` under the pipeline root.

        Newest first; a cache hit points at the run that produced the outputs. A task
        inside dsl.ParallelFor has one entry per iteration.
        """
        if self.root is None:
            return []
        found = sorted(Path(self.root).glob(f"*/{task}/executor_output.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        found += sorted(Path(self.root).glob(f"*/*/{task}/executor_output.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        return [json.loads(p.read_text()) for p in found]

    def artifact(self, task: str, name: str) -> dict | None:
        """The newest artifact record (uri, metadata) that `task` wrote for output `name`."""
        for out in self.task_outputs(task):
            arts = out.get("artifacts", {}).get(name, {}).get("artifacts", [])
            if arts:
                return arts[0]
        return None


class _Tee(io.TextIOBase):
    """Keeps what the runner prints, and forwards nothing (pytest shows it on failure)."""

    def __init__(self):
        self.buffer = io.StringIO()

    def write(self, text):
        return self.buffer.write(text)


@contextlib.contextmanager
def _captured():
    tee = _Tee()
    handler = logging.StreamHandler(tee)
    handler.setFormatter(logging.Formatter("%(levelname)s - %(message)s"))
    root = logging.getLogger()
    old_level, old_handlers = root.level, root.handlers[:]
    root.handlers[:] = [handler]  # the runner's account goes to us only, not to pytest's log capture
    root.setLevel(logging.INFO)  # kfp logs cache hits at INFO outside its own logger context
    try:
        with contextlib.redirect_stdout(tee):
            yield tee
    finally:
        root.handlers[:] = old_handlers
        root.setLevel(old_level)


_ROOT: list[Path] = []


def init(pipeline_root: Path, caching: bool = True) -> None:
    """Point kfp.local at `pipeline_root`: subprocesses in this environment, cache on."""
    from kfp import local

    _ROOT[:] = [Path(pipeline_root)]
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(pipeline_root),
        enable_caching=caching,
        raise_on_error=True,
    )


def parse_log(text: str) -> dict:
    text = ANSI.sub("", text)
    return {
        "executed": collections.Counter(EXECUTING.findall(text)),
        "cache_hits": collections.Counter(CACHE_HIT.findall(text)),
        "skipped": SKIPPED.findall(text),
        "failed": [name for name, status in FINISHED.findall(text) if status != "SUCCESS"],
    }


def learner_traceback(text: str) -> str:
    """The last traceback a task printed, keeping only frames of the component's own code.

    Task output is streamed indented; the block is dedented by the indent of its
    "Traceback" line. When no frame is the component's, the error came from KFP
    itself, and only the exception line is kept.
    """
    text = ANSI.sub("", text)
    start = text.rfind("Traceback (most recent call last):")
    if start < 0:
        return ""
    line_start = text.rfind("\n", 0, start) + 1
    indent = start - line_start
    lines = [ln[indent:] if ln[:indent].isspace() or not indent else ln for ln in text[line_start:].splitlines()[1:]]
    kept, keep_next, exception = [], False, ""
    for line in lines:
        if line.startswith("  File "):
            keep_next = "ephemeral_component.py" in line
            if keep_next:
                kept.append(line.replace("ephemeral_component.py", "<your component>"))
        elif line.startswith("    ") and keep_next:
            kept.append(line)
            keep_next = False
        elif line and not line.startswith(" "):
            exception = line  # the first unindented line after the frames
            break
    if not kept:
        return f"{exception}\n(raised inside KFP, not in your component's code)" if exception else ""
    return "\n".join(kept + [exception])


def log_excerpt(text: str, task: str | None = None, lines: int = LOG_LINES) -> str:
    """The end of the runner's log, from where `task` last started, at most `lines` lines."""
    text = ANSI.sub("", text)
    if task:
        start = max(text.rfind(f"Executing task '{task}'"), text.rfind(f"Executing task {task}"))
        if start >= 0:
            text = text[text.rfind("\n", 0, start) + 1:]
    kept = text.rstrip().splitlines()
    if len(kept) > lines:
        left = len(kept) - lines
        kept = [f"... ({left} lines of the kfp.local log left out; run the lab's file with python to see them all)"] + kept[-lines:]
    return "\n".join(kept) + "\n"


def run(func, arguments: dict | None = None, doing: str = "running your pipeline", root: Path | None = None) -> LocalRun:
    """Run a pipeline (or a single component) once with the current kfp.local config.

    `root` names the pipeline root when the caller's code, not init(), set it up.
    """
    start = time.perf_counter()
    outputs, error = None, None
    root = root or (_ROOT[0] if _ROOT else None)
    workdir = Path(root or ".").resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    # Tasks inherit the working directory: stray relative writes land beside the outputs, not in the repo.
    with _captured() as tee, warnings.catch_warnings(), contextlib.chdir(workdir):
        # Locally the image is not used; kfp warns about that for every non-python image.
        warnings.filterwarnings("ignore", message=".*non-Python base image.*", category=RuntimeWarning)
        try:
            result = func(**(arguments or {}))
            outputs = getattr(result, "outputs", result)  # a PipelineTask's outputs, by name
        except Exception as exc:  # the runner raises RuntimeError; bad arguments raise others
            error = exc
    text = tee.buffer.getvalue()
    parsed = parse_log(text)
    if error is not None and CONTAINER_REFUSED in str(error):
        reached = list(parsed["executed"])[-1] if parsed["executed"] else "a container component"
        sys.stdout.write(log_excerpt(text))  # pytest shows captured output under the failure
        raise CheckFailure(f"The local run reached task '{reached}' while {doing}. It is a container component, which "
                           "kfp.local's SubprocessRunner cannot run (it runs Python components only). Put that task "
                           "under a `dsl.If` on a parameter that is false in local runs, such as `deploy == True`.")
    if error is not None:
        failed = parsed["failed"][0] if parsed["failed"] else None
        where = f" in task '{failed}'" if failed else ""
        tb = learner_traceback(text)
        message = f"The local run failed{where} while {doing}: {ANSI.sub('', str(error)).strip()}"
        if tb:
            message += "\nTraceback (your component only):\n" + tb
        else:
            message += "\nRun the lab's file with python to see the full log."
        sys.stdout.write(log_excerpt(text, failed))  # pytest shows captured output under the failure
        raise RunFailed(message, failed)
    return LocalRun(outputs=outputs, seconds=time.perf_counter() - start, log=text,
                    root=root, **parsed)
