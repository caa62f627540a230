"""Where the grades go, and --only in a class not graded before: no crash, no phantom student.

Lab 1.1 offline, the quickest lab to grade; empty folders are refused without running pytest.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from graderkit import LIMITS

from kflab import registry
from kflab.grading import corpus, grader

LAB = registry.get("1.1")


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


def test_a_folder_without_submissions_is_refused_with_a_sentence(tmp_path):
    (tmp_path / "class").mkdir()
    (tmp_path / "class" / "README.txt").write_text("stray")
    with pytest.raises(grader.GradingError, match="holds no submissions"):
        grader.grade(tmp_path / "class", [LAB], out=tmp_path / "out", limits=LIMITS, show_progress=False)
