"""Lab 2.5: caching, judged by the runner's own cache hits (not by wall time)."""

import subprocess
import sys
from pathlib import Path

import pytest
from kfp.local import config as local_config

from kflab import kfp_local
from kflab.failures import expect, listed
from kflab.kfp_ir import PipelineIR

CHANGED = {"c": 0.1}  # one parameter changed for the third run
# Compiles the lab's pipeline in a fresh interpreter: a value computed at import differs there.
COMPILE = """
import importlib.util, sys
from kfp import compiler
path, out = sys.argv[1:3]
sys.path.insert(0, path.rsplit("/", 1)[0])
spec = importlib.util.spec_from_file_location("lab_pipeline", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
compiler.Compiler().compile(module.cached_pipeline, out)
"""


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
        return kfp_local.run(lambda **kw: run_pipeline(str(root), **kw), params, doing=doing, root=root,
                             file=lab.file("pipeline.py"))

    first = once({}, "running run_pipeline the first time")
    config = local_config.LocalExecutionConfig.instance
    again = once({}, "running run_pipeline again with the same parameters")
    changed = once(CHANGED, f"running run_pipeline with {CHANGED}")
    return {"first": first, "again": again, "changed": changed, "config": config}


def _wrote_no_files(run, task) -> list[str]:
    """The outputs of `task` (its newest execution in `run`) whose files do not exist."""
    outs = run.task_outputs(task)
    arts = outs[0].get("artifacts", {}) if outs else {}
    return sorted(name for name, spec in arts.items()
                  if all(not Path(a.get("uri", "")).exists() for a in spec.get("artifacts", [])))


def _first_difference(a, b, where="") -> tuple[str, object, object] | None:
    """Where two compiled pipelines first differ, with the two values."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            found = _first_difference(a.get(key), b.get(key), f"{where}.{key}" if where else key)
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            found = _first_difference(x, y, f"{where}[{i}]")
            if found:
                return found
        return None
    return None if a == b else (where, a, b)


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
    fileless = {t: _wrote_no_files(runs["first"], t) for t in again.executed}
    fileless = {t: names for t, names in fileless.items() if names}
    volatile = sorted(set(again.executed) - set(fileless))
    expect(not volatile, f"The identical rerun executed {', '.join(volatile)} again. "
                         "Their inputs must be changing between runs (a timestamp?), or caching is off.")
    expect(not fileless, f"The identical rerun executed {', '.join(sorted(fileless))} again because "
                         f"{'it' if len(fileless) == 1 else 'each'} wrote nothing to "
                         f"{', '.join(f'`{n}.path`' for names in fileless.values() for n in names)}: kfp.local reuses "
                         "only a task whose output files exist, and log_metric writes none. "
                         "Write the metrics as JSON to metrics.path as well as calling log_metric.")
    expect(set(ir.leaf_tasks()) <= set(again.cache_hits),
           f"Only {listed(sorted(again.cache_hits)) if again.cache_hits else 'no task'} came from the cache; every task should.")


def test_metrics_only_task_is_served_from_the_cache(runs):
    """Does score log its accuracy with log_metric, and is it (its output an Output[Metrics]) a cache hit on the rerun?"""
    metrics = runs["first"].artifact("score", "metrics")
    expect(metrics is not None, "score wrote no `metrics` artifact. Keep `metrics: Output[Metrics]` in its signature.")
    kfp_local.expect_kfp_path("metrics", metrics.get("uri"), runs["first"].root,
                              "write the JSON to `metrics.path` as it is", who="score")
    expect("accuracy" in metrics.get("metadata", {}),
           "score logs no `accuracy` metric, so the run shows no accuracy in the UI. Keep "
           "`metrics.log_metric(\"accuracy\", accuracy)` beside the JSON written to metrics.path.")
    expect("score" in runs["again"].cache_hits,
           "score never comes from the cache: its only output is a Metrics artifact with no file. "
           "Write the metrics as JSON to metrics.path as well as calling log_metric.")


def test_changing_c_reruns_exactly_the_tasks_downstream_of_it(runs, ir):
    """With only `c` changed, do the tasks that depend on it run, and all others come from the cache?"""
    changed = runs["changed"]
    affected = _affected(ir, "c")
    expect(affected, "No task reads the pipeline parameter `c`. Pass `c=c` to fit.")
    expect(set(changed.executed) == affected,
           f"With only c changed, the run executed {listed(sorted(changed.executed))}, but only {listed(sorted(affected))} depend on c. "
           "Keep caching on in run_pipeline, and pass the tasks nothing that changes from run to run, such as a timestamp.")
    expect(set(changed.cache_hits) == set(ir.leaf_tasks()) - affected,
           f"The tasks that do not depend on c ({listed(sorted(set(ir.leaf_tasks()) - affected))}) should all be cache hits, "
           f"but the hits were {listed(sorted(changed.cache_hits))}. Keep caching on in run_pipeline, and pass the tasks "
           "nothing that changes from run to run, such as a timestamp.")


def test_pipeline_compiles_the_same_in_a_fresh_process(lab, ir, lab_tmp):
    """Does cached_pipeline compile to the same IR in a fresh Python process (no value fixed at import)?"""
    out = lab_tmp / "fresh-process.yaml"
    proc = subprocess.run([sys.executable, "-c", COMPILE, str(lab.file("pipeline.py")), str(out)],
                          capture_output=True, text=True, cwd=lab_tmp, timeout=120)
    last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    expect(proc.returncode == 0, f"Compiling cached_pipeline in a fresh Python process failed: {last}. "
                                 "Run `python pipeline.py` to see the whole error.")
    fresh = PipelineIR.load(out)
    found = _first_difference({"spec": ir.spec, "platform": ir.platform}, {"spec": fresh.spec, "platform": fresh.platform})
    expect(found is None, "cached_pipeline compiles differently in each Python process: {} is {!r:.60} here and {!r:.60} "
                          "there. A value computed when the module is imported or the pipeline compiled (a timestamp, "
                          "a random id) is a new input on every run of `python pipeline.py`, so the cache never hits. "
                          "Drop it.".format(*(found or ("",) * 3)))
