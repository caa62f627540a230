"""Points from the registry: a lab's points split over its checkpoints by weight, skipped ones left out."""

from __future__ import annotations

import dataclasses

from graderkit import LAB

from kflab.grading import scoring


def _checks(**outcomes: str) -> dict[str, dict]:
    return {name: {"outcome": outcome, "message": ""} for name, outcome in outcomes.items()}


def test_a_lab_splits_its_points_by_the_registry_weights():
    lab = dataclasses.replace(LAB, points=10, weights=(("test_b", 3.0),))
    result = scoring.lab_result(lab, _checks(test_a="passed", test_b="failed"))
    assert result["points"] == 2.5 and result["checks"]["test_b"]["max_points"] == 7.5, "weights 1 and 3 split 10 as 2.5 and 7.5"


def test_parametrized_checkpoints_share_their_function_weight():
    lab = dataclasses.replace(LAB, points=9, weights=(("test_p", 2.0),))
    result = scoring.lab_result(lab, _checks(**{"test_p[a]": "passed", "test_q": "passed", "test_r": "failed"}))
    assert result["points"] == 6.75, "test_p[a] weighs 2 of 4 shares, so with test_q 3 of 4 pass"


def test_skipped_checkpoints_do_not_count_and_totals_are_rounded_once():
    lab = dataclasses.replace(LAB, points=10, weights=())
    result = scoring.lab_result(lab, _checks(a="passed", b="passed", c="passed", d="passed", e="passed", f="passed",
                                             g="skipped"))
    assert result["points"] == 10.0, "six passed checkpoints of 10/6 each make 10, not 10.02; the skipped one is left out"


def test_a_lab_cut_short_keeps_what_finished():
    result = scoring.cut_short(LAB, _checks(test_a="passed"), ["test_a", "test_b"], "timeout", "stopped")
    assert result["status"] == "timeout" and result["points"] == LAB.points / 2, "half the checkpoints had passed"
    assert result["checks"]["test_b"] == {"outcome": "timeout", "message": "stopped", "points": 0.0, "max_points": LAB.points / 2}


def test_a_row_shows_its_worst_status_and_says_each_reason_once():
    other = dataclasses.replace(LAB, id="9.9")
    row = scoring.submission_result("x", [LAB, other], {LAB.id: scoring.missing_lab(LAB, "same"),
                                                        other.id: scoring.missing_lab(other, "same")}, [])
    assert row["status"] == "missing" and row["reason"] == "2.1, 9.9: same", row["reason"]
    row = scoring.submission_result("x", [LAB, other], {LAB.id: scoring.cut_short(LAB, {}, [], "timeout", "slow")}, [])
    assert row["status"] == "timeout", "timeout outranks a missing lab"
