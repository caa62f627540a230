"""`kflab tune` on Experiments Katib would refuse: each mistake is one sentence, never a traceback."""

import copy

import pytest
import yaml

from kflab import katib, tune
from kflab.tune_search import TuneError
from tunekit import EXPERIMENT, cli, write


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


def test_a_budget_larger_than_the_grid_is_refused_as_katib_does(tmp_path):
    exp = copy.deepcopy(EXPERIMENT)
    exp["spec"]["algorithm"] = {"algorithmName": "grid"}
    exp["spec"]["parameters"][0] = {"name": "lr", "parameterType": "discrete", "feasibleSpace": {"list": ["0.05", "0.1"]}}
    exp["spec"]["maxTrialCount"] = 10
    with pytest.raises(TuneError, match="has 6 points.*at most 6"):
        tune.run(write(tmp_path, exp), out=tmp_path / "out", echo=lambda *_: None)


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
    assert cli(write(tmp_path, exp)) == 2
    said = capsys.readouterr().err
    assert said.startswith("kflab tune: ") and words in said and "Traceback" not in said, said


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
    assert cli(path) == 2
    said = capsys.readouterr().err
    assert said.startswith("kflab tune: ") and words in said and "Traceback" not in said, said


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
