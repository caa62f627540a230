"""Benchmarks for stage 3's training and tuning: each function measures and returns a dict.

- `ddp_cpu_throughput()`: lab 3.1's solution under torchrun on the CPU (gloo) with 1 and
  2 processes, the same batch per process (weak scaling): samples/s and scaling efficiency.
- `tune_wall_time()`: `kflab tune` on lab 3.3's solution Experiment: wall time per trial.
- `gpu_throughput()`: lab 3.1's solution on one GPU in fp32, TF32 and bf16 autocast.

`python -m kflab.bench_training {ddp,tune,gpu} [--out FILE]` prints (and writes) the JSON.
Only the standard library is imported at the top, so scripts/gpu_check.sh runs this
with nothing but python3, torch and pytest installed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from kflab import katib_trial, paths, torchrun

DDP_SCRIPT = paths.SOLUTIONS / "stage3" / "01_ddp_training" / "train.py"
EXPERIMENT = paths.SOLUTIONS / "stage3" / "03_katib_experiment" / "experiment.yaml"
GPU_MODEL = ["--samples", 262144, "--features", 1024, "--hidden", 4096, "--batch-size", 4096]


def _samples_per_s(launch: torchrun.Launch) -> list[float]:
    if not launch.ok:
        raise RuntimeError(launch.failure("the benchmark run"))
    return katib_trial.parse_metrics(launch.stdout.get(0, ""), ["samples_per_sec"])["samples_per_sec"]


def _steady(values: list[float]) -> float:
    """The median of the epochs after the first (the first pays for warm-up)."""
    return statistics.median(values[1:] if len(values) > 1 else values)


def _env() -> dict:
    import torch

    return {"torch": torch.__version__, "python": platform.python_version(), "cpu_count": os.cpu_count(),
            "load_average_1m": round(os.getloadavg()[0], 2)}


def ddp_cpu_throughput(epochs: int = 4, samples: int = 16384, batch_size: int = 64) -> dict:
    """Samples/s of 1 and 2 gloo processes on the CPU, and 2-process scaling efficiency."""
    args = ["--epochs", epochs, "--samples", samples, "--batch-size", batch_size, "--device", "cpu"]
    result = {"config": {"epochs": epochs, "samples": samples, "batch_size_per_process": batch_size}, **_env()}
    with tempfile.TemporaryDirectory(prefix="kflab-bench-") as tmp:
        for n in (1, 2):
            launch = torchrun.run(DDP_SCRIPT, [*args, "--checkpoint-dir", Path(tmp) / f"ck{n}"], nproc=n,
                                  cwd=Path(tmp), timeout_s=600)
            result[f"nproc_{n}_samples_per_s"] = round(_steady(_samples_per_s(launch)), 1)
            result[f"nproc_{n}_wall_s"] = round(launch.elapsed_s, 2)
    speedup = result["nproc_2_samples_per_s"] / result["nproc_1_samples_per_s"]
    result["speedup_2_vs_1"] = round(speedup, 3)
    result["scaling_efficiency_2"] = round(speedup / 2, 3)
    return result


def tune_wall_time(max_trials: int = 4, parallel: int = 2) -> dict:
    """Wall time of `kflab tune` on lab 3.3's solution, in all and per trial."""
    from kflab import tune

    with tempfile.TemporaryDirectory(prefix="kflab-bench-") as tmp:
        start = time.monotonic()
        result = tune.run(EXPERIMENT, max_trials=max_trials, parallel=parallel, out=Path(tmp), echo=lambda *_: None)
        wall = time.monotonic() - start
    trials = result.trials
    return {"trials": len(trials), "parallel": parallel, "wall_s": round(wall, 2),
            "wall_s_per_trial": round(wall / max(len(trials), 1), 2),
            "mean_trial_s": round(statistics.mean(t.seconds for t in trials), 2) if trials else None,
            "best_objective": result.best.objective if result.best else None, **_env()}


def gpu_throughput(precisions=("fp32", "tf32", "bf16"), device: str = "cuda", epochs: int = 3) -> dict:
    """Training samples/s of one process on one GPU, per precision (device='cpu' is a smoke test)."""
    import torch

    model = GPU_MODEL if device == "cuda" else ["--samples", 8192, "--features", 64, "--hidden", 128, "--batch-size", 256]
    result = {"device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
              "config": " ".join(map(str, model)), "epochs": epochs, **_env()}
    if device == "cuda":
        result["cuda"] = torch.version.cuda
    with tempfile.TemporaryDirectory(prefix="kflab-bench-") as tmp:
        for precision in precisions:
            launch = torchrun.run(DDP_SCRIPT, ["--epochs", epochs, "--device", device, "--precision", precision, *model,
                                               "--checkpoint-dir", Path(tmp) / precision], nproc=1, cwd=Path(tmp), timeout_s=600)
            result[f"{precision}_samples_per_s"] = round(_steady(_samples_per_s(launch)), 1)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kflab.bench_training", description=__doc__.splitlines()[0])
    parser.add_argument("which", choices=("ddp", "tune", "gpu"))
    parser.add_argument("--device", default="cuda", help="gpu benchmark only: cuda, or cpu for a smoke test")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)
    run = {"ddp": ddp_cpu_throughput, "tune": tune_wall_time, "gpu": lambda: gpu_throughput(device=args.device)}
    result = {"benchmark": args.which, **run[args.which]()}
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
