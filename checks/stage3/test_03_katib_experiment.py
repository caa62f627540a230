"""Lab 3.3: a Katib Experiment (experiment.yaml) with TPE, validated offline and run locally with `kflab tune`."""

import posixpath
import subprocess
import sys

import pytest

from kflab import katib, katib_models, katib_template, katib_trial, manifests, tune, tune_report, tune_search
from kflab.failures import CheckFailure, expect
from kflab.tune_search import TuneError

MAX_TRIALS, PARALLEL, MARGIN = 4, 2, 0.10
FLAGS = {"--lr": "the learning rate", "--batch-size": "the batch size"}


@pytest.fixture(scope="module")
def experiment(lab):
    return lab.yaml_doc("experiment.yaml", "Experiment")


@pytest.fixture(scope="module")
def spec(experiment):
    spec = experiment.get("spec")
    expect(isinstance(spec, dict), "experiment.yaml has no `spec:` mapping. Start from the starter file.")
    return spec


@pytest.fixture(scope="module")
def train_parser(lab):
    """The given train.py's argument parser: the flags a trial may pass."""
    return lab.argument_parser("train.py")


def said(value) -> str:
    """A field's value as a learner reads it: quoted, or "not set"."""
    return "not set" if value is None else repr(value)


def expect_mapping(spec: dict, key: str) -> None:
    """spec.KEY, when set, is a mapping: a plain value there is a shape no other field can be read from."""
    value = spec.get(key)
    expect(value is None or isinstance(value, dict),
           f"spec.{key} is {value!r:.40}, a single value, but Katib reads it as a mapping: "
           f"{katib_models.MAPPING_HINTS[key]}.")


def test_experiment_matches_the_katib_api_models(experiment):
    """Does experiment.yaml parse with kubeflow-katib-api's V1beta1Experiment, with no unknown fields?"""
    found = katib_models.model_problems(experiment)
    expect(not found, "experiment.yaml does not fit Katib's Experiment model:\n  - " + "\n  - ".join(found[:8]) +
                      "\nFix those fields; Katib's controller reads the spec with the same types.")


def test_katib_webhook_would_accept_the_experiment(experiment):
    """Does the Experiment pass the rules of Katib's validating webhook (limits, parameters, trial template)?"""
    shape = katib_models.model_problems(experiment)
    # A field of the wrong shape reads as missing here; the model check names it, so say nothing under it.
    broken = tuple(p.split(" ")[0].rstrip(":") for p in shape)
    found = [p for p in katib.semantic_problems(experiment) if not p.startswith(broken)]
    expect(found or not shape, f"Katib's webhook reads experiment.yaml only once it fits the Experiment model, and it does "
                               f"not yet: {shape[0] if shape else ''}. Fix that first (the model check lists every such field).")
    expect(not found, "Katib's webhook would refuse experiment.yaml:\n  - " + "\n  - ".join(found[:8]) +
                      ("\n(Fix the fields the model check names as well.)" if shape else ""))


def test_objective_maximizes_accuracy_with_a_goal(spec):
    """Does the objective maximize `accuracy` and stop at a goal between 0 and 1?"""
    expect_mapping(spec, "objective")
    obj = manifests.as_dict(spec.get("objective"))
    expect(obj.get("type") == "maximize" and obj.get("objectiveMetricName") == "accuracy",
           f"spec.objective has type {said(obj.get('type'))} and objectiveMetricName {said(obj.get('objectiveMetricName'))}. "
           "Set `type: maximize` and `objectiveMetricName: accuracy`, the name train.py prints (`accuracy=0.91`).")
    goal = obj.get("goal")
    has = "has no goal" if goal is None else f"has goal {goal!r}, not a fraction of 1"
    expect(isinstance(goal, (int, float)) and 0 < goal <= 1,
           f"spec.objective {has}. Set a number such as 0.95: the Experiment stops once a trial reaches it.")


def test_algorithm_is_tpe(spec):
    """Is the search algorithm `tpe`, spelled as Katib spells it?"""
    expect_mapping(spec, "algorithm")
    name = manifests.as_dict(spec.get("algorithm")).get("algorithmName")
    if isinstance(name, str) and name.lower() == "tpe" and name != "tpe":
        raise CheckFailure(f"algorithmName is {name!r}. Katib's names are case-sensitive: write `tpe`.")
    expect(name == "tpe", f"spec.algorithm.algorithmName is {said(name)}. Set it to `tpe` (Tree-structured Parzen Estimator).")


