"""For the harness tests that need a cluster: skip without one, except where CI requires it."""

from __future__ import annotations

import os

import pytest

from kflab import tiers


def need(problem: str | None) -> None:
    """Skip with `problem`, or fail under KFLAB_REQUIRE_CLUSTER=1 (set by .ci/run); nothing when None."""
    if problem:
        if os.environ.get("KFLAB_REQUIRE_CLUSTER") == "1":
            pytest.fail(f"KFLAB_REQUIRE_CLUSTER=1, but {problem}")
        pytest.skip(problem)


def need_cluster() -> None:
    need(tiers.unavailable("cluster"))
