"""`kflab tune`: Katib semantics run locally (with tiny trial scripts, so no torch start-up)."""

import copy
import json

from kflab import katib, katib_trial, tune
from tunekit import EXPERIMENT, cli, write


def test_tune_runs_the_budget_and_writes_results_and_plot(tmp_path):
    result = tune.run(write(tmp_path), out=tmp_path / "out", echo=lambda *_: None)
    assert [t.status for t in result.trials] == ["Succeeded"] * 4
    assert result.best.objective == max(t.objective for t in result.trials)
    # Katib's default strategy for a maximized objective is the max over reported values.
    assert all(t.objective == max(katib_trial.parse_metrics(t.log.read_text(), ["accuracy"])["accuracy"]) for t in result.trials)
    files = __import__("kflab.tune_report", fromlist=["write"]).write(result)
    data = json.loads(files[0].read_text())
    assert data["status"] == "Succeeded" and len(data["trials"]) == 4 and files[1].stat().st_size > 1000


def test_substituted_values_reach_the_trial_command(tmp_path):
    result = tune.run(write(tmp_path), max_trials=2, out=tmp_path / "out", echo=lambda *_: None)
    for t in result.trials:
        assert f"--lr={t.assignment['lr']}" in t.argv and f"--width={t.assignment['width']}" in t.argv
        assert 0.01 <= float(t.assignment["lr"]) <= 0.5 and t.assignment["width"] in {"1", "2", "3"}


def test_parallel_trials_overlap(tmp_path):
    result = tune.run(write(tmp_path), max_trials=2, parallel=2, out=tmp_path / "out", echo=lambda *_: None)
    assert len(result.trials) == 2
    logs = [t.log for t in result.trials]
    assert all(log.exists() for log in logs)


def test_stops_when_the_goal_is_reached(tmp_path):
    exp = copy.deepcopy(EXPERIMENT)
    exp["spec"]["objective"]["goal"] = 0.1  # every trial reaches it
    exp["spec"]["parallelTrialCount"] = 1
    result = tune.run(write(tmp_path, exp), out=tmp_path / "out", echo=lambda *_: None)
    assert len(result.trials) == 1 and "goal" in result.reason and result.status == "Succeeded"


def test_trials_still_running_at_the_goal_run_to_the_end_as_in_katib(tmp_path):
    exp = copy.deepcopy(EXPERIMENT)
    exp["spec"]["objective"]["goal"] = 0.1  # the quick first trial reaches it while the second still runs
    lines = []
    result = tune.run(write(tmp_path, exp, mode="stagger"), max_trials=2, parallel=2, out=tmp_path / "out", echo=lines.append)
    assert [t.status for t in result.trials] == ["Succeeded", "Succeeded"], f"no trial is killed: {lines}"
    assert "goal" in result.reason and any("letting the 1 running trial(s) finish" in line for line in lines), lines


def test_a_crashing_trial_counts_as_failed_and_shows_its_output(tmp_path):
    lines = []
    result = tune.run(write(tmp_path, mode="crash"), parallel=1, out=tmp_path / "out", echo=lines.append)
    assert result.status == "Failed" and "maxFailedTrialCount" in result.reason
    assert [t.status for t in result.trials] == ["Failed", "Failed"]  # stops at maxFailedTrialCount = 2
    text = "\n".join(lines)
    assert "exited with status 1" in text and "CUDA out of memory (pretend)" in text


def test_a_trial_without_the_objective_metric_is_metrics_unavailable(tmp_path):
    result = tune.run(write(tmp_path, mode="silent"), parallel=1, max_failed=1, out=tmp_path / "out", echo=lambda *_: None)
    assert [t.status for t in result.trials] == ["MetricsUnavailable"] and result.status == "Failed"


def test_grid_runs_each_point_once(tmp_path):
    exp = copy.deepcopy(EXPERIMENT)
    exp["spec"]["algorithm"] = {"algorithmName": "grid"}
    exp["spec"]["parameters"][0] = {"name": "lr", "parameterType": "discrete", "feasibleSpace": {"list": ["0.05", "0.1"]}}
    exp["spec"]["maxTrialCount"] = 6
    result = tune.run(write(tmp_path, exp), out=tmp_path / "out", echo=lambda *_: None)
    points = [(t.assignment["lr"], t.assignment["width"]) for t in result.trials]
    assert len(points) == 6 and len(set(points)) == 6, f"2 x 3 points, each tried once: {points}"


def test_a_trial_parameter_can_refer_to_the_trials_metadata(tmp_path):
    exp = copy.deepcopy(EXPERIMENT)
    template = exp["spec"]["trialTemplate"]
    template["trialParameters"].append({"name": "trialName", "reference": "${trialSpec.Name}"})
    template["trialSpec"]["spec"]["template"]["spec"]["containers"][0]["command"].append("--mode=${trialParameters.trialName}")
    assert katib.problems(exp) == [], "Katib's webhook accepts ${trialSpec.Name} (isMetaKey)"
    result = tune.run(write(tmp_path, exp), max_trials=2, parallel=1, out=tmp_path / "out", echo=lambda *_: None)
    assert [t.argv[-1] for t in result.trials] == ["--mode=toy-000", "--mode=toy-001"], "each trial gets its own name"


def test_metric_strategies_follow_katib():
    values = katib_trial.parse_metrics("accuracy=0.5\nnoise\nepoch=2 accuracy=0.9 loss=0.1\naccuracy=0.7", ["accuracy", "loss"])
    assert values == {"accuracy": [0.5, 0.9, 0.7], "loss": [0.1]}
    objective = {"type": "maximize", "objectiveMetricName": "accuracy"}
    assert katib_trial.reduce(values["accuracy"], katib_trial.strategy(objective, "accuracy")) == 0.9
    latest = {**objective, "metricStrategies": [{"name": "accuracy", "value": "latest"}]}
    assert katib_trial.reduce(values["accuracy"], katib_trial.strategy(latest, "accuracy")) == 0.7
    assert katib_trial.strategy(objective, "loss") == "max", "additional metrics take the objective's direction (experiment_defaults.go)"
    assert katib_trial.strategy({**objective, "type": "minimize"}, "loss") == "min"


def test_cli_exit_codes(tmp_path, capsys):
    assert cli(write(tmp_path), "--max-trials", "1", "--out", str(tmp_path / "o")) == 0
    assert "best: trial 0" in capsys.readouterr().out
    exp = copy.deepcopy(EXPERIMENT)
    exp["spec"]["algorithm"]["algorithmName"] = "TPE"
    assert cli(write(tmp_path, exp)) == 2
    assert "case-sensitive" in capsys.readouterr().err
    assert cli(write(tmp_path, mode="crash"), "--out", str(tmp_path / "c")) == 1


def test_a_trial_that_could_not_start_or_printed_nothing_says_so(tmp_path):
    from kflab.tune_trials import Trial

    objective = {"objectiveMetricName": "accuracy"}
    never = Trial(1, {}, ["no-such-program"], tmp_path / "1.log", status="Failed")
    never.log.write_text("kflab tune could not start 'no-such-program': [Errno 2] No such file or directory\n")
    said = tune._why(never, objective)
    assert "could not start." in said and "status None" not in said and "No such file" in said, said
    quiet = Trial(2, {}, ["python3", "train.py"], tmp_path / "2.log", status="Failed", exit_code=1)
    quiet.log.write_text("")
    assert tune._why(quiet, objective).endswith(f"exited with status 1. It printed nothing ({quiet.log}).")