def test_search_space_tunes_lr_batch_size_and_one_more(spec):
    """Are two or three parameters searched, each passed to the flag named like it (lr to --lr, batch_size to --batch-size)?"""
    params = [p for p in manifests.as_list(spec.get("parameters")) if isinstance(p, dict)]
    expect(2 <= len(params) <= 3, f"spec.parameters lists {len(params)} parameter(s). Search the learning rate, the batch "
                                  "size and one more (momentum), three at most, so a few trials cover the space.")
    # Without the primary container, no flag can be read: this says why there is none.
    katib_template.command_words(manifests.as_dict(spec.get("trialTemplate")), required=True)
    fed = katib_template.flag_parameters(spec)
    for flag, what in FLAGS.items():
        expect(flag in fed, f"No trial parameter reaches train.py's {flag} ({what}). Declare it in spec.parameters, give it "
                            f"a trialParameter, and pass `{flag}=${{trialParameters.NAME}}` in the command.")
    swapped = katib_template.swapped_references(spec)
    expect(not swapped, "The trial command passes parameters to the wrong flags:\n  - " + "\n  - ".join(swapped))
    lr, batch = fed["--lr"], fed["--batch-size"]
    expect(lr.get("parameterType") == "double",
           f"The learning rate (parameter {lr.get('name')!r}, passed to --lr) has parameterType "
           f"{said(lr.get('parameterType'))}. A learning rate is a fraction such as 0.05: make it `parameterType: double`.")
    expect(batch.get("parameterType") in ("int", "discrete", "categorical"),
           f"The batch size's parameterType is {said(batch.get('parameterType'))}; make it `int` (whole samples).")
    unsampled = tune_search.space_problems(params)
    expect(not unsampled, "kflab tune cannot sample this search space; fix these values in spec.parameters:\n  - " +
                          "\n  - ".join(unsampled))


def test_trial_limits_are_set_and_consistent(spec):
    """Are maxTrialCount, parallelTrialCount and maxFailedTrialCount set, within the bounds Katib's webhook allows?"""
    limits = {k: spec.get(k) for k in ("maxTrialCount", "parallelTrialCount", "maxFailedTrialCount")}
    missing = [k for k, v in limits.items() if v is None]
    expect(not missing, f"Set {', '.join(missing)} in spec: without them an Experiment runs until its goal, however long.")
    typed = [f"{k} is {v!r}" for k, v in limits.items() if not isinstance(v, int) or isinstance(v, bool)]
    expect(not typed, f"In spec, {' and '.join(typed)}: write each limit as a plain whole number, such as `maxTrialCount: 12`.")
    most, parallel, failed = limits.values()
    expect(1 <= parallel <= most,
           f"spec has maxTrialCount {most} and parallelTrialCount {parallel}. Katib runs at least 1 trial at a time and "
           "never more than maxTrialCount: set parallelTrialCount between 1 and maxTrialCount, such as 3 of 12.")
    expect(0 <= failed <= most,
           f"spec.maxFailedTrialCount is {failed}; Katib takes 0 up to maxTrialCount ({most}). The Experiment fails once "
           "that many trials have failed (0 acts as 1: the first failed trial ends it), so set a few, such as 3.")


def test_every_trial_parameter_resolves(spec):
    """Does every trialParameter reference a search parameter and appear in the command, and nothing else?"""
    found = [p for p in katib.semantic_problems({"metadata": {"name": "x"}, "spec": spec}) if "trialTemplate" in p]
    expect(not found, "The trial template and its parameters do not match:\n  - " + "\n  - ".join(found[:6]))


def test_metrics_collector_is_stdout(spec):
    """Is the metrics collector StdOut, the one that reads `accuracy=0.91` lines?"""
    kind = manifests.as_dict(manifests.as_dict(spec.get("metricsCollectorSpec")).get("collector")).get("kind")
    expect(kind == "StdOut", f"spec.metricsCollectorSpec.collector.kind is {said(kind)}. Set it to `StdOut` "
                             "(`metricsCollectorSpec: {collector: {kind: StdOut}}`): train.py prints its metrics.")


def test_trial_template_is_a_job_that_runs_train_py(spec, train_parser):
    """Substituted with sample values, is the trialSpec a valid batch Job that runs train.py's real flags where train.py is mounted?"""
    template = manifests.as_dict(spec.get("trialTemplate"))
    trial_spec = manifests.as_dict(template.get("trialSpec"))
    expect(trial_spec.get("kind") == "Job" and trial_spec.get("apiVersion") == "batch/v1",
           "The trialSpec should be a `batch/v1` `Job`: Katib runs each trial as one.")
    job, argv = katib_template.sample_trial(spec)
    found = manifests.core_problems(job) or []
    expect(not found, "The trialSpec is not a valid Job:\n  - " + "\n  - ".join(found))
    scripts = [a for a in argv if a.endswith("train.py")]
    expect(scripts, f"The training container runs `{' '.join(argv)}`, not train.py. Run `python3 train.py` with the "
                    "trial's flags.")
    expect(scripts[0] == "train.py",
           f"The command runs {scripts[0]} by its absolute path. Trials run in the folder that holds train.py (the "
           "ConfigMap's mount on a cluster, the lab folder with kflab tune): set `workingDir` and run `python3 train.py`.")
    workdir, mounted = katib_template.script_paths(spec)
    folders = ", ".join(sorted({posixpath.dirname(m) for m in mounted})) or "no volume mounts it yet"
    expect(workdir, "The training container sets no `workingDir`, so on a cluster `python3 train.py` runs in the image's "
                    f"own folder, where there is no train.py. Set `workingDir` to the mountPath that holds it ({folders}).")
    expect(posixpath.join(posixpath.normpath(workdir), "train.py") in mounted,
           f"The container runs `python3 train.py` in workingDir {workdir}, but its volumes put train.py in {folders}. "
           "Make `workingDir` the `mountPath` of the ConfigMap volume, or the trial will not find the script on a cluster.")
    args = argv[argv.index("train.py") + 1:]
    expect(any(katib.REFERENCE.search(a) for a in katib_template.command_words(template)),
           "The command passes no ${trialParameters...} to train.py, so every trial would train the same way. Pass "
           "each one as a flag, such as `--lr=${trialParameters.learningRate}`.")
    left = sorted({f"${{trialParameters.{n}}}" for a in args for n in katib.REFERENCE.findall(a)})
    expect(not left, f"Once Katib fills in the trial parameters, the command still holds {', '.join(left)}: no "
                     "trialParameter of that name references a search parameter. Declare one (a name and a reference) "
                     "or take it out of the command.")
    try:
        train_parser.parse_args([str(a) for a in args])
    except ValueError as exc:
        raise CheckFailure(f"train.py refuses the trial's arguments {args}: {exc}. Use the flags train.py defines.") from None


