"""Points from the registry: a lab's `points` split over its checkpoints by `Lab.weight`.

Skipped checkpoints (a tier this machine cannot run) do not count: the lab's
points are split over the checkpoints that ran. A checkpoint cut short by a
timeout or a crash counts, with no points, unless its tier could not have run.
"""

from __future__ import annotations

import math
from fractions import Fraction

from kflab.registry import Lab

STATUSES = ("ok", "missing", "crashed", "timeout")  # worst last: a row shows its worst lab
MAX_MESSAGE = 4000


def weight(lab: Lab, name: str) -> float:
    """The registry's weight for a checkpoint; parametrized ones (`test_x[a]`) share their function's."""
    known = dict(lab.weights)
    return lab.weight(name) if name in known else lab.weight(name.split("[", 1)[0])


def lab_result(lab: Lab, checks: dict[str, dict], status: str = "ok", reason: str = "") -> dict:
    """One lab's points, status and per-checkpoint verdicts."""
    counted = {n: weight(lab, n) for n, c in checks.items() if c["outcome"] != "skipped"}
    total_weight = sum(counted.values())
    shares = _shares(lab.points, counted)
    scored = {}
    for name, check in checks.items():
        share = shares.get(name, 0.0)
        scored[name] = {
            "outcome": check["outcome"],
            "message": _clip(check.get("message", "")),
            "points": share if check["outcome"] == "passed" else 0.0,
            "max_points": share,
        }
    passed = sum(w for n, w in counted.items() if checks[n]["outcome"] == "passed")
    points = lab.points * passed / total_weight if total_weight else 0.0  # rounded once, not per checkpoint
    if not counted and status == "ok":
        reason = reason or ("no checkpoint ran here (all were skipped)" if checks else "no checkpoint was selected")
    return {"status": status, "reason": reason, "points": round(points, 2), "max_points": lab.points, "checks": scored}


def _shares(points: float, weights: dict[str, float]) -> dict[str, float]:
    """Each checkpoint's share of `points`, in hundredths that add up to `points` exactly.

    Largest remainder: each share is rounded down to the hundredth, and the hundredths left
    over go to the largest remainders (the earlier checkpoint on a tie). Rounding each share
    on its own gives seven checkpoints of a 10-point lab 1.43 each, 10.01 in all.
    """
    total = sum(Fraction(w) for w in weights.values())
    if not total:
        return {}
    cents = Fraction(round(points * 100))
    exact = {name: cents * Fraction(w) / total for name, w in weights.items()}
    floors = {name: math.floor(x) for name, x in exact.items()}
    left = int(cents) - sum(floors.values())
    for name in sorted(exact, key=lambda n: floors[n] - exact[n])[:left]:  # stable: ties keep checkpoint order
        floors[name] += 1
    return {name: n / 100 for name, n in floors.items()}


def missing_lab(lab: Lab, reason: str | None = None) -> dict:
    return lab_result(lab, {}, "missing", reason or f"no folder {lab.folder} in the submission")


def cut_short(lab: Lab, finished: dict[str, dict], collected: list[str], status: str, reason: str,
              cannot_run: dict[str, str] | None = None) -> dict:
    """A lab stopped by a timeout or a crash: what finished keeps its verdict, the rest gets none.

    The checkpoint that was running gets the reason; those after it were not reached. One
    of a tier this machine cannot run (`cannot_run`: name -> why) would have been skipped,
    so it is skipped and does not count.
    """
    checks, cannot_run, said = dict(finished), cannot_run or {}, False
    for name in collected:
        if name in checks:
            continue
        if name in cannot_run:
            checks[name] = {"outcome": "skipped", "message": cannot_run[name]}
        else:
            checks[name] = {"outcome": status, "message": "not reached: the run stopped at an earlier checkpoint"
                            if said else reason}
            said = True
    return lab_result(lab, checks, status, reason)


def submission_result(name: str, labs: list[Lab], results: dict[str, dict], notes: list[str]) -> dict:
    """The row: every selected lab (missing ones included), total, worst status and the reasons."""
    per_lab = {lab.id: results.get(lab.id) or missing_lab(lab, "not graded") for lab in labs}
    status = max((r["status"] for r in per_lab.values()), key=STATUSES.index, default="missing")
    grouped: dict[str, list[str]] = {}  # one reason shared by several labs is said once
    for lab_id, r in per_lab.items():
        if r["reason"] and r["status"] != "ok":
            grouped.setdefault(r["reason"], []).append(lab_id)
    reasons = [f"{', '.join(ids)}: {reason}" for reason, ids in grouped.items()]
    return {
        "name": name,
        "status": status,
        "reason": "; ".join(reasons),
        "notes": notes,
        "total": round(sum(r["points"] for r in per_lab.values()), 2),
        "max_total": sum(lab.points for lab in labs),
        "labs": per_lab,
    }


def refused(name: str, labs: list[Lab], reason: str, notes: list[str] | None = None) -> dict:
    """A submission that could not be graded at all: every lab missing, with the reason."""
    return submission_result(name, labs, {lab.id: missing_lab(lab, reason) for lab in labs}, notes or [])


def _clip(text: str) -> str:
    text = text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates from odd file names
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + "\n[... cut]"
