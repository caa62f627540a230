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


def test_a_lab_cut_short_says_why_once_and_leaves_out_what_could_not_have_run_here():
    lab = dataclasses.replace(LAB, points=10, weights=())
    result = scoring.cut_short(lab, _checks(a="passed"), ["a", "b", "c", "d"], "timeout", "stopped after 60 s",
                               cannot_run={"d": "not run here: no Kubernetes API for the grader"})
    checks = result["checks"]
    assert result["points"] == round(10 / 3, 2), "a, b and c count; the cluster checkpoint d would have been skipped"
    assert checks["b"]["message"] == "stopped after 60 s" and checks["c"]["message"].startswith("not reached")
    assert checks["d"]["outcome"] == "skipped" and checks["d"]["max_points"] == 0


def test_a_row_shows_its_worst_status_and_says_each_reason_once():
    other = dataclasses.replace(LAB, id="9.9")
    row = scoring.submission_result("x", [LAB, other], {LAB.id: scoring.missing_lab(LAB, "same"),
                                                        other.id: scoring.missing_lab(other, "same")}, [])
    assert row["status"] == "missing" and row["reason"] == "2.1, 9.9: same", row["reason"]
    row = scoring.submission_result("x", [LAB, other], {LAB.id: scoring.cut_short(LAB, {}, [], "timeout", "slow")}, [])
    assert row["status"] == "timeout", "timeout outranks a missing lab"


def test_a_timed_out_lab_on_a_grader_without_a_cluster_leaves_its_cluster_checkpoints_out():
    from graderkit import LIMITS

    from kflab.grading import attempt, run

    out = attempt.Outcome(code=-9, stopped="timeout", running=LAB.id, collected={LAB.id: ["a", "b", "c"]},
                          tiers={LAB.id: {"c": {"cluster"}}}, started={LAB.id},
                          results={LAB.id: {"a": {"outcome": "passed", "message": ""}}}, reported=False,
                          isolation={}, modules=None, peak_mb=0.0, output="")
    checks = run._settle([LAB], out, LIMITS, run._blocked_tiers(network=False))[LAB.id]["checks"]
    assert checks["c"]["outcome"] == "skipped" and "no Kubernetes API" in checks["c"]["message"], checks["c"]
    assert checks["b"]["outcome"] == "timeout" and "loops or waits forever" in checks["b"]["message"], checks["b"]


def test_checkpoint_shares_add_up_to_the_labs_points_to_the_hundredth():
    lab = dataclasses.replace(LAB, points=10, weights=())
    checks = scoring.lab_result(lab, _checks(**{c: "passed" for c in "abcdefg"}))["checks"]
    shares = [c["max_points"] for c in checks.values()]
    assert round(sum(shares), 2) == 10 and sorted(set(shares)) == [1.42, 1.43], \
        f"seven shares of 10 points are 1.43 or 1.42 and add up to 10, not 10.01: {shares}"
    assert sum(c["points"] for c in checks.values()) == sum(shares), "passed checkpoints get their whole share"
    thirds = scoring.lab_result(lab, _checks(a="passed", b="failed", c="passed"))["checks"]
    assert [c["max_points"] for c in thirds.values()] == [3.34, 3.33, 3.33], "the hundredth left over goes to the first"
    weighted = dataclasses.replace(lab, points=7, weights=(("b", 2.0),))
    cents = [c["max_points"] for c in scoring.lab_result(weighted, _checks(a="passed", b="passed", c="failed"))["checks"].values()]
    assert cents == [1.75, 3.5, 1.75] and sum(cents) == 7, f"weights 1, 2, 1 split 7 exactly: {cents}"
