"""The robustness corpus: every kind of broken submission ends as a row with a clear reason."""

from __future__ import annotations

import csv
import os

import pytest

from graderkit import LAB, confined, corpus_kinds, leftover_processes, needs_confinement

FULL = LAB.points

# kind: (status, points, words that must appear in the reason, the messages or the notes)
EXPECTED = {
    "syntax_error": ("ok", 0, "syntax error"),
    "import_error": ("ok", 0, "ModuleNotFoundError"),
    "infinite_loop": ("timeout", 0, "time limit per lab"),
    "sleeper": ("timeout", 0, "time limit per lab"),
    "memory_hog": (None, 0, "memory"),
    "process_spawner": ("crashed", 0, "more than 64 processes"),
    "output_flood": ("ok", FULL, ""),
    "write_outside": ("ok", 0, "Read-only file system"),
    "checks_edited": ("ok", 0, "conftest.py"),
    "symlink_outside": ("ok", 0, "/etc/passwd"),
    "reads_solutions": ("ok", 0, "FileNotFoundError"),
    "forger": ("crashed", 0, "killed by SIGKILL"),  # its forged "passed" lines carry no valid signature
    "missing_lab": ("missing", 0, "none of the labs' folders (stage2/01_lightweight_components)"),
    "non_utf8": ("ok", 0, "not UTF-8 text"),
    "network": ("ok", FULL, ""),
    "archive_dotdot_zip": ("missing", 0, "would be written outside the submission"),
    "archive_dotdot_tar": ("missing", 0, "would be written outside the submission"),
}
CONFINED_ONLY = {"write_outside", "reads_solutions", "network"}


def everything_said(row: dict) -> str:
    """The row's reason, notes and every checkpoint message, as one text."""
    said = [row["reason"], *row["notes"]]
    for lab in row["labs"].values():
        said += [lab["reason"], *(c["message"] for c in lab["checks"].values())]
    return "\n".join(said).lower()


def test_every_submission_gets_exactly_one_row(graded_corpus):
    names = {p.name.split(".")[0] for p in graded_corpus["folder"].iterdir() if not p.name.startswith(".")}
    assert set(graded_corpus["rows"]) == names, "each folder or archive is one row, named after it"


def test_solutions_get_full_points_and_starters_none(graded_corpus):
    rows = graded_corpus["rows"]
    assert rows["solution"]["total"] == FULL, f"the reference solution should get {FULL}: {rows['solution']['reason']}"
    assert rows["zipped"]["total"] == FULL, "a zipped solution, one folder deep, is graded like a folder"
    assert rows["starter"]["total"] == 0 and rows["tarred"]["total"] == 0, "the starter earns nothing, as a folder or a .tar.gz"
    assert rows["starter"]["status"] == "ok", "a starter is an ordinary, gradable submission"


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_broken_kind_ends_as_a_row_with_its_reason(graded_corpus, kind):
    if kind not in corpus_kinds():
        pytest.skip("no OS bound on processes here, so the fork loop is not run")
    if kind in CONFINED_ONLY and not confined():
        pytest.skip("needs the sandbox's namespaces")
    status, points, words = EXPECTED[kind]
    row = graded_corpus["rows"][kind]
    assert row["total"] == points, f"{kind} should score {points}, got {row['total']} ({row['reason']})"
    if status:
        assert row["status"] == status, f"{kind} should end as {status}, not {row['status']} ({row['reason']})"
    assert words.lower() in everything_said(row), f"{kind}: the row should say {words!r}; it says {everything_said(row)[:600]}"


def test_checks_and_conftests_in_a_submission_are_ignored_and_reported(graded_corpus):
    notes = " ".join(graded_corpus["rows"]["checks_edited"]["notes"])
    for item in ("checks/", "conftest.py", "labs/stage2/01_lightweight_components/conftest.py"):
        assert item in notes, f"the row should report the ignored {item}: {notes}"


def test_code_that_reaches_into_pytest_is_named_in_the_notes(graded_corpus):
    """The grader cannot stop code imported into pytest from changing verdicts; it names that code for the instructor."""
    notes = " ".join(graded_corpus["rows"]["pytest_patcher"]["notes"])
    assert "labs/stage2/01_lightweight_components/components.py (_pytest, TestReport)" in notes, notes
    for kind in ("solution", "starter", "checks_edited"):
        assert "grader's internals" not in " ".join(graded_corpus["rows"][kind]["notes"]), f"{kind} touches nothing"


def test_links_leading_outside_are_skipped_and_reported(graded_corpus):
    notes = " ".join(graded_corpus["rows"]["symlink_outside"]["notes"])
    assert "/etc/passwd" in notes and "solutions/stage2/01_lightweight_components/components.py" in notes, notes


@needs_confinement
def test_the_network_is_isolated_and_said_to_be(graded_corpus):
    row = graded_corpus["rows"]["network"]
    assert "network" in row["isolation"], f"the sandbox should report its own network namespace: {row['isolation']}"
    assert not any("network" in gap for gap in row["gaps"]), row["gaps"]


def test_output_flood_keeps_only_the_end_of_the_log(graded_corpus):
    log = graded_corpus["out"] / "logs" / "output_flood.log"
    assert log.stat().st_size < 200_000, f"60 MB of output should leave a short log, not {log.stat().st_size} bytes"
    assert "earlier bytes of output not kept" in log.read_text(), "the log says that it was cut"


def test_nothing_outside_the_temporary_folders_changed(graded_corpus):
    assert graded_corpus["outside"].changes() == [], "grading must not change anything outside its temporary folders"


def test_no_process_of_the_boxes_is_left_running(graded_corpus):
    assert leftover_processes(os.getpid()) == [], "every process a submission started ends with its grading"


def test_csv_has_a_row_per_student_with_lab_points_total_and_status(graded_corpus):
    with open(graded_corpus["out"] / "grades.csv", newline="") as fh:
        rows = {r["student"]: r for r in csv.DictReader(fh)}
    assert set(rows) == set(graded_corpus["rows"]), "the CSV lists every submission"
    for name, row in graded_corpus["rows"].items():
        assert float(rows[name]["2.1"]) == row["labs"]["2.1"]["points"], f"{name}: the lab column holds its points"
        assert float(rows[name]["total"]) == row["total"] and rows[name]["status"] == row["status"], name
