"""`kflab grade`: a whole class in one call, N submissions at a time, resumable.

grade() discovers the submissions, skips those whose result file holds the same
key (content of the submission + of the checks), grades the rest in parallel
(each one in its own box and process group), and rebuilds every output from the
result files, so the CSV is complete after any interrupted run and a rerun.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path

from kflab import paths
from kflab.grading import attempt, confine, intake, outputs, progress, scoring, store
from kflab.grading.run import Job, grade_one
from kflab.registry import Lab


class GradingError(ValueError):
    """The command cannot start (no such folder, no such submission); the message says why."""


@dataclasses.dataclass
class Summary:
    out: Path
    rows: list[dict]
    graded: int
    unchanged: int
    gaps: list[str]

    def text(self) -> str:
        counts = {s: sum(r["status"] == s for r in self.rows) for s in scoring.STATUSES}
        lines = [f"Graded {self.graded} submission(s), {self.unchanged} unchanged since the last run: "
                 + ", ".join(f"{n} {s}" for s, n in counts.items() if n),
                 f"Outputs in {self.out}/: grades.csv, grades.json, junit.xml, gradescope/, feedback/ (logs/ for you only)"]
        lines += [f"Note: {gap}" for gap in self.gaps]
        return "\n".join(lines)


def default_jobs() -> int:
    return max(1, (os.cpu_count() or 2) // 2)


def grade(submissions: Path, labs: list[Lab], *, jobs: int = 1, out: Path = Path("grades"), only: str | None = None,
          limits: confine.Limits | None = None, offline: bool = False, show_progress: bool = True) -> Summary:
    """Grade every submission in `submissions` (or only `only`) and write all outputs to `out`."""
    folder, out, limits = Path(submissions), Path(out), limits or confine.Limits()
    labs = list({lab.id: lab for lab in labs}.values())  # `--lab 1.1 1.1` is lab 1.1 once, not twice the points
    if not folder.is_dir():
        raise GradingError(f"{folder} is not a folder. Give a folder holding one folder or archive per student.")
    _check_out(out)
    subs = _submissions(folder, out)
    if not subs:
        raise GradingError(f"{folder} holds no submissions: give a folder with one folder, .zip or .tar.gz per student.")
    results = store.Store(out)
    if only:  # the row's name, or the folder or archive as handed in
        match = next((s for s in subs if s.name in (only, intake.safe_name(only)) or s.path.name == only), None)
        if match is None:
            raise GradingError(f"there is no submission named {only!r} in {folder} (names: {', '.join(s.name for s in subs[:8])}...)")
        only = match.name
        _check_same_labs(results, [s.name for s in subs if s.name != only], labs, out)
    _install_tools(labs)
    _make_out(out)  # before any box starts, so that every box hides it
    network = not offline and any("cluster" in lab.tiers for lab in labs) and _cluster_reachable()
    options = {"labs": [lab.id for lab in labs], "offline": offline, "network": network, "limits": dataclasses.asdict(limits)}
    checks_key = store.checks_key(labs, options)
    keys = {s.name: hashlib.sha256((intake.content_hash(s, [lab.folder for lab in labs]) + checks_key).encode()).hexdigest()
            for s in subs}
    todo = [s for s in subs if s.name == only] if only else [s for s in subs if not results.up_to_date(s.name, keys[s.name])]

    bar = progress.Progress(len(subs), enabled=show_progress)
    kept = {s.name: results.load(s.name) for s in subs if s not in todo}  # with --only, some may have no result yet
    current = {name for name in kept if results.up_to_date(name, keys[name])}
    for name, found in kept.items():
        note = "unchanged" if name in current else "changed since graded; not regraded (--only)" if found else "not graded yet"
        bar.update(name, found or _not_graded(name, labs), graded=False, note=note)
    failures = _grade_all(todo, labs, limits, offline, network, out, results, keys, jobs, bar)
    bar.close()

    rows = [failures.get(s.name) or results.load(s.name) or _not_graded(s.name, labs) for s in subs]
    outputs.write_all(out, labs, rows)
    gaps = sorted({gap for row in rows for gap in row.get("gaps", [])})
    return Summary(out, rows, len(todo), len(current), gaps)


def _not_graded(name: str, labs: list[Lab]) -> dict:
    return scoring.refused(name, labs, "not graded yet: run without --only")


def _check_same_labs(results: store.Store, others: list[str], labs: list[Lab], out: Path) -> None:
    """--only keeps the other rows as stored: refuse if they were graded for other labs than `labs`.

    Mixed in, such a row has no column for a new lab, or points for a lab the CSV does not show.
    """
    wanted, stray = [lab.id for lab in labs], {}
    for name in others:
        row = results.load(name)
        if row is not None and set(store.lab_ids(row)) != set(wanted):
            stray.setdefault(" ".join(store.lab_ids(row)), []).append(name)
    if stray:
        ids, names = next(iter(stray.items()))
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        raise GradingError(
            f"--only keeps the other students' stored grades, but {shown} in {out}/ "
            f"{'was' if len(names) == 1 else 'were'} graded for lab(s) {ids or 'none'}, not {' '.join(wanted)}: to "
            f"regrade one student, give the labs they were graded for (--lab {ids}); to grade everyone for "
            f"{' '.join(wanted)}, run without --only.")


def _check_out(out: Path) -> None:
    """Refuse an --out that cannot be a folder before anything is written (nothing is created here)."""
    if out.exists() and not out.is_dir():
        raise GradingError(f"--out {out} is a file; give a folder for the grades (it is created if missing).")
    above = next((p for p in out.absolute().parents if p.exists()), None)
    if above is not None and not above.is_dir():
        raise GradingError(f"--out {out} lies under {above}, which is a file; give another folder for the grades.")


def _make_out(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GradingError(f"cannot create the grades folder {out} ({exc.strerror}); give another --out.") from None


def _submissions(folder: Path, out: Path) -> list[intake.Submission]:
    """The submissions in `folder`, less the grader's own output folder when it lies there (`kflab grade .`)."""
    out = out.resolve()
    subs = []
    for sub in intake.discover(folder):
        where = sub.path.resolve()
        if where == out:
            continue
        if out.is_relative_to(where):
            raise GradingError(f"--out {out} lies inside {sub.name}'s submission; write the grades "
                               f"outside {folder.resolve()} or directly in it.")
        subs.append(sub)
    return subs


