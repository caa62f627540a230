"""What `kflab tune` shows and writes: a trial table, results.json, and a plot of the objective per trial."""

from __future__ import annotations

import json
import os
from pathlib import Path


def table(result) -> str:
    """The trials as an aligned text table, then the best trial and why the Experiment ended."""
    metric = result.objective["objectiveMetricName"]
    names = sorted({k for t in result.trials for k in t.assignment})
    head = ["trial", *names, metric, "status", "seconds"]
    rows = [[str(t.number), *(t.assignment.get(n, "") for n in names),
             "-" if t.objective is None else f"{t.objective:.4f}", t.status, f"{t.seconds:.1f}"] for t in result.trials]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [head, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    best = result.best
    lines.append("")
    lines.append(f"best: trial {best.number}, {metric}={best.objective:.4f}, {best.assignment}" if best else "best: none (no trial succeeded)")
    lines.append(f"Experiment {result.name} {result.reason}; {result.wall_s:.1f} s in all")
    return "\n".join(lines)


def as_dict(result) -> dict:
    best = result.best
    return {
        "experiment": result.name,
        "status": result.status,
        "reason": result.reason,
        "objective": result.objective,
        "best_trial": best.as_dict() if best else None,
        "trials": [t.as_dict() for t in result.trials],
        "wall_seconds": round(result.wall_s, 2),
    }


def write(result) -> list[Path]:
    """results.json and objective.png in the result's folder; returns their paths."""
    result.out.mkdir(parents=True, exist_ok=True)
    data, plot = result.out / "results.json", result.out / "objective.png"
    tmp = data.with_suffix(".tmp")
    tmp.write_text(json.dumps(as_dict(result), indent=2))
    os.replace(tmp, data)
    _plot(result, plot)
    return [data, plot]


def _plot(result, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    metric, goal = result.objective["objectiveMetricName"], result.objective.get("goal")
    maximize = result.objective.get("type") == "maximize"
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ok = [t for t in result.trials if t.status == "Succeeded"]
    ax.scatter([t.number for t in ok], [t.objective for t in ok], label=metric, zorder=3)
    bad = [t for t in result.trials if t.status != "Succeeded"]
    if bad:
        ax.scatter([t.number for t in bad], [0.0] * len(bad), marker="x", color="tab:red", label="failed or killed")
    best, xs, ys = None, [], []
    for t in ok:
        best = t.objective if best is None else (max if maximize else min)(best, t.objective)
        xs.append(t.number)
        ys.append(best)
    if xs:
        ax.step(xs, ys, where="post", color="tab:green", label="best so far")
    if goal is not None:
        ax.axhline(goal, linestyle="--", color="grey", label=f"goal {goal}")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.set_title(f"Experiment {result.name}")
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
