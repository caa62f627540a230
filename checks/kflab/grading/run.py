"""Grade one submission: unpack, copy into a fresh box, run the checks, turn what happened into a row.

A lab that outlives its wall-time limit, or a pytest that dies, does not sink the
others: what finished keeps its verdicts, the lab that was running gets the
reason, and the labs that had not started run again in a fresh pytest.
"""

from __future__ import annotations

import dataclasses
import signal
import tempfile
import time
from pathlib import Path

from kflab.grading import attempt, confine, intake, isolate, scoring, store
from kflab.registry import Lab


@dataclasses.dataclass
class Job:
    """Everything needed to grade one submission."""

    sub: intake.Submission
    labs: list[Lab]
    limits: confine.Limits
    offline: bool
    network: bool  # keep the network (cluster checks against a reachable API)
    work: Path  # the grader's temporary folder; each submission gets a fresh folder below it
    hide: list[Path]  # folders the submission must not see (solutions, the grades)


def grade_one(job: Job) -> tuple[dict, str]:
    """The submission's result (see scoring.submission_result) and the end of its pytest output."""
    started = time.time()
    folder = Path(tempfile.mkdtemp(prefix=f"{job.sub.name[:40]}-", dir=job.work))
    try:
        result, log = _grade(job, folder)
    finally:
        isolate.remove(folder)
    result["seconds"] = round(time.time() - started, 1)
    result["graded_at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    return result, log


def _grade(job: Job, folder: Path) -> tuple[dict, str]:
    name, labs, limits = job.sub.name, job.labs, job.limits
    if job.sub.problem:
        return scoring.refused(name, labs, job.sub.problem), ""
    notes: list[str] = []
    try:
        src = job.sub.path
        if job.sub.is_archive:
            src = folder / "unpacked"
            intake.unpack(job.sub.path, src, limits.max_submission_mb << 20)
        root = intake.labs_root(src)
        notes += isolate.scan_ignored(src)
        box = isolate.Box.make(folder)
        missing, copy_notes = isolate.copy_labs(root, labs, box.labs, src, limits.max_submission_mb << 20)
        notes += copy_notes
        notes += isolate.scan_tampering(box.labs)
    except (intake.IntakeError, isolate.TooBig) as exc:
        return scoring.refused(name, labs, str(exc), notes), ""

    if len(missing) == len(labs):  # one reason, not one per lab
        folders = ", ".join(lab.folder for lab in labs)
        return scoring.refused(name, labs, f"none of the labs' folders ({folders}) is in the submission", notes), ""
    per_lab = {lab.id: scoring.missing_lab(lab) for lab in labs if lab.id in missing}
    blocked = _blocked_tiers(job.network)
    todo = [lab for lab in labs if lab.id not in missing and lab.check_file.exists()]
    logs, isolation, peak, modules = [], None, 0.0, set()
    for number in range(1, len(todo) + 2):
        if not todo:
            break
        out = attempt.run(box, todo, limits, offline=job.offline, network=job.network, hide=job.hide,
                          tag=f"{name[:40]}-{number}")
        logs.append(f"==> pytest run {number}: labs {', '.join(lab.id for lab in todo)}; exit {out.code}\n{out.output}")
        isolation = isolation if isolation is not None else out.isolation
        _show_as_labs(out, box)
        peak = max(peak, out.peak_mb)
        modules = modules | set(out.modules) if out.modules is not None and modules is not None else None
        done = _settle(todo, out, limits, blocked)
        per_lab.update(done)
        if not done:  # no progress at all: say why for every lab left, and stop
            reason = _why(out, limits, None)
            per_lab.update({lab.id: scoring.cut_short(lab, {}, [], _status(out), reason) for lab in todo})
            break
        todo = [lab for lab in todo if lab.id not in done]

    result = scoring.submission_result(name, labs, per_lab, notes)
    gaps = _isolation_gaps(isolation, job.network) if isolation is not None else []  # no run, nothing to say
    result.update(isolation=isolation or {}, gaps=gaps, peak_memory_mb=peak, harness=store.harness_hashes(modules))
    return result, "\n".join(logs)


def _show_as_labs(out: attempt.Outcome, box: isolate.Box) -> None:
    """Messages name the learner's files as `labs/...`, not by the box's temporary path."""
    prefix = str(box.labs) + "/"
    for checks in out.results.values():
        for check in checks.values():
            if isinstance(check.get("message"), str):
                check["message"] = check["message"].replace(prefix, "labs/")


def _blocked_tiers(network: bool) -> dict[str, str]:
    """Tiers whose checkpoints skip on this grading machine, with the skip's reason."""
    from kflab import tiers

    blocked = {} if network else {"cluster": "not run here: no Kubernetes API for the grader"}
    if tiers.gpu_problem():
        blocked["gpu"] = "not run here: no CUDA GPU on the grading machine"
    return blocked


def _settle(labs: list[Lab], out: attempt.Outcome, limits: confine.Limits, blocked: dict[str, str]) -> dict[str, dict]:
    """The labs this run decided; labs it never reached are left for the next run."""
    finished_normally = out.reported and not out.stopped and out.code in (0, 1, 5)
    decided = {}
    for lab in labs:
        names = (out.collected or {}).get(lab.id, [])
        found = out.results.get(lab.id, {})
        got = {n: found[n] for n in names if n in found} | found  # in the order the checks ran
        complete = bool(names) and all(n in got for n in names)
        if finished_normally or (complete and lab.id != out.running) or (complete and out.reported):
            decided[lab.id] = scoring.lab_result(lab, got)
        elif lab.id == out.running:
            tiers = out.tiers.get(lab.id, {})
            cannot_run = {n: next(blocked[t] for t in tiers[n] if t in blocked)
                          for n in names if tiers.get(n, set()) & blocked.keys()}
            decided[lab.id] = scoring.cut_short(lab, got, names, _status(out), _why(out, limits, lab.id), cannot_run)
    return decided


def _status(out: attempt.Outcome) -> str:
    return "timeout" if out.stopped == "timeout" else "crashed"


def _why(out: attempt.Outcome, limits: confine.Limits, lab_id: str | None) -> str:
    """Why the run ended early; the row puts the lab's id in front, so a lab's reason does not repeat it."""
    where = "" if lab_id else " before any check started"
    if out.stopped == "timeout":
        return (f"stopped after {limits.timeout:.0f} s (the time limit per lab){where}. Look for code that loops or "
                "waits forever: at import, in a notebook cell, or in a function the checks call")
    if out.stopped == "memory":
        return f"stopped after using more than {limits.memory_mb} MB of memory{where}"
    if out.stopped == "processes":
        return f"stopped after trying to start more than {limits.max_procs} processes{where}"
    if "MemoryError" in out.output:
        return f"ran out of memory (the limit is {limits.address_space_mb} MB per process){where}"
    number = -out.code if out.code < 0 else out.code - 128  # the wrapper's own death, or pytest's it relayed
    if number > 0 and number in signal.valid_signals():
        return f"the check run was killed by {signal.Signals(number).name}{where}"
    return f"the check run ended (exit code {out.code}) without reporting{where}"


def _isolation_gaps(facts: dict, network_kept: bool) -> list[str]:
    """What the sandbox could not do on this machine, said on the row."""
    gaps = []
    if network_kept:
        gaps.append("network not isolated: cluster checks need the Kubernetes API")
    elif "network" not in facts:
        gaps.append(f"network not isolated ({facts.get('namespaces_problem', 'no namespaces')})")
    if "files" not in facts:
        gaps.append(f"files outside the box not protected ({facts.get('files_problem') or facts.get('namespaces_problem') or 'no namespaces'})")
    if "processes" not in facts:
        gaps.append(f"process count bounded only by the grader's watch ({facts.get('processes_problem', 'no pids cgroup')})")
    return gaps
