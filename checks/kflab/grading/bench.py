"""Benchmark: grading throughput for Stage 2 on a generated class, against the same checks run bare.

`grading_stage2()` builds 30 submissions (solutions, starters and broken ones
that end on their own), grades them with `kflab grade --stage 2 --jobs 2`, and
runs the very same pytest commands without any isolation, two at a time, for
the ratio. Memory is the grader's whole process tree, sampled from /proc.
"""

from __future__ import annotations

import concurrent.futures as cf
import csv
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from kflab import checkrun, paths, registry
from kflab.grading import corpus, proctree


class _Sampler(threading.Thread):
    """Peak PSS and RSS of a process and everything below it, every half second."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak_pss, self.peak_rss, self.stop = pid, 0.0, 0.0, threading.Event()

    def run(self):
        while not self.stop.wait(0.5):
            tree = [self.pid, *proctree.descendants(self.pid)]
            self.peak_pss = max(self.peak_pss, proctree.memory_mb(tree))
            self.peak_rss = max(self.peak_rss, proctree.rss_mb(tree))


def _class(folder: Path, labs, n: int) -> dict[str, str]:
    """n submissions: a third solutions, a third starters, a third broken (kinds that end by themselves)."""
    kinds = {}
    for i in range(n):
        kind = ("solution", "starter", corpus.QUICK[(i // 3) % len(corpus.QUICK)])[i % 3]
        kinds[f"s{i:02d}-{kind}"] = kind
        corpus.build(kind, folder, f"s{i:02d}-{kind}", labs, token="bench")
    return kinds


def _timed(cmd: list[str], cwd: Path) -> tuple[float, _Sampler]:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sampler = _Sampler(proc.pid)
    sampler.start()
    proc.wait()
    sampler.stop.set()
    return time.perf_counter() - start, sampler


def _direct(subs: list[Path], labs, jobs: int, work: Path) -> float:
    """The same check runs, bare: `python -m pytest <checks> --target=<submission>`, `jobs` at a time."""
    def one(sub: Path) -> None:
        extra = [f"--kflab-report={work / (sub.name + '.json')}", "--no-progress", "-q", "--tb=short"]
        cmd = [sys.executable, "-m", "pytest", *checkrun.pytest_args(labs, str(sub), extra, parallel=False)]
        subprocess.run(cmd, cwd=paths.REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    start = time.perf_counter()
    with cf.ThreadPoolExecutor(jobs) as pool:
        list(pool.map(one, subs))
    return time.perf_counter() - start


def grading_stage2(n: int = 30, jobs: int = 2, timeout: int = 300) -> dict:
    """Submissions per minute, grading/direct time ratio (target <= 1.25), and peak memory of the grader."""
    labs = registry.select("2")
    with tempfile.TemporaryDirectory(prefix="kflab-bench-grade-") as tmp:
        tmp = Path(tmp)
        folder = tmp / "class"
        folder.mkdir()
        kinds = _class(folder, labs, n)
        subs = sorted(folder.iterdir())
        _direct(subs[:1], labs[:1], 1, tmp / "warm")  # warm the page cache for both runs alike
        cmd = [sys.executable, "-m", "kflab.cli", "grade", str(folder), "--stage", "2", "--jobs", str(jobs),
               "--timeout", str(timeout), "--out", str(tmp / "out")]
        grading_s, sampler = _timed(cmd, paths.REPO)
        child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # before the bare runs add theirs
        direct_s = _direct(subs, labs, jobs, tmp / "direct")
        with open(tmp / "out" / "grades.csv", newline="") as fh:
            rows = {r["student"]: r for r in csv.DictReader(fh)}
    full = sum(lab.points for lab in labs)
    return {
        "labs": [lab.id for lab in labs],
        "submissions": n,
        "mix": {k: sum(v == k for v in kinds.values()) for k in sorted(set(kinds.values()))},
        "jobs": jobs,
        "grading_wall_s": round(grading_s, 1),
        "submissions_per_minute": round(n / grading_s * 60, 2),
        "direct_wall_s": round(direct_s, 1),
        "ratio_grading_to_direct": round(grading_s / direct_s, 3),
        "target_ratio": "<= 1.25",
        "peak_tree_pss_mb": round(sampler.peak_pss),
        "peak_tree_rss_mb": round(sampler.peak_rss),
        "max_single_process_rss_mb": round(child_rss),
        "solutions_full": all(float(r["total"]) == full for n_, r in rows.items() if kinds[n_] == "solution"),
        "starters_zero": all(float(r["total"]) == 0 for n_, r in rows.items() if kinds[n_] == "starter"),
        "statuses": {s: sum(r["status"] == s for r in rows.values()) for s in ("ok", "missing", "crashed", "timeout")},
    }


if __name__ == "__main__":
    import json

    print(json.dumps(grading_stage2(), indent=2))
