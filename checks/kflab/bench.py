"""`scripts/bench`: the course's speed figures, written as JSON.

Each benchmark is a function returning a dict; BENCHMARKS names them. Speed is
measured here, never asserted in timed tests.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kflab import checkrun, paths, registry, state

# name -> "module:function"; modules are imported only when their benchmark runs.
BENCHMARKS = {
    "stage1": "kflab.bench_stage1:check_stage1_offline",
    "stage2": "kflab.bench:stage2",
    "ddp_cpu": "kflab.bench_training:ddp_cpu_throughput",
    "tune": "kflab.bench_training:tune_wall_time",
    "serving": "kflab.bench_serving:predictor_latency",
    "alerts": "kflab.bench_alerts:promtool_runs",
    "capstone": "kflab.bench_capstone:pipeline_runs",
    "gpu": "kflab.bench:gpu",
    "grading": "kflab.grading.bench:grading_stage2",
}


def _timed(cmd: list[str], **kwargs) -> tuple[float, int]:
    start = time.perf_counter()
    code = subprocess.call(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)
    return time.perf_counter() - start, code


def stage2() -> dict:
    """Stage 2's offline suite on the solutions, against running the same pipelines directly."""
    labs = registry.select("2")
    args = checkrun.pytest_args(labs, "solutions", ["-m", "offline", "-q", "--no-progress"])
    suite_s, code = _timed([sys.executable, "-m", "pytest", *args], cwd=paths.REPO)
    serial = checkrun.pytest_args(labs, "solutions", ["-m", "offline", "-q", "--no-progress"], parallel=False)
    serial_s, _ = _timed([sys.executable, "-m", "pytest", *serial], cwd=paths.REPO)
    with tempfile.TemporaryDirectory(prefix="kflab-bench-") as tmp:
        floor_s, floor_code = _timed([sys.executable, "-m", "kflab.bench_direct", tmp], cwd=paths.REPO)
        rerun = json.loads((Path(tmp) / "direct.json").read_text()) if floor_code == 0 else {}
    return {
        "suite_wall_s": round(suite_s, 2),
        "suite_passed": code == 0,
        "suite_parallelism": checkrun.parallel_args(len(labs)),
        "suite_serial_wall_s": round(serial_s, 2),
        "direct_pipelines_wall_s": round(floor_s, 2),
        "ratio_suite_to_direct": round(suite_s / floor_s, 3) if floor_s else None,
        "ratio_serial_suite_to_direct": round(serial_s / floor_s, 3) if floor_s else None,
        "targets": {"suite_wall_s": "<= 45", "ratio_suite_to_direct": "<= 1.5"},
        "caching": rerun,
    }


def lab_offline_checks(lab: registry.Lab) -> dict:
    """One lab's offline checks on the solution, end to end in a child pytest: wall seconds and verdict."""
    start = time.perf_counter()
    code = checkrun.run_pytest(checkrun.pytest_args([lab], "solutions", ["-m", "offline", "-q", "--no-progress"]),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return {"lab_offline_checks_wall_s": round(time.perf_counter() - start, 2), "lab_offline_checks_passed": code == 0}


def gpu() -> dict:
    """fp32/TF32/bf16 training throughput on one GPU; a skip line elsewhere."""
    from kflab import bench_training, tiers

    problem = tiers.unavailable("gpu")
    return {"skipped": problem} if problem else bench_training.gpu_throughput()


def run(names: list[str]) -> dict:
    out = {"when": time.strftime("%Y-%m-%dT%H:%M:%S"), "python": platform.python_version(),
           "cpus": __import__("os").cpu_count(), "machine": platform.machine(), "results": {}}
    for name in names:
        module, func = BENCHMARKS[name].split(":")
        print(f"bench: {name} ...", flush=True)
        start = time.perf_counter()
        try:
            result = getattr(importlib.import_module(module), func)()
        except Exception as exc:  # one broken benchmark must not lose the others' figures
            result = {"error": f"{type(exc).__name__}: {exc}"}
        result["bench_wall_s"] = round(time.perf_counter() - start, 2)
        out["results"][name] = result
        print(json.dumps({name: result}, indent=2), flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"benchmarks to run: {', '.join(BENCHMARKS)} (default: all)")
    parser.add_argument("--out", default=str(paths.state_dir() / "bench.json"), help="where to write the JSON")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"no benchmark named {', '.join(map(repr, unknown))}; choose from {', '.join(BENCHMARKS)}")
    result = run(args.names or list(BENCHMARKS))
    state.write_json(Path(args.out), result)
    print(f"bench: wrote {args.out}")
    return 1 if any("error" in r for r in result["results"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
