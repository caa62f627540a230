"""Lab 2.5: caching, judged by the runner's own cache hits (not by wall time)."""

import pytest
from kfp.local import config as local_config

from kflab import kfp_local
from kflab.failures import expect
from kflab.kfp_ir import PipelineIR

CHANGED = {"c": 0.1}  # one parameter changed for the third run


@pytest.fixture(scope="module")
def module(lab):
    return lab.module("pipeline.py")


@pytest.fixture(scope="module")
def ir(lab, module, lab_tmp):
    return PipelineIR.of(lab.attr(module, "cached_pipeline", "pipeline"), lab_tmp)


@pytest.fixture(scope="module")
def runs(lab, module, lab_tmp):
    """Three runs through the learner's run_pipeline: defaults, the same again, then c changed."""
    run_pipeline = lab.attr(module, "run_pipeline")
    root = lab_tmp / "local"

    def once(params, doing):
        return kfp_local.run(lambda **kw: run_pipeline(str(root), **kw), params, doing=doing, root=root)

    first = once({}, "running run_pipeline the first time")
    config = local_config.LocalExecutionConfig.instance
    again = once({}, "running run_pipeline again with the same parameters")
    changed = once(CHANGED, f"running run_pipeline with {CHANGED}")
    return {"first": first, "again": again, "changed": changed, "config": config}


def _affected(ir, param):
    """Tasks that read `param` directly, and everything downstream of them."""
    tasks = ir.leaf_tasks()
    hit = {n for n, t in tasks.items()
           if any(v.get("componentInputParameter") == param for v in t.get("inputs", {}).get("parameters", {}).values())}
    edges, grew = ir.edges(), True
    while grew:
        more = {down for up, down in edges if up in hit and down in tasks} - hit
        hit |= more
        grew = bool(more)
    return hit


def test_run_pipeline_turns_local_caching_on(runs):
    """Does run_pipeline init kfp.local with caching on and without a venv per task?"""
    cfg = runs["config"]
    expect(cfg is not None and cfg.enable_caching, "run_pipeline leaves kfp.local's cache off. Pass `enable_caching=True` to local.init.")
    expect(not cfg.runner.use_venv, "run_pipeline builds a virtualenv for every task; pass `SubprocessRunner(use_venv=False)`.")


def test_identical_rerun_is_served_entirely_from_the_cache(runs, ir, record_property):
    """Does a second run with the same parameters execute no task at all?"""
    first, again = runs["first"], runs["again"]
    reduction = 1 - again.seconds / first.seconds if first.seconds else 0.0
    record_property("kflab_measure", f"identical re-run: {again.seconds:.2f} s vs {first.seconds:.2f} s ({reduction:.0%} less)")
    expect(not again.executed, f"The identical rerun executed {', '.join(sorted(again.executed))} again. "
                               "Their inputs must be changing between runs (a timestamp?), or caching is off.")
    expect(set(ir.leaf_tasks()) <= set(again.cache_hits),
           f"Only {sorted(again.cache_hits) or 'no task'} came from the cache; every task should.")


def test_metrics_only_task_is_served_from_the_cache(runs):
    """Is the score task (whose output is an Output[Metrics]) a cache hit on the identical rerun?"""
    expect("score" in runs["again"].cache_hits,
           "score never comes from the cache: its only output is a Metrics artifact with no file. "
           "Write the metrics as JSON to metrics.path as well as calling log_metric.")


def test_changing_c_reruns_exactly_the_tasks_downstream_of_it(runs, ir):
    """With only `c` changed, do the tasks that depend on it run, and all others come from the cache?"""
    changed = runs["changed"]
    affected = _affected(ir, "c")
    expect(affected, "No task reads the pipeline parameter `c`. Pass `c=c` to fit.")
    expect(set(changed.executed) == affected,
           f"Changing c executed {sorted(changed.executed) or 'nothing'}, but exactly {sorted(affected)} depend on it.")
    expect(set(changed.cache_hits) == set(ir.leaf_tasks()) - affected,
           f"The tasks that do not depend on c ({sorted(set(ir.leaf_tasks()) - affected)}) should all be cache hits; "
           f"hits were {sorted(changed.cache_hits) or 'none'}.")
