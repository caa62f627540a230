"""Benchmarks of Stage 1, for scripts/bench: how long `kflab check 1` takes offline.

The issue's budget is 30 s on the solutions. The run goes through the real CLI
in a child process, as a learner's would, with the upstream caches (Kind's Go
types, the pinned CRDs) warm: the first run after a fresh clone also downloads them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from kflab import paths

BUDGET_S = 30.0


def check_stage1_offline(target: str = "solutions", repeats: int = 1) -> dict:
    """Wall-clock seconds of `kflab check 1 --offline --target TARGET` (best of `repeats`)."""
    # Options before the selector: the CLI hands everything after it to pytest.
    cmd = [sys.executable, "-m", "kflab.cli", "check", "--offline", "--target", target, "1", "--", "-q", "--no-progress"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(paths.CHECKS), os.environ.get("PYTHONPATH")]))}
    times, codes = [], []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=paths.REPO, env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        codes.append(proc.returncode)
    best = min(times)
    return {
        "name": "kflab check 1 --offline (stage 1, solutions)",
        "command": " ".join(["kflab", *cmd[3:]]),
        "seconds": round(best, 2),
        "runs": [round(t, 2) for t in times],
        "budget_s": BUDGET_S,
        "within_budget": best < BUDGET_S,
        "checks_passed": all(code == 0 for code in codes) if target == "solutions" else None,
        "cpus": os.cpu_count(),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(check_stage1_offline(repeats=int(sys.argv[1]) if len(sys.argv) > 1 else 1), indent=2))
