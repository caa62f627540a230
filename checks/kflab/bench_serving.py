"""`scripts/bench serving`: lab 3.6's predictor on the real KServe model server, start-up and latency."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from kflab import paths, registry, serving

REQUESTS, ROWS = 200, 25


def predictor_latency() -> dict:
    """Seconds until the solution's predictor reports ready, and milliseconds per v1 predict of 25 rows."""
    lab = registry.get("3.6")
    with tempfile.TemporaryDirectory(prefix="kflab-bench-") as tmp:
        _, features = serving.train_classifier(Path(tmp) / "model")
        start = time.perf_counter()
        server = serving.start(lab.dir(paths.SOLUTIONS) / "predictor.py", "cancer-classifier", Path(tmp) / "model",
                               Path(tmp) / "run", shown="predictor.py")
        ready_s = time.perf_counter() - start
        body = {"instances": features.iloc[:ROWS].to_dict("records")}
        times, failed = [], 0
        try:
            for _ in range(REQUESTS):
                t0 = time.perf_counter()
                failed += server.request("/v1/models/cancer-classifier:predict", body).status != 200
                times.append((time.perf_counter() - t0) * 1000)
        finally:
            server.stop()
    times.sort()
    return {
        "ready_s": round(ready_s, 2),
        "requests": REQUESTS, "rows_per_request": ROWS, "failed": failed,
        "predict_ms_p50": round(statistics.median(times), 2),
        "predict_ms_p95": round(times[int(0.95 * len(times)) - 1], 2),
    }
