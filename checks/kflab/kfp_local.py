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
import inspect
import io
import json
import logging
import re
import time
import warnings
from pathlib import Path

from kflab import kfp_traceback
from kflab.failures import CheckFailure
from kflab.kfp_traceback import ANSI

EXECUTING = re.compile(r"Executing task '?([\w.-]+)'?")
CACHE_HIT = re.compile(r"Task '?([\w.-]+)'? cache hit")
SKIPPED = re.compile(r"Skipping (?:conditional )?task '?([\w.-]+)'?")
FINISHED = re.compile(r"Task '?([\w.-]+)'? finished with status (\w+)")
CONTAINER_REFUSED = "only supports running Lightweight Python Components"  # SubprocessRunner's RuntimeError


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


def reassigned(name: str, uri, fix: str, who: str = "the component") -> str:
    """The sentence for an output whose `.path` the learner's code set to a file of its own."""
    return (f"The {name} artifact points at {uri!r}, not where KFP put it: {who} reassigned `{name}.path`, which "
            f"breaks artifact upload on a cluster. Delete that line and {fix}.")


def expect_kfp_path(name: str, uri, root, fix: str, who: str = "the component") -> None:
    """Fail when output `name`'s file is not where KFP put it, under the run's root."""
    path = Path(uri or "")
    if root is None or not (path.is_absolute() and path.is_relative_to(root)):
        raise CheckFailure(reassigned(name, uri, fix, who))


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


def returned(value) -> str:
    """What a run returned, in words: nothing, the outputs by name, or the value."""
    if value is None or value == {}:
        return "nothing"
    if isinstance(value, dict):
        return "the outputs " + ", ".join(f"`{name}`" for name in value)
    return repr(value)


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


def learner_file(func) -> Path | None:
    """The file that defines a pipeline or component, when it is one (not a lambda around it)."""
    inner = getattr(func, "pipeline_func", None) or getattr(func, "python_func", None)
    try:
        return Path(inspect.getsourcefile(inner)) if inner else None
    except TypeError:
        return None


def run(func, arguments: dict | None = None, doing: str = "running your pipeline", root: Path | None = None,
        file: Path | None = None) -> LocalRun:
    """Run a pipeline (or a single component) once with the current kfp.local config.

    `root` names the pipeline root when the caller's code, not init(), set it up.
    `file` is the learner's file that holds the components and runs with python;
    without it, the file that defines `func`.
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
    if error is not None:
        _raise_for(error, text, parsed, doing, Path(file) if file else learner_file(func))
    return LocalRun(outputs=outputs, seconds=time.perf_counter() - start, log=text,
                    root=root, **parsed)


def _raise_for(error: Exception, text: str, parsed: dict, doing: str, source: Path | None) -> None:
    """A failed run as sentences: what failed, the learner's own traceback if any, how to see the whole log.

    The runner's log itself (KFP's frames, executor input, temporary paths) is never shown.
    """
    full_log = (f"Run `python {source.name}` in the lab's folder to see kfp.local's full log." if source
                else "Run the lab's pipeline file with python to see kfp.local's full log.")
    if CONTAINER_REFUSED in str(error):
        reached = list(parsed["executed"])[-1] if parsed["executed"] else "a container component"
        raise CheckFailure(f"The local run reached task '{reached}' while {doing}. It is a container component, which "
                           "kfp.local's SubprocessRunner cannot run (it runs Python components only). Put that task "
                           "under a `dsl.If` on a parameter that is false in local runs, such as `deploy == True`.")
    failed = parsed["failed"][0] if parsed["failed"] else None
    where = f" in task '{failed}'" if failed else ""
    tb = kfp_traceback.learner_traceback(text, source)
    if tb and "\n" in tb:  # frames of the component's own code
        raise RunFailed(f"The local run failed{where} while {doing}: your component raised "
                        f"{tb.splitlines()[-1].split(':')[0]}. {full_log}\nTraceback (your component only):\n{tb}", failed)
    if tb:  # KFP raised, outside the component's code
        raise RunFailed(f"The local run failed{where} while {doing}: KFP raised `{tb}` outside your component's code. "
                        f"{full_log}", failed)
    if failed:  # the runner's own error only repeats which task failed
        raise RunFailed(f"The local run failed{where} while {doing}, without a traceback. {full_log}", failed)
    said = kfp_traceback.without_temp_paths(ANSI.sub("", str(error)).strip()).rstrip(".")
    raise RunFailed(f"The local run failed while {doing}: {said}. {full_log}", failed)
