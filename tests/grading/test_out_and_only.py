"""Where the grades go, what a rerun keeps and removes, and --only: no crash, no phantom student, no mixed labs.

Lab 1.1 offline, the quickest lab to grade; empty folders are refused without running pytest.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from graderkit import LIMITS

from kflab import registry
from kflab.grading import corpus, grader, scoring, store

LAB = registry.get("1.1")
LAB_2_1 = registry.get("2.1")


def test_only_in_a_fresh_out_grades_that_one_and_marks_the_others_not_graded(tmp_path, capsys):
    folder = tmp_path / "class"
    corpus.build("solution", folder, "ana", [LAB])
    (folder / "ben").mkdir()  # has no result in the fresh out folder
    summary = grader.grade(folder, [LAB], out=tmp_path / "out", only="ana", limits=LIMITS, offline=True,
                           show_progress=True)  # the progress bar is where it crashed
    rows = {row["name"]: row for row in summary.rows}
    assert rows["ana"]["total"] == LAB.points, rows["ana"]
    assert "not graded yet: run without --only" in rows["ben"]["reason"], rows["ben"]
    assert (summary.graded, summary.unchanged) == (1, 0), "ben was neither graded nor unchanged"
    assert "ben: missing, 0/10 (not graded yet)" in capsys.readouterr().out
    assert (tmp_path / "out" / "grades.csv").is_file()


def test_grades_written_inside_the_submissions_folder_are_not_a_student(tmp_path, monkeypatch):
    folder = tmp_path / "class"
    (folder / "ana").mkdir(parents=True)
    monkeypatch.chdir(folder)  # `cd SUBS && kflab grade .` with the default --out grades
    for _ in range(2):  # the second run finds grades/ already there
        summary = grader.grade(Path("."), [LAB], out=Path("grades"), limits=LIMITS, offline=True, show_progress=False)
        assert [row["name"] for row in summary.rows] == ["ana"], summary.rows


def test_grades_inside_a_students_folder_are_refused_before_anything_is_written(tmp_path):
    folder = tmp_path / "class"
    (folder / "ana").mkdir(parents=True)
    with pytest.raises(grader.GradingError, match="lies inside ana's submission"):
        grader.grade(folder, [LAB], out=folder / "ana" / "grades", limits=LIMITS, show_progress=False)
    assert not (folder / "ana" / "grades").exists()


@pytest.mark.parametrize("below", ["", "sub"])
def test_an_out_that_is_a_file_or_under_one_is_refused_with_a_sentence(tmp_path, below):
    (tmp_path / "class").mkdir()
    (tmp_path / "a-file").write_text("")
    out = tmp_path / "a-file" / below if below else tmp_path / "a-file"
    with pytest.raises(grader.GradingError, match=r"a-file"):
        grader.grade(tmp_path / "class", [LAB], out=out, limits=LIMITS, show_progress=False)


def test_only_takes_the_name_as_handed_in_and_does_not_call_a_changed_submission_unchanged(tmp_path, capsys):
    folder, out = tmp_path / "class", tmp_path / "out"
    corpus.build("solution", folder, "Zoë Ångström", [LAB])
    corpus.build("starter", folder, "ana", [LAB])
    grader.grade(folder, [LAB], out=out, limits=LIMITS, offline=True, show_progress=False)
    shutil.rmtree(folder / "ana")
    corpus.build("solution", folder, "ana", [LAB])  # ana hands in again, fixed
    capsys.readouterr()
    summary = grader.grade(folder, [LAB], out=out, only="Zoë Ångström", limits=LIMITS, offline=True, show_progress=True)
    said = capsys.readouterr().out
    assert "ana: ok, 0/10 (changed since graded; not regraded (--only))" in said, said
    assert (summary.graded, summary.unchanged) == (1, 0), "ana changed, so she is not counted as unchanged"


def test_a_folder_without_submissions_is_refused_with_a_sentence_and_no_out_folder(tmp_path):
    (tmp_path / "class").mkdir()
    (tmp_path / "class" / "README.txt").write_text("stray")
    with pytest.raises(grader.GradingError, match="holds no submissions"):
        grader.grade(tmp_path / "class", [LAB], out=tmp_path / "out", limits=LIMITS, show_progress=False)
    assert not (tmp_path / "out").exists(), "a refused run leaves no empty grades folder behind"


def test_an_unknown_only_name_is_refused_before_the_out_folder_is_made(tmp_path):
    (tmp_path / "class" / "ana").mkdir(parents=True)
    with pytest.raises(grader.GradingError, match="no submission named 'nobody'"):
        grader.grade(tmp_path / "class", [LAB], out=tmp_path / "out", only="nobody", limits=LIMITS, show_progress=False)
    assert not (tmp_path / "out").exists(), "a refused run leaves no empty grades folder behind"


def test_only_refuses_when_the_others_were_graded_for_fewer_labs(tmp_path):
    folder, out = tmp_path / "class", tmp_path / "out"
    corpus.build("solution", folder, "ana", [LAB])
    corpus.build("starter", folder, "ben", [LAB])
    grader.grade(folder, [LAB], out=out, limits=LIMITS, offline=True, show_progress=False)
    before = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(grader.GradingError, match=r"ben in .* was graded for lab\(s\) 1\.1, not 1\.1 2\.1: .*--lab 1\.1.*"
                                                  r"run without --only"):
        grader.grade(folder, [LAB, LAB_2_1], out=out, only="ana", limits=LIMITS, offline=True, show_progress=False)
    after = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before, "a refused --only run leaves the grades as they were (no CSV with a 2.1 column ben lacks)"


def test_only_refuses_when_the_others_were_graded_for_more_labs(tmp_path):
    folder, out = tmp_path / "class", tmp_path / "out"
    for name in ("ana", "ben", "cleo"):
        (folder / name).mkdir(parents=True)
    for name in ("ben", "cleo"):  # stored by an earlier run of --lab 1.1 2.1
        store.Store(out).save(name, "an older key", scoring.refused(name, [LAB, LAB_2_1], "graded before"), "")
    with pytest.raises(grader.GradingError, match=r"ben, cleo in .* were graded for lab\(s\) 1\.1 2\.1, not 1\.1:"):
        grader.grade(folder, [LAB], out=out, only="ana", limits=LIMITS, offline=True, show_progress=False)
    assert not (out / "grades.csv").exists(), "no CSV whose totals count a lab its columns do not show"


def test_a_lab_named_twice_counts_once(tmp_path):
    folder = tmp_path / "class"
    corpus.build("solution", folder, "ana", [LAB])
    summary = grader.grade(folder, [LAB, LAB], out=tmp_path / "out", limits=LIMITS, offline=True, show_progress=False)
    row = summary.rows[0]
    assert (row["total"], row["max_total"]) == (LAB.points, LAB.points), f"--lab 1.1 1.1 is lab 1.1 once, not {row['total']}/{row['max_total']}"
    header = (tmp_path / "out" / "grades.csv").read_text().splitlines()[0]
    assert header.split(",").count(LAB.id) == 1, header


def test_a_rerun_removes_the_feedback_of_students_no_longer_handed_in(tmp_path):
    folder, out = tmp_path / "class", tmp_path / "out"
    for name in ("ana", "ben"):
        (folder / name).mkdir(parents=True)
    grader.grade(folder, [LAB], out=out, limits=LIMITS, show_progress=False)
    (out / "feedback" / "README.txt").write_text("the instructor's own")
    (out / "gradescope" / "cleo").mkdir()
    (out / "gradescope" / "cleo" / "upload.log").write_text("the instructor's own")
    (folder / "ben").rmdir()
    grader.grade(folder, [LAB], out=out, limits=LIMITS, show_progress=False)
    assert sorted(p.name for p in (out / "feedback").iterdir()) == ["README.txt", "ana.md"], \
        "ben's feedback goes with his submission, so feedback/ can be sent as it is; other files stay"
    assert sorted(p.name for p in (out / "gradescope").iterdir()) == ["ana", "cleo"], "ben's Gradescope folder goes"
    assert (out / "gradescope" / "cleo" / "upload.log").is_file(), "a file the grader did not write stays"


def test_a_fifo_in_a_folder_submission_does_not_hang_the_grader(tmp_path):
    import os
    import threading

    folder = tmp_path / "class"
    corpus.build("solution", folder, "ana", [LAB])
    os.mkfifo(LAB.dir(folder / "ana") / "pipe")
    rows: list[dict] = []
    run = threading.Thread(target=lambda: rows.extend(grader.grade(
        folder, [LAB], out=tmp_path / "out", limits=LIMITS, offline=True, show_progress=False).rows), daemon=True)
    run.start()
    run.join(timeout=240)
    if not rows:  # let a stuck reader go
        os.close(os.open(LAB.dir(folder / "ana") / "pipe", os.O_WRONLY | os.O_NONBLOCK))
    assert rows, "the grader waited on a FIFO in the submission before grading started"
    assert rows[0]["total"] == LAB.points and any("pipe" in n for n in rows[0]["notes"]), rows[0]
