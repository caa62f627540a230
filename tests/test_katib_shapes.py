"""Lab 3.3 and `kflab tune` on fields of the wrong shape: a sentence that says what to write, never a traceback.

A learner who writes `algorithm: tpe` or `feasibleSpace: "0.5-0.95"` gets the models' sentence, and every
other check either says the same in its own words or passes; none of them crashes on the shape.
"""

import copy
import shutil

import pytest

from kflab import checkrun, katib, katib_models, katib_template, paths, registry, tune_search, tune_trials
from kflab.failures import CheckFailure
from kflab.tune_search import TuneError
from tunekit import EXPERIMENT, cli, write

CRASH = "The check could not finish"  # what the plugin records when a check raised something other than a sentence
RAW = ("Traceback", "AttributeError", "TypeError", "KeyError", "object has no attribute")


def _spec(exp):
    return exp["spec"]


def _template(exp):
    return exp["spec"]["trialTemplate"]


def _container(exp):
    return exp["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]


# id: a change to tunekit's EXPERIMENT that gives one field the wrong shape
SHAPES = {
    "algorithm as a name": lambda e: _spec(e).update(algorithm="tpe"),
    "objective as a name": lambda e: _spec(e).update(objective="accuracy"),
    "parameters as a name": lambda e: _spec(e).update(parameters="lr"),
    "feasibleSpace as a range": lambda e: _spec(e)["parameters"][1].update(feasibleSpace="1-3"),
    "parameter name as a list": lambda e: _spec(e)["parameters"][0].update(name=["lr"]),
    "trialParameter as a name": lambda e: _template(e)["trialParameters"].__setitem__(1, "width"),
    "trialParameters as a mapping": lambda e: _template(e).update(trialParameters={"lr": "lr"}),
    "reference as a list": lambda e: _template(e)["trialParameters"][0].update(reference=["lr"]),
    "trialTemplate as a name": lambda e: _spec(e).update(trialTemplate="job"),
    "trialSpec as a name": lambda e: _template(e).update(trialSpec="job"),
    "collector as a kind": lambda e: _spec(e).update(metricsCollectorSpec={"collector": "StdOut"}),
    "algorithmSettings as a name": lambda e: _spec(e)["algorithm"].update(algorithmSettings="random_state"),
    "metadata as a name": lambda e: e.update(metadata="toy"),
    "spec as a name": lambda e: e.update(spec="toy"),
}


def _shaped(name):
    exp = copy.deepcopy(EXPERIMENT)
    SHAPES[name](exp)
    return exp


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_the_harness_reads_a_misshapen_experiment_without_crashing(shape):
    exp = _shaped(shape)
    assert all(isinstance(p, str) for p in katib.semantic_problems(exp))
    found = katib.problems(exp)
    assert found and all(isinstance(p, str) for p in found), f"{shape}: Katib would refuse it, so problems() must say why"
    spec = exp["spec"] if isinstance(exp["spec"], dict) else {}
    katib_template.flag_parameters(spec)
    katib_template.swapped_references(spec)
    katib_template.script_paths(spec)
    try:
        katib_template.sample_trial(spec)
    except CheckFailure:
        pass  # a sentence: what the check shows


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_kflab_tune_refuses_a_misshapen_experiment_with_a_sentence(tmp_path, shape, capsys):
    assert cli(write(tmp_path, _shaped(shape)), "--out", str(tmp_path / "out")) == 2
    said = capsys.readouterr().err
    assert said.startswith("kflab tune: ") and not any(w in said for w in RAW), said


@pytest.mark.parametrize("shape, words", [
    ("algorithm as a name", "write `algorithmName: tpe` on its own line under `algorithm:`"),
    ("objective as a name", "`objectiveMetricName: accuracy` on their own lines under `objective:`"),
    ("trialParameter as a name", "write each entry as `- name: width` with `reference: width`"),
])
def test_the_models_say_what_a_mapping_holds(shape, words):
    found = katib_models.model_problems(_shaped(shape))
    assert any(words in p for p in found), found


def test_a_feasible_space_written_as_a_range_is_told_to_list_min_and_max_not_to_quote():
    found = katib_models.model_problems(_shaped("feasibleSpace as a range"))
    assert found == ["spec.parameters[1].feasibleSpace should be a mapping (key: value lines), not '1-3': write the bounds on "
                     'their own lines under `feasibleSpace:`, as `min: "0.5"` and `max: "0.95"`'], found


def test_an_int_parameter_with_fractional_bounds_is_pointed_at_double():
    found = tune_search.space_problems([{"name": "lr", "parameterType": "int", "feasibleSpace": {"min": "0.01", "max": "0.3"}}])
    assert len(found) == 2 and all("make it `parameterType: double`" in p for p in found), found


def test_a_container_env_written_as_a_mapping_is_a_sentence():
    job = {"spec": {"containers": [{"name": "main", "command": ["python3"], "env": {"A": "1"}}]}}
    with pytest.raises(TuneError, match=r"its env is \{'A': '1'\}, not a list. Write each entry as `- name: X`"):
        tune_trials.command(job, "main")


def test_maxfailedtrialcount_zero_is_accepted_as_katibs_webhook_does():
    exp = copy.deepcopy(EXPERIMENT)
    exp["spec"]["maxFailedTrialCount"] = 0
    assert katib.problems(exp) == []
    exp["spec"]["maxFailedTrialCount"] = -1
    assert katib.problems(exp) == ["spec.maxFailedTrialCount: must be at least 0, got -1"]


def _swap(old: str, new: str):
    def mutate(text: str) -> str:
        assert old in text, f"the solution no longer contains {old!r}; update this case"
        return text.replace(old, new, 1)
    return mutate


# id: (mutation of the solution's experiment.yaml, {checkpoint that must fail: words its message must hold})
LAB_CASES = {
    "algorithm: tpe": (_swap('  algorithm:\n    algorithmName: tpe            # lower case: Katib\'s names are case-sensitive\n'
                             '    algorithmSettings:\n      - name: random_state\n        value: "42"\n', "  algorithm: tpe\n"),
                       {"test_algorithm_is_tpe": "spec.algorithm is 'tpe', a single value",
                        "test_katib_webhook_would_accept_the_experiment": "only once it fits the Experiment model",
                        "test_tuning_beats_the_untuned_baseline": "write `algorithmName: tpe` on its own line"}),
    "objective: accuracy": (_swap("  objective:\n    type: maximize\n    goal: 0.95\n    objectiveMetricName: accuracy\n"
                                  "    additionalMetricNames:\n      - loss\n", "  objective: accuracy\n"),
                            {"test_objective_maximizes_accuracy_with_a_goal": "spec.objective is 'accuracy', a single value"}),
    "trialParameter as a name": (_swap("      - name: momentum\n        description: SGD momentum\n        reference: momentum\n",
                                       "      - momentum\n"),
                                 {"test_every_trial_parameter_resolves": "'momentum' should be a mapping with a name and a reference",
                                  "test_trial_template_is_a_job_that_runs_train_py": "still holds ${trialParameters.momentum}"}),
    "feasibleSpace as a range": (_swap('      feasibleSpace:\n        min: "0.5"\n        max: "0.95"\n',
                                       '      feasibleSpace: "0.5-0.95"\n'),
                                 {"test_experiment_matches_the_katib_api_models": 'as `min: "0.5"` and `max: "0.95"`'}),
    "lr as an int": (_swap("    - name: lr\n      parameterType: double", "    - name: lr\n      parameterType: int"),
                     {"test_search_space_tunes_lr_batch_size_and_one_more":
                      "A learning rate is a fraction such as 0.05: make it `parameterType: double`"}),
    "maxFailedTrialCount: 0": (_swap("maxFailedTrialCount: 3", "maxFailedTrialCount: 0"), {}),
    "maxFailedTrialCount above the max": (_swap("maxFailedTrialCount: 3", "maxFailedTrialCount: 13"),
                                          {"test_trial_limits_are_set_and_consistent": "0 acts as 1"}),
}


@pytest.mark.parametrize("case", sorted(LAB_CASES))
def test_lab_3_3_answers_a_misshapen_experiment_with_sentences(tmp_path, case):
    mutate, wanted = LAB_CASES[case]
    lab = registry.get("3.3")
    folder = lab.dir(tmp_path)
    shutil.copytree(lab.dir(paths.SOLUTIONS), folder)
    (folder / "experiment.yaml").write_text(mutate((folder / "experiment.yaml").read_text()))
    only = " or ".join(wanted) or "limits or webhook or models"  # a valid case: the checks that judge the limits
    checks = checkrun.collect_results([lab], str(tmp_path), extra=["-m", "offline", "-k", only])["labs"]["3.3"]["checks"]
    raw = {n: c["message"] for n, c in checks.items() if c["message"].startswith(CRASH) or any(w in c["message"] for w in RAW)}
    assert not raw, f"{case}: every check must answer with a sentence, but these did not: {raw}"
    failed = {n.rsplit("::", 1)[-1]: c["message"] for n, c in checks.items() if c["outcome"] == "failed"}
    if not wanted:
        assert not failed, f"{case} is valid in Katib, so no check should refuse it: {failed}"
    for check, says in wanted.items():
        assert check in failed and says in failed[check], f"{case}: {check} should say {says!r}; failed: {failed}"
