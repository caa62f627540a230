"""`kflab tune`: Katib semantics run locally (with tiny trial scripts, so no torch start-up)."""

import argparse
import copy
import json

import pytest
import yaml

from kflab import katib, tune
from kflab.tune_search import TuneError

# A trial that scores its parameters: the best lr is 0.1; --crash makes it fail.
SCRIPT = """\
import argparse, os, sys, time
p = argparse.ArgumentParser()
p.add_argument("--lr", type=float)
p.add_argument("--width", type=int, default=1)
p.add_argument("--mode", default="ok")
a = p.parse_args()
if a.mode == "crash":
    print("starting", flush=True)
    sys.exit("RuntimeError: CUDA out of memory (pretend)")
if a.mode == "stagger":  # the first trial to start is quick, every later one takes 2 s
    try:
        os.close(os.open("first-trial", os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        time.sleep(2)
if a.mode == "silent":
    print("done, but no metric printed")
    sys.exit(0)
for epoch in range(3):
    print(f"epoch={epoch} loss={1 - epoch / 10} accuracy={(1 - abs(a.lr - 0.1)) * (epoch + 1) / 3:.4f}")
"""

EXPERIMENT = {
    "apiVersion": "kubeflow.org/v1beta1",
    "kind": "Experiment",
    "metadata": {"name": "toy"},
    "spec": {
        "objective": {"type": "maximize", "objectiveMetricName": "accuracy", "additionalMetricNames": ["loss"]},
        "algorithm": {"algorithmName": "tpe", "algorithmSettings": [{"name": "random_state", "value": "3"}]},
        "parallelTrialCount": 2, "maxTrialCount": 4, "maxFailedTrialCount": 2,
        "parameters": [
            {"name": "lr", "parameterType": "double", "feasibleSpace": {"min": "0.01", "max": "0.5", "distribution": "logUniform"}},
            {"name": "width", "parameterType": "int", "feasibleSpace": {"min": "1", "max": "3"}},
        ],
        "trialTemplate": {
            "primaryContainerName": "main",
            "trialParameters": [{"name": "learningRate", "reference": "lr"}, {"name": "width", "reference": "width"}],
            "trialSpec": {"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "main", "image": "python:3.12",
                                "command": ["python3", "score.py", "--lr=${trialParameters.learningRate}",
                                            "--width=${trialParameters.width}"]}]}}}},
        },
    },
}


def write(tmp_path, experiment=None, mode="ok"):
    exp = copy.deepcopy(experiment or EXPERIMENT)
    if mode != "ok":
        exp["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]["command"].append(f"--mode={mode}")
    (tmp_path / "score.py").write_text(SCRIPT)
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(exp))
    return path


def test_tune_runs_the_budget_and_writes_results_and_plot(tmp_path):
    result = tune.run(write(tmp_path), out=tmp_path / "out", echo=lambda *_: None)
    assert [t.status for t in result.trials] == ["Succeeded"] * 4
    assert result.best.objective == max(t.objective for t in result.trials)
    # Katib's default strategy for a maximized objective is the max over reported values.
    assert all(t.objective == max(katib.parse_metrics(t.log.read_text(), ["accuracy"])["accuracy"]) for t in result.trials)
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


@pytest.mark.parametrize("name, words", [("TPE", ["case-sensitive", "'tpe'", "multivariate-tpe, random, grid, cmaes"]),
                                         ("hyperband", ["hyperband", "tpe, multivariate-tpe, random, grid, cmaes"]),
                                         ("optuna", ["not a Katib algorithm", "tpe, multivariate-tpe"])])
def test_a_wrong_algorithm_name_is_a_clear_error(tmp_path, name, words):
    exp = copy.deepcopy(EXPERIMENT)
    exp["spec"]["algorithm"] = {"algorithmName": name}
    with pytest.raises(TuneError) as err:
        tune.run(write(tmp_path, exp), out=tmp_path / "out", echo=lambda *_: None)
    assert all(w in str(err.value) for w in words), str(err.value)


