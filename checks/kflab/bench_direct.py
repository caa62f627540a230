"""The floor for stage 2's benchmark: the solution pipelines run directly, no checks.

The same executions the checks make (one run of 2.1 behind an importer, 2.2 once,
2.3 twice, 2.5 three times through its run_pipeline, compiles of 2.4 and 2.6),
in one process, with kfp.local as the checks set it up. Writes direct.json with
the measured caching re-run figures.
"""

# No `from __future__ import annotations` here: KFP reads the pipeline's real annotations.
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

from kflab import datasets, kfp_local, paths, registry
from kflab.kfp_ir import compile_package


def _module(lab_id: str, name: str):
    path = registry.get(lab_id).dir(paths.SOLUTIONS) / name
    spec = importlib.util.spec_from_file_location(f"bench_{lab_id.replace('.', '_')}_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(tmp: str) -> None:
    from kfp import dsl
    from kfp.dsl import Dataset

    tmp = Path(tmp)
    split = _module("2.1", "components.py").data_preprocessing

    @dsl.pipeline(name="bench-2-1")
    def wrapper(data_uri: str):
        split(input_data=dsl.importer(artifact_uri=data_uri, artifact_class=Dataset).output, test_size=0.25, random_state=7)

    kfp_local.init(tmp / "21")
    kfp_local.run(wrapper, {"data_uri": str(datasets.breast_cancer_csv(tmp))})
    kfp_local.init(tmp / "22")
    kfp_local.run(_module("2.2", "pipeline.py").training_pipeline)
    sweep = _module("2.3", "pipeline.py").sweep_pipeline
    kfp_local.init(tmp / "23")
    kfp_local.run(sweep)
    kfp_local.run(sweep, {"accuracy_threshold": 1.01})
    compile_package(_module("2.4", "pipeline.py").production_pipeline, tmp / "24.yaml")
    run_pipeline = _module("2.5", "pipeline.py").run_pipeline
    times = []
    for params in ({}, {}, {"c": 0.1}):
        start = time.perf_counter()
        run_pipeline(str(tmp / "25"), **params)
        times.append(time.perf_counter() - start)
    kfp = Path(sys.executable).with_name("kfp")
    subprocess.run([str(kfp), "dsl", "compile", "--py", str(registry.get("2.6").dir(paths.SOLUTIONS) / "pipeline.py"),
                    "--output", str(tmp / "26.yaml")], check=True, capture_output=True)
    (tmp / "direct.json").write_text(json.dumps({
        "first_run_s": round(times[0], 2), "identical_rerun_s": round(times[1], 3),
        "one_parameter_changed_s": round(times[2], 2),
        "identical_rerun_reduction": round(1 - times[1] / times[0], 3),
        "one_change_reduction": round(1 - times[2] / times[0], 3),
        "tutorial_target_reduction": ">= 0.40",
    }))


if __name__ == "__main__":
    main(sys.argv[1])
