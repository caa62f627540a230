"""PromQL read as text, for the one mistake promtool accepts silently: a histogram quantile without buckets.

`histogram_quantile` needs the `le` label of each bucket. A `sum` inside it that
groups it away still parses and evaluates, but to nothing, so an alert on it
never fires. Lab 3.7's checks name that mistake instead of only seeing the alert
stay silent.
"""

from __future__ import annotations

import re


def _closing(text: str, start: int) -> int | None:
    """The index of the parenthesis that closes the one open before `start`, or None."""
    depth = 1
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return i
    return None


GROUPING = re.compile(r"\s*(by|without)\s*\(([^)]*)\)")


def _sums_keep_le(expr: str) -> bool:
    """Whether every `sum` in `expr` keeps the `le` label: `sum by (..., le)` or `sum(...) by (..., le)`, or without it not listed."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)  # a label value may say "sum"
    for match in re.finditer(r"\bsum\b", expr):
        grouping = GROUPING.match(expr, match.end())
        if grouping is None:  # sum (...) by (...): the grouping follows the argument, if there is one
            opening = re.compile(r"\s*\(").match(expr, match.end())
            if opening is None:  # a metric or label named sum, not the aggregation
                continue
            close = _closing(expr, opening.end())
            grouping = GROUPING.match(expr, close + 1) if close is not None else None
        mode, labels = grouping.groups() if grouping else ("by", "")
        if ("le" in re.split(r"[\s,]+", labels.strip())) != (mode == "by"):
            return False
    return True


def quantile_problem(name: str, expr) -> str | None:
    """Why `name`'s histogram_quantile has no buckets to work with (a `sum` inside it dropped `le`), or None."""
    expr = str(expr or "")
    for match in re.finditer(r"\bhistogram_quantile\s*\(", expr):
        close = _closing(expr, match.end())
        if not _sums_keep_le(expr[match.end():close]):
            return (f"{name}'s expr sums away the `le` label. Keep `le` in the `sum by (...)` inside "
                    "histogram_quantile, or the quantile has no buckets to work with.")
    return None
