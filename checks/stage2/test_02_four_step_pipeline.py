"""Lab 2.2: a four-step pipeline (clean -> features -> train -> evaluate)."""

from pathlib import Path

import joblib
import pandas as pd
import pytest

from kflab import kfp_local
from kflab.failures import expect
from kflab.kfp_ir import PipelineIR

MIN_ACCURACY = 0.95
STEPS = ("clean-data", "engineer-features", "train-model", "evaluate-model")


@pytest.fixture(scope="module")
def pipeline(lab):
    return lab.attr(lab.module("pipeline.py"), "training_pipeline", "pipeline")


@pytest.fixture(scope="module")
def ir(pipeline, lab_tmp):
    return PipelineIR.of(pipeline, lab_tmp)


@pytest.fixture(scope="module")
def local_run(pipeline, lab, lab_tmp):
    """The learner's pipeline, run once with its defaults."""
    kfp_local.init(lab_tmp / "local")
    return kfp_local.run(pipeline, doing="running training_pipeline with its defaults", file=lab.file("pipeline.py"))


def test_pipeline_has_typed_learning_rate_and_epochs_with_defaults(ir):
    """Does the pipeline take learning_rate (float) and epochs (int), both with defaults?"""
    params = ir.root_inputs()
    for name, kind, py in (("learning_rate", "NUMBER_DOUBLE", "float"), ("epochs", "NUMBER_INTEGER", "int")):
        expect(name in params, f"training_pipeline has no `{name}` parameter. Add `{name}: {py} = ...` to its signature.")
        expect(params[name].get("parameterType") == kind,
               f"`{name}` compiles to {params[name].get('parameterType')}; annotate it as `{py}`.")
        expect("defaultValue" in params[name], f"`{name}` has no default, so every run must pass it. Give it a sensible default.")
    expect(params["learning_rate"]["defaultValue"] > 0 and params["epochs"]["defaultValue"] >= 1,
           "The defaults should train something: a positive learning_rate and at least one epoch.")


def test_pipeline_runs_clean_then_features_then_train_then_evaluate(ir):
    """Do the compiled DAG's edges chain the four steps, with evaluate also reading the features' test split?"""
    tasks, edges = set(ir.tasks()), ir.edges()
    missing = [s for s in STEPS if s not in tasks]
    expect(not missing, f"The pipeline has no task for {', '.join(missing)}. Call each of the four components in training_pipeline.")
    wanted = [("clean-data", "engineer-features"), ("engineer-features", "train-model"),
              ("train-model", "evaluate-model"), ("engineer-features", "evaluate-model")]
    for up, down in wanted:
        expect((up, down) in edges, f"`{down}` does not consume an output of `{up}`. Pass {up}'s output artifact into {down}.")


def test_training_reads_the_train_split_and_evaluation_the_test_split(ir):
    """Does train-model take engineer-features' `train` output, and evaluate-model its `test` output?"""
    for task, name in (("train-model", "train"), ("evaluate-model", "test")):
        expect(task in ir.tasks(), f"The pipeline has no {task} task. Call {task.replace('-', '_')}(...) in training_pipeline.")
        source = ir.input_source(task, name)
        expect(source is not None, f"{task}'s `{name}` input is not an output of another task. "
                                   f"Pass `{name}=features.outputs[\"{name}\"]`.")
        expect(source == ("engineer-features", name),
               f"{task}'s `{name}` input is the `{source[1]}` output of {source[0]}, not engineer-features' `{name}` "
               f"split. Pass `{name}=features.outputs[\"{name}\"]`.")


def test_pipeline_passes_learning_rate_and_epochs_to_train(ir):
    """Does train-model receive the pipeline's learning_rate and epochs (not constants)?"""
    expect("train-model" in ir.tasks(), "The pipeline has no train-model task. "
                                        "Call train_model(..., learning_rate=learning_rate, epochs=epochs).")
    params = ir.tasks()["train-model"].get("inputs", {}).get("parameters", {})
    for name in ("learning_rate", "epochs"):
        source = params.get(name, {}).get("componentInputParameter")
        expect(source == name, f"train-model's `{name}` is {'a constant' if name in params else 'not set'}; "
                               f"pass the pipeline parameter through: `{name}={name}`.")


def test_local_run_succeeds_and_returns_the_accuracy(local_run):
    """Does a kfp.local run finish and return a float accuracy between 0 and 1?"""
    acc = local_run.output
    expect(isinstance(acc, float) and 0 <= acc <= 1,
           f"The pipeline returned {kfp_local.returned(acc)}, not an accuracy. "
           "Return `evaluate_model(...).outputs['Output']` and annotate `-> float`.")


def expect_in_pipeline(ir, task: str, component: str) -> None:
    expect(task in ir.tasks(), f"The pipeline has no {task} task, so the run cannot produce its output. "
                               f"Call {component}(...) in training_pipeline.")


def test_evaluate_logs_accuracy_above_the_threshold(ir, local_run):
    """Does evaluate-model log an accuracy metric of at least 0.95 in its Output[Metrics]?"""
    expect_in_pipeline(ir, "evaluate-model", "evaluate_model")
    metrics = local_run.artifact("evaluate-model", "metrics")
    expect(metrics is not None, "evaluate-model wrote no `metrics` artifact. Declare `metrics: Output[Metrics]` and log to it.")
    acc = metrics.get("metadata", {}).get("accuracy")
    expect(acc is not None, "The metrics artifact has no `accuracy`. Call `metrics.log_metric('accuracy', accuracy)`.")
    expect(acc >= MIN_ACCURACY, f"The test accuracy is {acc:.3f}, below {MIN_ACCURACY}. Check the feature scaling and the default learning_rate/epochs.")


def test_model_artifact_loads_and_predicts(ir, local_run):
    """Is the model written *to* model.path, so the artifact file loads and predicts?"""
    expect_in_pipeline(ir, "train-model", "train_model")
    model = local_run.artifact("train-model", "model")
    expect(model is not None, "train-model wrote no `model` artifact. Declare `model: Output[Model]`.")
    kfp_local.expect_kfp_path("model", model["uri"], local_run.root, "`joblib.dump(clf, model.path)`")
    path = Path(model["uri"])
    expect(path.is_file(), f"train-model wrote nothing to its model artifact ({model['uri']!r}). Save the model "
                           "there with `joblib.dump(clf, model.path)`.")
    test = local_run.artifact("engineer-features", "test")
    frame = pd.read_csv(test["uri"])
    clf = joblib.load(path)
    expect(len(clf.predict(frame.drop(columns="target"))) == len(frame), "The saved model does not predict one label per row.")
