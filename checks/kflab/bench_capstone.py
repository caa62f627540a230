"""`scripts/bench capstone`: lab 3.8's pipeline on kfp.local, cold and from the cache, and the lab's offline checks."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from kflab import bench, kfp_local, kserve_runtime, learner, paths, registry


def pipeline_runs() -> dict:
    """Seconds for the solution's first local run, a re-run with a stricter gate (cache hits), KServe's sklearn
    runtime getting the model ready (storage initializer included), and `check 3.8` offline."""
    lab = registry.get("3.8")
    target = learner.LabTarget(lab, paths.SOLUTIONS)
    pipeline = target.attr(target.module("pipeline.py"), "train_and_deploy", "pipeline")
    with tempfile.TemporaryDirectory(prefix="kflab-bench-") as tmp:
        kfp_local.init(Path(tmp))
        first = kfp_local.run(pipeline, doing="running the solution with its defaults")
        strict = kfp_local.run(pipeline, {"min_accuracy": 1.01}, doing="re-running it with min_accuracy=1.01")
        kserve_runtime.ensure()
        start = time.perf_counter()
        server = kserve_runtime.serve(first.artifact("train-model", "model")["uri"] + "/", "m", Path(tmp) / "serve")
        ready_s = time.perf_counter() - start
        server.stop()
    return {
        "first_run_s": round(first.seconds, 2),
        "first_run_executed": sorted(first.executed),
        "gated_rerun_s": round(strict.seconds, 3),
        "gated_rerun_cache_hits": sorted(strict.cache_hits),
        "gated_rerun_skipped": strict.skipped,
        "runtime_ready_s": round(ready_s, 2),
        **bench.lab_offline_checks(lab),
    }
