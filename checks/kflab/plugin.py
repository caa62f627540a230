"""The pytest plugin behind `pytest checks/...` and `kflab check`.

It adds --target, declares the tier markers once, prints a reproducible report
header, skips tiers the machine cannot run with one line saying how to get them,
renders failures as sentences ending in the hint command, and records results
for `kflab status` and the grader.
"""

from __future__ import annotations

import platform
import re
from pathlib import Path

import pytest

from kflab import __version__, paths, registry, results, targets
from kflab.failures import CheckFailure, render
from kflab.learner import LabTarget

MARKERS = {
    "offline": "runs anywhere, with no cluster: the real tools (KFP compiler, kfp.local, torchrun, ...) on this machine",
    "cluster": "needs a reachable Kubernetes API (Kind on a laptop, scripts/controlplane in CI)",
    "gpu": "needs a CUDA GPU",
}


def pytest_addoption(parser):
    group = parser.getgroup("kflab")
    group.addoption("--target", default=None, help="what to check: labs (default), solutions, or a submission folder")
    group.addoption("--kflab-report", default=None, metavar="PATH", help="write machine-readable results (JSON) here")
    group.addoption("--no-progress", action="store_true", help="don't record results for `kflab status`")


def pytest_configure(config):
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    try:
        config.kflab_root = targets.resolve(config.getoption("--target"))
    except targets.TargetError as exc:
        raise pytest.UsageError(str(exc)) from None
    if not hasattr(config, "workerinput"):  # under xdist, only the controller collects
        collector = results.Collector(
            targets.describe(config.kflab_root),
            report=config.getoption("--kflab-report"),
            progress=not config.getoption("--no-progress"),
        )
        config.pluginmanager.register(collector, "kflab-results")


def pytest_report_header(config):
    from importlib import metadata

    def version(dist):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "absent"

    target = targets.describe(config.kflab_root)
    tools = ", ".join(f"{d} {version(d)}" for d in ("kfp", "torch", "scikit-learn", "optuna", "kubernetes"))
    return [
        f"kflab {__version__}: target={target} ({config.kflab_root})",
        f"python {platform.python_version()}, {tools}",
        f"reproduce: pytest {' '.join(a for a in _without_target(config.invocation_params.args))} --target={target}",
    ]


def _without_target(args):
    """The command line minus any --target option, which the header adds back explicitly."""
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--target":
            skip = True
        elif not arg.startswith("--target="):
            yield arg


def pytest_collection_modifyitems(config, items):
    from kflab import tiers

    for item in items:
        lab = registry.for_check_file(item.path)
        if lab is None:
            continue
        item.kflab_lab = lab.id
        marks = {m.name for m in item.iter_markers()} & set(MARKERS)
        if not marks:
            item.add_marker(pytest.mark.offline)
        for tier in marks - {"offline"}:
            reason = tiers.unavailable(tier)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="module")
def lab(request) -> LabTarget:
    """The lab that this check module is about, in the chosen target."""
    meta = registry.for_check_file(request.path)
    if meta is None:
        raise RuntimeError(f"{request.path} is not a check module named in labs/labs.toml")
    return LabTarget(meta, request.config.kflab_root)


@pytest.fixture(scope="module")
def lab_tmp(lab, tmp_path_factory) -> Path:
    """A scratch folder for one lab's runs, shared by its checks."""
    return tmp_path_factory.mktemp(f"lab{lab.id.replace('.', '_')}")


@pytest.fixture(scope="session")
def cluster():
    """The Kubernetes API of the current context (cluster-tier checks only)."""
    from kflab import k8s, tiers

    problem = tiers.unavailable("cluster")
    if problem:
        pytest.skip(problem)
    return k8s.Cluster()


@pytest.fixture
def namespace(cluster, lab, request):
    """A namespace of this check's own, labelled as ours, deleted afterwards."""
    check = re.sub(r"[^A-Za-z0-9_.-]", "-", request.node.name)[:63].strip("-_.")
    name = cluster.new_namespace(f"kflab-{lab.id.replace('.', '-')}", labels={"kflab.dev/check": check})
    yield name
    cluster.delete("v1", "Namespace", name)


def _sentence_for(exc: BaseException) -> str | None:
    """The learner-facing sentence for an exception, or None when it is a harness bug."""
    from kflab.k8s import ApiRefusal

    if isinstance(exc, (CheckFailure, pytest.fail.Exception)):
        return str(exc)
    if isinstance(exc, ApiRefusal):
        return f"The API server refused a request: {exc.reason}. Fix the manifest it names and run the check again."
    if isinstance(exc, paths.FolderError):
        return str(exc)
    if isinstance(exc, TimeoutError):
        return f"Waited in vain: {exc}. Check the objects' status with kubectl describe, then run the check again."
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    lab_id = getattr(item, "kflab_lab", None)
    if lab_id is None:
        return
    if report.failed and call.excinfo is not None:
        exc = call.excinfo.value
        message = _sentence_for(exc)
        if message is not None:
            report.longrepr = render(message, lab_id)
        else:
            message = f"The check could not finish: {type(exc).__name__}: {exc}"
            report.longrepr = f"{report.longreprtext}\n{render('', lab_id)}"
        report.user_properties.append(("kflab_message", message))
        if report.when == "setup" and _sentence_for(exc) is not None:
            report.user_properties.append(("kflab_setup_failure", True))
    if report.skipped and isinstance(report.longrepr, tuple):
        report.user_properties.append(("kflab_message", report.longrepr[2]))
    report.user_properties.append(("kflab_lab", lab_id))


def pytest_report_teststatus(report, config):
    # A module fixture that runs the learner's pipeline fails in setup; that is a
    # failed checkpoint for the learner, not an error in the checks.
    if report.when == "setup" and report.failed and ("kflab_setup_failure", True) in report.user_properties:
        return "failed", "F", "FAILED"
    return None
