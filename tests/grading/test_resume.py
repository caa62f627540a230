"""Resume, --only, and a grader killed mid-run: the final CSV is complete and correct."""

from __future__ import annotations

import csv
import glob
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from graderkit import LAB, LIMITS, leftover_processes

from kflab import paths
from kflab.grading import corpus, grader


def _csv(out: Path) -> dict[str, dict]:
    with open(out / "grades.csv", newline="") as fh:
        return {row["student"]: row for row in csv.DictReader(fh)}


def _graded_at(out: Path) -> dict[str, str]:
    return {p.stem: json.loads(p.read_text())["graded_at"] for p in (out / "results").glob("*.json")}


def test_a_second_run_grades_only_what_is_missing_or_changed(graded_corpus):
    before, stamps = _csv(graded_corpus["out"]), _graded_at(graded_corpus["out"])
    summary = grader.grade(graded_corpus["folder"], [LAB], jobs=2, out=graded_corpus["out"], limits=LIMITS, show_progress=False)
    assert summary.graded == 0, "nothing changed, so nothing is graded again"
    assert _csv(graded_corpus["out"]) == before and _graded_at(graded_corpus["out"]) == stamps, "the outputs are rebuilt unchanged"


def test_only_regrades_the_named_submission_even_if_unchanged(graded_corpus):
    out = graded_corpus["out"]
    stamps = _graded_at(out)
    time.sleep(1.1)  # graded_at has one-second resolution
    summary = grader.grade(graded_corpus["folder"], [LAB], jobs=2, out=out, only="solution", limits=LIMITS, show_progress=False)
    after = _graded_at(out)
    assert summary.graded == 1 and after["solution"] != stamps["solution"], "--only regrades that one submission"
    assert {k: v for k, v in after.items() if k != "solution"} == {k: v for k, v in stamps.items() if k != "solution"}, \
        "--only leaves every other result alone"
    assert _csv(out)["solution"]["total"] == str(LAB.points) and len(_csv(out)) == len(stamps), "the CSV still lists everyone"


def test_only_with_an_unknown_name_is_refused_with_a_sentence(graded_corpus):
    with pytest.raises(grader.GradingError, match="no submission named 'nobody'"):
        grader.grade(graded_corpus["folder"], [LAB], out=graded_corpus["out"], only="nobody", limits=LIMITS)


def _kflab(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "kflab.cli", "grade", *args], cwd=paths.REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_a_grader_killed_mid_run_resumes_to_the_complete_csv(tmp_path):
    folder, out = tmp_path / "class", tmp_path / "out"
    folder.mkdir()
    kinds = {"ana": "solution", "ben": "starter", "cleo": "syntax_error", "dev": "solution"}
    for name, kind in kinds.items():
        corpus.build(kind, folder, name, [LAB])
    args = [str(folder), "--lab", "2.1", "--jobs", "1", "--timeout", "60", "--out", str(out)]

    first = _kflab(*args)
    deadline = time.monotonic() + 120
    while not list((out / "results").glob("*.json")) and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.2)
    first.send_signal(signal.SIGKILL)  # no chance to clean up: results on disk are all that survives
    first.wait()
    survived = _graded_at(out)
    assert 0 < len(survived) < len(kinds), f"the kill should land mid-run; results on disk: {sorted(survived)}"
    for _ in range(50):  # every box dies with the grader (parent-death signal, PID namespace)
        if not leftover_processes(first.pid):
            break
        time.sleep(0.1)
    assert leftover_processes(first.pid) == [], "no process of the killed grader's boxes survives it"

    second = _kflab(*args)
    output = second.communicate(timeout=300)[0].decode()
    assert second.returncode == 0, output
    rows = _csv(out)
    assert {n: float(r["total"]) for n, r in rows.items()} == {"ana": 10, "ben": 0, "cleo": 0, "dev": 10}, output
    assert all(r["status"] == "ok" for r in rows.values()), rows
    assert {n: t for n, t in _graded_at(out).items() if n in survived} == survived, "what had finished is not graded again"
    assert not glob.glob(f"{tempfile.gettempdir()}/kflab-grade-{first.pid}-*"), "the killed grader's temporary folder is removed"

    # A student who hands in again is regraded; nobody else is.
    (LAB.dir(folder / "ben") / "components.py").write_bytes((LAB.dir(paths.SOLUTIONS) / "components.py").read_bytes())
    third = _kflab(*args)
    output = third.communicate(timeout=300)[0].decode()
    assert "Graded 1 submission(s), 3 unchanged" in output, output
    assert float(_csv(out)["ben"]["total"]) == 10, "the changed submission gets its new grade"


def test_no_stale_cgroup_of_a_killed_grader_is_left():
    base = grader.confine._pids_hierarchy()
    if base is None:
        pytest.skip("no pids cgroup here")
    grader.confine.remove_stale_cgroups()
    stale = [p.name for p in base.glob("kflab-grade-*") if not Path(f"/proc/{p.name.split('-')[2]}").exists()]
    assert stale == [], f"cgroups of dead graders are removed on the next run: {stale}"
    assert os.path.isdir(base)
