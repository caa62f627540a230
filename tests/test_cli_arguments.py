"""Bad values on the command line: each is refused up front, in one sentence, with exit status 2.

None of these command lines gets as far as grading, judging a mutant or starting a trial.
"""

from __future__ import annotations

import shutil

import pytest

from kflab import cli, paths, registry

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


@pytest.mark.parametrize("selector", ["²", "", " "])
def test_check_refuses_a_selector_that_is_no_stage_or_lab(capsys, selector):
    err = _refused(capsys, ["check", selector])
    assert "stage" in err and "lab" in err, err


def test_a_state_folder_kflab_cannot_make_is_one_sentence(capsys, tmp_path, monkeypatch):
    (tmp_path / "state").write_text("a file where the folder should be")
    monkeypatch.setenv("KFLAB_STATE", str(tmp_path / "state"))
    err = _refused(capsys, ["status"])
    assert "cannot use" in err and "Set KFLAB_STATE to a folder you can write to" in err, err


def test_promtool_gets_every_argument_after_its_name(capfd, tmp_path, monkeypatch):
    """`--`, --help and --version belong to promtool; kflab's parser once ate them and promtool read stdin instead."""
    from kflab import promtool

    fake = tmp_path / "promtool"
    fake.write_text('#!/bin/sh\nprintf "%s|" "$@"\n')
    fake.chmod(0o755)
    monkeypatch.setattr(promtool, "ensure", lambda: fake)
    for argv in (["check", "rules", "--", "out/rules.yaml"], ["--version"], ["--help"]):
        assert cli.main(["promtool", *argv]) == 0
        assert capfd.readouterr().out == "".join(f"{a}|" for a in argv), argv


def test_a_relative_target_is_read_from_where_it_was_typed(capsys, tmp_path, monkeypatch):
    lab = registry.get("1.1")
    shutil.copytree(lab.dir(paths.SOLUTIONS), lab.dir(tmp_path / "mine"))
    monkeypatch.chdir(tmp_path)
    assert cli.main(["check", "1.1", "--offline", "--target", "mine"]) == 0, "the folder mine/ here, not one in the repo"


def test_a_check_run_that_dies_without_a_verdict_says_so(capfd, tmp_path):
    """Learner code that calls os._exit() ends pytest at once: no verdict, so kflab check says what happened."""
    lab = registry.get("2.1")
    folder = lab.dir(tmp_path / "sub")
    shutil.copytree(lab.dir(paths.SOLUTIONS), folder)
    source = folder / "components.py"
    source.write_text("import os\nos._exit(3)\n" + source.read_text())
    assert cli.main(["check", "2.1", "--offline", "--target", str(tmp_path / "sub")]) == 3
    err = capfd.readouterr().err
    assert "ended (exit code 3) before it could give a verdict" in err and "kflab hint 2.1" in err, err


def test_tune_and_rules_refuse_an_output_they_cannot_write_before_any_work(capsys, tmp_path):
    (tmp_path / "afile").write_text("")
    err = _refused(capsys, ["tune", EXPERIMENT, "--out", str(tmp_path / "afile")])
    assert "is a file; give a folder" in err, err
    alerts = str(paths.SOLUTIONS / "stage3" / "07_monitoring" / "alerts.yaml")
    err = _refused(capsys, ["rules", alerts, "-o", str(tmp_path)])
    assert "is a folder; give a file name" in err, err


def test_dev_alone_lists_the_dev_commands(capsys):
    assert cli.main(["dev"]) == 2
    out = capsys.readouterr().out
    assert out.startswith("usage: kflab dev") and "mutants" in out, out



def test_ctrl_c_ends_a_check_with_a_sentence_and_status_130(capsys, monkeypatch):
    from kflab import checkrun

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(checkrun, "check", interrupted)
    status = cli.main(["check", "2.1"])
    err = capsys.readouterr().err
    assert status == 130, f"Ctrl-C ends `kflab check` with status 130, got {status}"
    assert "kflab check: stopped by Ctrl-C." in err and "run your lab's file with python" in err and "Traceback" not in err, err
