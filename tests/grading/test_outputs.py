"""The output formats: Gradescope's results.json, JUnit XML, grades.json, and feedback that reveals no checks."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from graderkit import LAB

from kflab.grading import outputs


def test_gradescope_results_have_a_score_and_one_test_per_checkpoint(graded_corpus):
    results = json.loads((graded_corpus["out"] / "gradescope" / "solution" / "results.json").read_text())
    assert results["score"] == LAB.points, "the top-level score is the student's total"
    tests = results["tests"]
    assert len(tests) == len(graded_corpus["rows"]["solution"]["labs"]["2.1"]["checks"]), "one test per checkpoint"
    for test in tests:
        assert {"name", "score", "max_score", "status", "output", "visibility"} <= test.keys(), test
        assert test["status"] in ("passed", "failed"), "Gradescope knows passed and failed"
    assert abs(sum(t["max_score"] for t in tests) - LAB.points) < 0.05, "the checkpoints' max scores add up to the lab's points"


def test_gradescope_output_of_a_failed_checkpoint_is_the_message_and_the_hint(graded_corpus):
    tests = json.loads((graded_corpus["out"] / "gradescope" / "starter" / "results.json").read_text())["tests"]
    failed = [t for t in tests if t["status"] == "failed"]
    assert failed and all(t["score"] == 0 for t in failed), "a starter fails every checkpoint"
    assert all(f"Hint: {LAB.hints[0]}" in t["output"] for t in failed), "each failure ends with the lab's first hint"


def test_a_refused_submission_still_gets_a_gradescope_test_with_its_reason(graded_corpus):
    results = json.loads((graded_corpus["out"] / "gradescope" / "archive_dotdot_zip" / "results.json").read_text())
    assert results["score"] == 0 and len(results["tests"]) == 1, "one test stands for the lab"
    assert "would be written outside" in results["tests"][0]["output"] and results["tests"][0]["max_score"] == LAB.points


def test_junit_has_a_suite_per_student_and_counts_that_match(graded_corpus):
    root = ET.parse(graded_corpus["out"] / "junit.xml").getroot()
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == set(graded_corpus["rows"]), "one testsuite per student"
    starter, timeout = suites["starter"], suites["infinite_loop"]
    assert starter.get("failures") == str(len(starter.findall("testcase"))), "every starter checkpoint is a failure"
    assert int(timeout.get("errors")) >= 1 and timeout.find("testcase/error").get("type") == "timeout", "a timeout is an error"
    assert suites["solution"].get("failures") == "0" and suites["solution"].get("errors") == "0"


def test_grades_json_holds_the_labs_and_every_row(graded_corpus):
    data = json.loads((graded_corpus["out"] / "grades.json").read_text())
    assert data["labs"] == [{"id": "2.1", "title": LAB.title, "points": LAB.points}] and data["max_total"] == LAB.points
    assert {s["name"] for s in data["students"]} == set(graded_corpus["rows"]), "every student is in grades.json"


def test_feedback_gives_messages_and_hints_but_never_the_checks_source(graded_corpus):
    source_lines = [ln.strip() for ln in LAB.check_file.read_text().splitlines() if len(ln.strip()) > 25]
    for path in (graded_corpus["out"] / "feedback").glob("*.md"):
        text = path.read_text()
        leaked = [ln for ln in source_lines if ln in text]
        assert not leaked, f"{path.name} shows lines of the checks: {leaked[:3]}"
        for never in ("Traceback (most recent call last)", "INTERNALERROR", str(LAB.check_file), "kflab-grade-"):
            assert never not in text, f"{path.name} shows {never!r}"
    starter = (graded_corpus["out"] / "feedback" / "starter.md").read_text()
    assert "data_preprocessing has no parameter `test_size`" in starter, "the learner-facing message is there"
    assert LAB.hints[0] in starter and "kflab hint 2.1" in starter, "and the hint, with where to find more"


def test_csv_escapes_reasons_with_commas_and_quotes():
    row = {"name": "x", "status": "crashed", "reason": 'a, "b"', "notes": ["n1", "n2"], "gaps": [], "total": 1.5,
           "max_total": 10, "labs": {"2.1": {"points": 1.5}}}
    text = outputs.csv_text([LAB], [row])
    assert text.splitlines()[1] == 'x,1.5,1.5,10,crashed,"a, ""b""",n1; n2', text


def test_gradescope_leaves_out_skipped_checkpoints_and_names_them_in_the_summary():
    from kflab.grading import scoring

    checks = {"test_a": {"outcome": "passed", "message": ""},
              "test_on_cluster": {"outcome": "skipped", "message": "no Kubernetes API answers"}}
    row = scoring.submission_result("ana", [LAB], {LAB.id: scoring.lab_result(LAB, checks)}, [])
    results = outputs.gradescope([LAB], row)
    assert [t["name"].rsplit(": ", 1)[1] for t in results["tests"]] == ["test_a"], "a skipped checkpoint is no failed test"
    assert results["tests"][0]["max_score"] == LAB.points and "Hint" not in results["tests"][0]["output"]
    assert "`test_on_cluster`: no Kubernetes API answers" in results["output"], results["output"]