@pytest.fixture(scope="module")
def baseline(lab):
    """train.py with its defaults, run once: the untuned score to beat."""
    script = lab.file("train.py")
    proc = subprocess.run([sys.executable, str(script)], cwd=script.parent, capture_output=True, text=True, timeout=180)
    values = katib_trial.parse_metrics(proc.stdout, ["accuracy"])["accuracy"]
    expect(proc.returncode == 0 and values, f"train.py (given code) failed with its defaults:\n{proc.stderr[-800:]}")
    return max(values)


@pytest.fixture(scope="module")
def tuned(lab, lab_tmp, spec):
    """`kflab tune experiment.yaml --max-trials 4 --parallel 2`, once: the learner's spec with a small budget."""
    settings = manifests.as_list(manifests.as_dict(spec.get("algorithm")).get("algorithmSettings"))
    seed = None if any(manifests.as_dict(s).get("name") == "random_state" for s in settings) else 0
    lines = []
    path = lab.file("experiment.yaml")
    try:
        result = tune.run(path, max_trials=MAX_TRIALS, parallel=PARALLEL, seed=seed,
                          trial_timeout=180, out=lab_tmp / "tune", echo=lines.append)
    except TuneError as exc:
        text = str(exc).replace(str(path), lab.shown(path))
        raise CheckFailure(f"`kflab tune experiment.yaml` refused to run it: {text}\nFix what it names, then run the "
                           "check again.") from None
    files = tune_report.write(result)
    return result, files, "\n".join(lines)


def test_tuning_beats_the_untuned_baseline(tuned, baseline):
    """With 4 trials, 2 at a time, does the best trial beat train.py's defaults by 0.10 accuracy or more?"""
    result, files, log = tuned
    expect(all(f.exists() for f in files), "kflab tune wrote no results.json or objective.png.")
    best = result.best
    expect(best is not None, f"No trial succeeded ({result.reason}). What the trials printed:\n{log[-1500:]}")
    expect(best.objective >= baseline + MARGIN,
           f"The best of {len(result.trials)} trials reached accuracy {best.objective:.3f}, but train.py's defaults already "
           f"reach {baseline:.3f}. Widen the search space (a learning rate from 0.01 to 0.3, momentum from 0.5 to 0.95) "
           "so the trials can find better settings.")


def test_trials_also_record_the_loss(tuned):
    """Does every finished trial record the `loss` it printed, beside the objective?"""
    result, _, log = tuned
    finished = [t for t in result.trials if t.status == "Succeeded"]
    expect(finished, f"No trial succeeded ({result.reason}). What the trials printed:\n{log[-1500:]}")
    without = [t.number for t in finished if t.metrics.get("loss") is None]
    expect(not without, f"Trials {without} recorded no `loss`: the collector keeps only the metrics the Experiment names. "
                        "Add `additionalMetricNames: [loss]` under spec.objective.")


@pytest.mark.cluster
def test_experiment_passes_a_server_side_dry_run(experiment, cluster, namespace):
    """Does the API server (with Katib's CRD) accept the Experiment, as Katib's webhook would, and a trial's Job, in a dry run?"""
    reason = cluster.dry_run(experiment, namespace)
    expect(reason is None, f"The API server refused the Experiment: {reason}. Fix the field it names in "
                              "experiment.yaml and run the check again.")
    # Katib's CRD keeps the spec schemaless, so the API server alone accepts almost anything;
    # on a cluster Katib's validating webhook applies the rules below.
    found = katib.problems(experiment)
    expect(not found, "The API server accepted it in a dry run, but Katib's webhook would refuse it:\n  - " + "\n  - ".join(found[:6]))
    job, _ = katib_template.sample_trial(manifests.as_dict(experiment.get("spec")))
    reason = cluster.dry_run(job, namespace)
    expect(reason is None, f"The API server would refuse every trial's Job (tried with each parameter's first value): "
                           f"{reason}. Fix that field of the trialSpec.")
