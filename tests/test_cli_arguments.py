"""Bad values on the command line: each is refused up front, in one sentence, with exit status 2.

None of these command lines gets as far as grading, judging a mutant or starting a trial.
"""

from __future__ import annotations

import pytest

from kflab import cli, paths

EXPERIMENT = str(paths.SOLUTIONS / "stage3" / "03_katib_experiment" / "experiment.yaml")


def _refused(capsys, argv: list[str]) -> str:
    status = cli.main(argv)
    out, err = capsys.readouterr()
    assert status == 2, f"`kflab {' '.join(argv)}` should be refused with status 2, got {status}: {out}{err}"
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, f"one sentence, no traceback: {err!r}"
    return err


@pytest.mark.parametrize("flag, value", [
    ("--timeout", "-1"), ("--timeout", "0"), ("--timeout", "nan"), ("--timeout", "inf"),
    ("--jobs", "0"), ("--jobs", "-3"), ("--jobs", "two"),
])
def test_grade_refuses_a_timeout_or_job_count_it_cannot_use(capsys, tmp_path, flag, value):
    err = _refused(capsys, ["grade", str(tmp_path), "--lab", "1.1", "--out", str(tmp_path / "out"), flag, value])
    assert err.startswith(f"kflab: {flag} ") and value in err, err
    assert not (tmp_path / "out").exists(), "nothing is written before the arguments are accepted"


@pytest.mark.parametrize("stage", ["0", "7"])
def test_grade_refuses_a_stage_that_does_not_exist_zero_included(capsys, tmp_path, stage):
    err = _refused(capsys, ["grade", str(tmp_path), "--stage", stage, "--out", str(tmp_path / "out")])
    assert f"there is no stage {stage}" in err, "stage 0 is a stage number like any other, not 'every stage'"


@pytest.mark.parametrize("selector", ["9.9", "9"])
def test_dev_check_lint_only_refuses_a_selector_that_names_no_lab(capsys, selector):
    err = _refused(capsys, ["dev", "check", "--lint-only", selector])
    assert "there is no" in err, err


def test_dev_check_lint_only_does_not_claim_that_checks_ran(capsys, monkeypatch):
    from kflab import devcheck

    monkeypatch.setattr(devcheck, "lint", lambda: [])  # the message, whatever state the course is in mid-edit
    assert cli.main(["dev", "check", "--lint-only", "1.1"]) == 0
    out = capsys.readouterr().out
    assert "no check was run" in out and "tells starter from solution" not in out, out


@pytest.mark.parametrize("jobs", ["0", "-1"])
def test_dev_mutants_refuses_a_job_count_below_one(capsys, jobs):
    err = _refused(capsys, ["dev", "mutants", "1.1", "--jobs", jobs])
    assert "--jobs must be 1 or more" in err, err


def test_dev_mutants_refuses_an_out_path_it_cannot_write_before_the_run(capsys, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    err = _refused(capsys, ["dev", "mutants", "1.1", "--out", str(blocker / "verdicts.json")])
    assert "--out" in err and "mutants in" not in capsys.readouterr().out, "refused before any mutant is judged"
    err = _refused(capsys, ["dev", "mutants", "1.1", "--out", str(tmp_path)])
    assert "is a folder" in err, err


@pytest.mark.parametrize("args, says", [
    (["--max-trials", "-1"], "--max-trials must be 1 or more"),
    (["--max-trials", "0"], "--max-trials must be 1 or more"),
    (["--parallel", "0"], "--parallel must be 1 or more"),
    (["--max-failed", "-1"], "--max-failed must be 0 or more"),
    (["--trial-timeout", "0"], "--trial-timeout must be a number of seconds above 0"),
    (["--workdir", "/nonexistent-kflab-workdir"], "--workdir /nonexistent-kflab-workdir: there is no such folder"),
])
def test_tune_refuses_limits_and_a_workdir_it_cannot_use_before_any_trial(capsys, tmp_path, args, says):
    err = _refused(capsys, ["tune", EXPERIMENT, "--out", str(tmp_path / "tune"), *args])
    assert says in err, err
    assert not (tmp_path / "tune").exists(), "no trial started"


def test_an_empty_target_is_refused_not_read_as_labs():
    from kflab import targets

    with pytest.raises(targets.TargetError, match="--target is empty"):
        targets.resolve("")
