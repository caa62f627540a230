"""The harness tests' one rule about clusters.

A test marked `cluster` uses the plugin's `cluster` fixture, which skips where no
Kubernetes API answers. Under KFLAB_REQUIRE_CLUSTER=1 (set by .ci/run) such a skip
is a failure, as `kflab dev check` treats a skipped cluster check.
"""

from __future__ import annotations

import os

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and item.get_closest_marker("cluster") and os.environ.get("KFLAB_REQUIRE_CLUSTER") == "1":
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"KFLAB_REQUIRE_CLUSTER=1, but this cluster test was skipped: {reason}"
