"""Lab 2.3: control flow (dsl.ParallelFor, dsl.Collected, dsl.If / dsl.Else)."""

import re

import pytest

from kflab import kfp_local
from kflab.failures import CheckFailure, expect
from kflab.kfp_ir import PipelineIR

UNREACHABLE = 1.01  # an accuracy gate no model can pass, to exercise the Else branch
# One comparison of two pipeline channels, as the compiler writes a dsl.If condition.
COMPARISON = re.compile(r"^inputs\.parameter_values\['pipelinechannel--([\w-]+)'\] (==|!=|>=|<=|>|<) "
                        r"inputs\.parameter_values\['pipelinechannel--([\w-]+)'\]$")


@pytest.fixture(scope="module")
def pipeline(lab):
    return lab.attr(lab.module("pipeline.py"), "sweep_pipeline", "pipeline")


@pytest.fixture(scope="module")
def ir(pipeline, lab_tmp):
    return PipelineIR.of(pipeline, lab_tmp)


@pytest.fixture(scope="module")
def runs(pipeline, ir, lab, lab_tmp):
    """Two runs sharing a cache: the defaults (a reachable gate), then an unreachable gate."""
    kfp_local.init(lab_tmp / "local")
    file = lab.file("pipeline.py")
    try:
        good = kfp_local.run(pipeline, doing="running sweep_pipeline with its defaults", file=file)
        poor = kfp_local.run(pipeline, {"accuracy_threshold": UNREACHABLE},
                             doing=f"running sweep_pipeline with accuracy_threshold={UNREACHABLE}", file=file)
    except kfp_local.RunFailed as exc:
        listed = ir.listed_task_outputs(exc.task) if exc.task else []
        if listed:  # the one cause the IR can show: a plain list of task outputs
            raise CheckFailure(
                f"{exc.task}'s input `{listed[0]}` is a plain Python list of task outputs, which KFP cannot read back "
                f"at run time. Pass the loop's outputs with `{listed[0]}=dsl.Collected(scored.output)` after the "
                f"dsl.ParallelFor loop.") from None
        raise
    return good, poor


def _loop_task(ir):
    loops = [n for n, t in ir.tasks().items() if "parameterIterator" in t]
    expect(loops, "The pipeline has no dsl.ParallelFor loop. Wrap train_and_score in `with dsl.ParallelFor(items=learning_rates) as lr:`.")
    return loops[0]


def test_pipeline_fans_out_over_learning_rates_with_parallel_for(ir):
    """Does a ParallelFor over the `learning_rates` parameter run train-and-score once per item?"""
    loop = _loop_task(ir)
    items = ir.tasks()[loop]["parameterIterator"].get("items", {}).get("inputParameter", "")
    source = ir.tasks()[loop].get("inputs", {}).get("parameters", {}).get(items, {}).get("componentInputParameter")
    expect(source == "learning_rates",
           f"The loop iterates over {source or items or 'a constant list'}, not the pipeline parameter. Use `dsl.ParallelFor(items=learning_rates)`.")
    expect(loop in ir.ancestors("train-and-score"), "train-and-score is not inside the loop. Call it within the `with dsl.ParallelFor(...)` block.")


def test_pipeline_collects_every_iteration_into_pick_best(ir):
    """Does pick-best receive the loop's results through dsl.Collected?"""
    loop = _loop_task(ir)
    results = ir.tasks().get("pick-best", {}).get("inputs", {}).get("parameters", {}).get("results", {})
    producer = results.get("taskOutputParameter", {}).get("producerTask")
    expect(producer == loop, "pick_best does not receive the loop's results. Pass `results=dsl.Collected(scored.output)` after the loop.")


def test_pipeline_gates_deployment_on_the_best_accuracy(ir):
    """Is deploy-model under dsl.If(best accuracy >= threshold) and report-rejection under its dsl.Else?"""
    placed = {}
    for task in ("deploy-model", "report-rejection"):
        gate = ir.conditions(task)
        expect(gate, f"{task} runs unconditionally. Put it under `with dsl.If(...)` / `with dsl.Else():`.")
        placed[task] = gate[0]
    expect("pick-best-accuracy" in placed["deploy-model"] and "accuracy_threshold" in placed["deploy-model"],
           f"The deployment gate is `{placed['deploy-model']}`; compare pick_best's accuracy output with accuracy_threshold.")
    expect(not placed["deploy-model"].startswith("!") and placed["report-rejection"].startswith("!"),
           "deploy-model and report-rejection are not the two branches of one gate. Use dsl.If for the deployment and dsl.Else for the rejection.")


def test_gate_deploys_when_the_accuracy_reaches_the_threshold(ir):
    """Does the dsl.If compare `accuracy >= accuracy_threshold`, so an accuracy equal to the threshold deploys?"""
    gate = ir.conditions("deploy-model")
    expect(gate, "deploy-model runs unconditionally. Put it under `with dsl.If(best.outputs[\"accuracy\"] >= accuracy_threshold):`.")
    match = COMPARISON.match(gate[0])
    expect(match, f"The deployment gate is `{gate[0]}`, not one comparison of pick_best's accuracy with accuracy_threshold. "
                  "Use `dsl.If(best.outputs[\"accuracy\"] >= accuracy_threshold)`.")
    left, op, right = match.groups()
    reaches = (left, op, right) in {("pick-best-accuracy", ">=", "accuracy_threshold"),
                                    ("accuracy_threshold", "<=", "pick-best-accuracy")}
    expect(reaches, f"The deployment gate compares `{left} {op} {right}`; the lab deploys a model whose accuracy reaches "
                    "the threshold, equal included. Use `dsl.If(best.outputs[\"accuracy\"] >= accuracy_threshold)`.")


def test_local_run_picks_the_best_learning_rate(runs, ir):
    """Does the run try every learning rate and return the one with the highest accuracy?"""
    good, _ = runs
    rates = ir.root_inputs().get("learning_rates", {}).get("defaultValue", [])
    tried = [o["parameterValues"]["Output"] for o in good.task_outputs("train-and-score") if "parameterValues" in o]
    expect(len(tried) >= len(rates) > 1, f"The run trained {len(tried)} time(s) for {len(rates)} learning rates. Train once per rate in the loop.")
    best = max(tried, key=lambda r: r["accuracy"])
    expect(good.output == pytest.approx(best["learning_rate"]),
           f"The pipeline returned {kfp_local.returned(good.output)}, but learning_rate={best['learning_rate']} scored best "
           f"({best['accuracy']:.3f}). Return pick_best's learning_rate output.")


def test_reachable_gate_deploys_and_skips_the_rejection(runs):
    """With the default threshold, does deploy-model run and report-rejection not?"""
    good, _ = runs
    expect(good.executed.get("deploy-model") or good.cache_hits.get("deploy-model"),
           "With the default accuracy_threshold the model should be deployed, but deploy-model did not run.")
    expect("report-rejection" not in good.tasks, "report-rejection ran although the accuracy passed the gate. It belongs in the dsl.Else branch.")


def test_unreachable_gate_reports_rejection_instead_of_deploying(runs):
    """With an unreachable threshold, does report-rejection run and deploy-model not?"""
    _, poor = runs
    expect("report-rejection" in poor.tasks, f"With accuracy_threshold={UNREACHABLE} report-rejection should run, but it did not.")
    expect("deploy-model" not in poor.tasks, f"deploy-model ran with accuracy_threshold={UNREACHABLE}. Guard it with dsl.If.")