def test_a_parameter_missing_from_the_template_is_a_clear_error(tmp_path):
    exp = copy.deepcopy(EXPERIMENT)
    exp["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]["command"].pop()
    with pytest.raises(TuneError, match=r"\$\{trialParameters\.width\} appears nowhere in the trialSpec"):
        tune.run(write(tmp_path, exp), out=tmp_path / "out", echo=lambda *_: None)


def test_a_reference_to_an_undeclared_parameter_is_a_clear_error(tmp_path):
    exp = copy.deepcopy(EXPERIMENT)
    exp["spec"]["trialTemplate"]["trialParameters"][1]["reference"] = "depth"
    exp["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]["command"].append("--x=${trialParameters.x}")
    with pytest.raises(TuneError) as err:
        tune.run(write(tmp_path, exp), out=tmp_path / "out", echo=lambda *_: None)
    assert "'depth' is not a parameter in spec.parameters" in str(err.value)
    assert "trialParameters declares no 'x'" in str(err.value)


def test_unquoted_feasible_space_values_and_typos_are_reported():
    exp = copy.deepcopy(EXPERIMENT)
    exp["spec"]["parameters"][0]["feasibleSpace"]["min"] = 0.01
    exp["spec"]["maxTrialCounts"] = 3
    found = katib.problems(exp)
    assert any("feasibleSpace.min" in p and "quote it" in p for p in found)
    assert any("did you mean 'maxTrialCount'" in p for p in found)


def test_grid_runs_each_point_once(tmp_path):
    exp = copy.deepcopy(EXPERIMENT)
    exp["spec"]["algorithm"] = {"algorithmName": "grid"}
    exp["spec"]["parameters"][0] = {"name": "lr", "parameterType": "discrete", "feasibleSpace": {"list": ["0.05", "0.1"]}}
    exp["spec"]["maxTrialCount"] = 6
    result = tune.run(write(tmp_path, exp), out=tmp_path / "out", echo=lambda *_: None)
    points = [(t.assignment["lr"], t.assignment["width"]) for t in result.trials]
    assert len(points) == 6 and len(set(points)) == 6, f"2 x 3 points, each tried once: {points}"


def test_a_budget_larger_than_the_grid_is_refused_as_katib_does(tmp_path):
    exp = copy.deepcopy(EXPERIMENT)
    exp["spec"]["algorithm"] = {"algorithmName": "grid"}
    exp["spec"]["parameters"][0] = {"name": "lr", "parameterType": "discrete", "feasibleSpace": {"list": ["0.05", "0.1"]}}
    exp["spec"]["maxTrialCount"] = 10
    with pytest.raises(TuneError, match="has 6 points.*at most 6"):
        tune.run(write(tmp_path, exp), out=tmp_path / "out", echo=lambda *_: None)


def test_a_trial_parameter_can_refer_to_the_trials_metadata(tmp_path):
    exp = copy.deepcopy(EXPERIMENT)
    template = exp["spec"]["trialTemplate"]
    template["trialParameters"].append({"name": "trialName", "reference": "${trialSpec.Name}"})
    template["trialSpec"]["spec"]["template"]["spec"]["containers"][0]["command"].append("--mode=${trialParameters.trialName}")
    assert katib.problems(exp) == [], "Katib's webhook accepts ${trialSpec.Name} (isMetaKey)"
    result = tune.run(write(tmp_path, exp), max_trials=2, parallel=1, out=tmp_path / "out", echo=lambda *_: None)
    assert [t.argv[-1] for t in result.trials] == ["--mode=toy-000", "--mode=toy-001"], "each trial gets its own name"


@pytest.mark.parametrize("change, words", [
    (lambda e: e["metadata"].update(name="a" * 41), "at most 40"),
    (lambda e: e["spec"]["trialTemplate"]["trialParameters"].append({"name": "again", "reference": "lr"}), "'lr' appears twice"),
    (lambda e: e["spec"]["trialTemplate"]["trialParameters"].append({"name": "team", "reference": "${trialSpec.Labels[team]}"}),
     "has no 'team'"),
    (lambda e: e["spec"]["trialTemplate"]["trialParameters"].append({"name": "uid", "reference": "${trialSpec.UID}"}),
     "Labels[key] or Annotations[key]"),
])
def test_the_webhooks_name_and_reference_rules(change, words):
    exp = copy.deepcopy(EXPERIMENT)
    change(exp)
    assert any(words in problem for problem in katib.problems(exp)), katib.problems(exp)


def test_tpe_refuses_settings_that_katibs_hyperopt_service_refuses():
    from kflab import tune_search

    algorithm = {"algorithmName": "tpe", "algorithmSettings": [{"name": "n_startup_trials", "value": "3"}]}
    with pytest.raises(TuneError, match="no setting 'n_startup_trials'"):
        tune_search.sampler(algorithm, EXPERIMENT["spec"]["parameters"])


def test_metric_strategies_follow_katib():
    values = katib.parse_metrics("accuracy=0.5\nnoise\nepoch=2 accuracy=0.9 loss=0.1\naccuracy=0.7", ["accuracy", "loss"])
    assert values == {"accuracy": [0.5, 0.9, 0.7], "loss": [0.1]}
    objective = {"type": "maximize", "objectiveMetricName": "accuracy"}
    assert katib.reduce(values["accuracy"], katib.strategy(objective, "accuracy")) == 0.9
    latest = {**objective, "metricStrategies": [{"name": "accuracy", "value": "latest"}]}
    assert katib.reduce(values["accuracy"], katib.strategy(latest, "accuracy")) == 0.7
    assert katib.strategy(objective, "loss") == "max", "additional metrics take the objective's direction (experiment_defaults.go)"
    assert katib.strategy({**objective, "type": "minimize"}, "loss") == "min"


def test_cli_exit_codes(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    tune.register_cli(parser.add_subparsers())

    def main(*argv):
        args = parser.parse_args(["tune", *argv])
        return args.func(args)

    assert main(str(write(tmp_path)), "--max-trials", "1", "--out", str(tmp_path / "o")) == 0
    assert "best: trial 0" in capsys.readouterr().out
    exp = copy.deepcopy(EXPERIMENT)
    exp["spec"]["algorithm"]["algorithmName"] = "TPE"
    assert main(str(write(tmp_path, exp))) == 2
    assert "case-sensitive" in capsys.readouterr().err
    assert main(str(write(tmp_path, mode="crash")), "--out", str(tmp_path / "c")) == 1


def _param(exp, name) -> dict:
    return next(p for p in exp["spec"]["parameters"] if p["name"] == name)


@pytest.mark.parametrize("name, field, value, words", [
    ("width", "step", "0", "parameter 'width': feasibleSpace.step must be above 0, not '0'"),
    ("width", "step", "-2", "parameter 'width': feasibleSpace.step must be above 0, not '-2'"),
    ("lr", "step", "0", "parameter 'lr': feasibleSpace.step must be above 0"),
    ("lr", "min", "0", "parameter 'lr' is logUniform, so feasibleSpace.min must be above 0"),
    ("lr", "min", "-0.1", "parameter 'lr' is logUniform, so feasibleSpace.min must be above 0"),
    ("width", "min", "1.5", "parameter 'width' is an int, so feasibleSpace.min must be a whole number"),
    ("width", "step", "0.5", "parameter 'width' is an int, so feasibleSpace.step must be a whole number"),
    ("width", "step", "two", "parameter 'width' is an int, so feasibleSpace.step must be a whole number"),
    ("width", "min", "5", "min (5) must be below max (3)"),
])
def test_a_search_space_no_sampler_can_use_is_a_sentence_naming_parameter_and_field(tmp_path, capsys, name, field, value, words):
    exp = copy.deepcopy(EXPERIMENT)
    _param(exp, name)["feasibleSpace"][field] = value
    if (name, field) == ("lr", "step"):
        _param(exp, "lr")["feasibleSpace"].pop("distribution")
    with pytest.raises(TuneError) as err:
        tune.run(write(tmp_path, exp), out=tmp_path / "out", echo=lambda *_: None)
    assert words in str(err.value), str(err.value)
    assert _cli(write(tmp_path, exp)) == 2
    said = capsys.readouterr().err
    assert said.startswith("kflab tune: ") and words in said and "Traceback" not in said, said


def _cli(path, *flags) -> int:
    parser = argparse.ArgumentParser()
    tune.register_cli(parser.add_subparsers())
    args = parser.parse_args(["tune", str(path), *flags])
    return args.func(args)


@pytest.mark.parametrize("content, words", [
    ("latin-1", "is not UTF-8 text. Save it as UTF-8"),
    ("utf-16", "is not UTF-8 text. Save it as UTF-8"),
    ("kind: Experiment\n  spec: [\n", "is not valid YAML on line 2: mapping values are not allowed here"),
    ("apiVersion: kubeflow.org/v1beta1\nkind: Experiment\nmetadata: {name: x}\nspec: hello\n", "- spec should be a mapping (key: value lines), not 'hello'"),
    ("apiVersion: kubeflow.org/v1beta1\nkind: Experiment\nmetadata: hello\nspec: [1]\n", "- metadata should be a mapping"),
])
def test_a_file_that_is_not_an_experiment_is_a_sentence_not_a_traceback(tmp_path, capsys, content, words):
    path = tmp_path / "experiment.yaml"
    if content in ("latin-1", "utf-16"):
        path.write_bytes(yaml.safe_dump(EXPERIMENT).replace("toy", "toy-\u00e9t\u00e9").encode(content))
    else:
        path.write_text(content)
    assert _cli(path) == 2
    said = capsys.readouterr().err
    assert said.startswith("kflab tune: ") and words in said and "Traceback" not in said, said


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


def test_a_file_without_an_experiment_says_what_it_holds(tmp_path):
    path = tmp_path / "pod.yaml"
    path.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n")
    with pytest.raises(tune.TuneError, match=r"should hold exactly one Experiment .* but holds none \(it holds a Pod\)"):
        tune.load(path)


def test_a_value_of_the_wrong_type_is_named_in_words_once():
    exp = copy.deepcopy(EXPERIMENT)
    exp["spec"]["objective"]["goal"] = "high"
    found = [p for p in katib.problems(exp) if "goal" in p]
    assert found == ["spec.objective.goal should be a number, not 'high'"], found