def _grade_all(todo, labs, limits, offline, network, out, results, keys, jobs, bar) -> dict[str, dict]:
    """Grade `todo` with `jobs` workers; saves each result as it lands. Returns rows the grader itself failed on."""
    confine.remove_stale_cgroups()
    _remove_stale_work()
    work = Path(tempfile.mkdtemp(prefix=f"kflab-grade-{os.getpid()}-"))
    hide = [paths.SOLUTIONS, out.resolve()]
    failures, futures = {}, {}
    pool = cf.ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="kflab-grade")
    try:
        futures = {pool.submit(grade_one, Job(s, labs, limits, offline, network, work, hide)): s for s in todo}
        for future in cf.as_completed(futures):
            sub = futures[future]
            try:
                row, log = future.result()
                results.save(sub.name, keys[sub.name], row, log)
            except Exception as exc:  # a bug of ours must not cost the other students their grades
                row = scoring.refused(sub.name, labs, f"the grader failed on this submission ({type(exc).__name__}: {exc}); it will be retried")
                row["status"] = "crashed"
                failures[sub.name] = row
            bar.update(sub.name, row)
    except BaseException:
        for future in futures:
            future.cancel()
        attempt.kill_all()
        raise
    finally:
        pool.shutdown(wait=True)
        shutil.rmtree(work, ignore_errors=True)
    return failures


def _install_tools(labs: list[Lab]) -> None:
    """Programs that the labs' checks run (the registry's `tools`), installed once: the boxes have no network."""
    import importlib

    from kflab.registry import TOOLS

    for tool in sorted({t for lab in labs for t in lab.tools}):
        module, function = TOOLS[tool].split(":")
        try:
            getattr(importlib.import_module(module), function)()
        except RuntimeError as exc:  # each installer's error says what to do
            raise GradingError(f"the checks of {', '.join(lab.id for lab in labs if tool in lab.tools)} need "
                               f"{tool}, which is not installed: {exc}") from None


def _cluster_reachable() -> bool:
    from kflab import tiers

    return tiers.cluster_problem() is None


def _remove_stale_work() -> None:
    """Temporary folders of graders that were killed (their pid is in the name)."""
    for path in Path(tempfile.gettempdir()).glob("kflab-grade-*"):
        match = re.match(r"kflab-grade-(\d+)-", path.name)
        if match and path.is_dir() and not Path(f"/proc/{match.group(1)}").exists():
            shutil.rmtree(path, ignore_errors=True)
