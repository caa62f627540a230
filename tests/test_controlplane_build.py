"""Unit tests of scripts/controlplane's build and process parts: go.mod wrappers and pid files; no build, no network."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "checks"))

from kflab.controlplane import gomod, procs  # noqa: E402

K8S_GOMOD = """\
// This is a generated file. Do not edit directly.
module k8s.io/kubernetes

go 1.25.0

godebug default=go1.25

require (
\tgithub.com/spf13/cobra v1.10.0
\tgo.etcd.io/etcd/server/v3 v3.6.5 // indirect
\tk8s.io/api v0.0.0
\tk8s.io/client-go v0.0.0
\tk8s.io/kube-openapi v0.0.0-20250910181357-589584f1c912
)

require k8s.io/kubectl v0.0.0

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/client-go => ./staging/src/k8s.io/client-go
\tk8s.io/sample-controller => ./staging/src/k8s.io/sample-controller
)
"""


def test_requires_reads_blocks_single_lines_and_strips_comments():
    req = gomod.requires(K8S_GOMOD)
    assert req["go.etcd.io/etcd/server/v3"] == "v3.6.5"
    assert req["k8s.io/kubectl"] == "v0.0.0"
    assert req["github.com/spf13/cobra"] == "v1.10.0"


def test_staging_modules_are_those_at_v0_0_0_or_mapped_to_staging():
    assert gomod.staging_modules(K8S_GOMOD) == [
        "k8s.io/api", "k8s.io/client-go", "k8s.io/kubectl", "k8s.io/sample-controller"]


def test_pseudo_versions_are_not_mistaken_for_staging_modules():
    assert "k8s.io/kube-openapi" not in gomod.staging_modules(K8S_GOMOD)


@pytest.mark.parametrize("k8s, staged", [("v1.35.4", "v0.35.4"), ("v1.36.0-rc.1", "v0.36.0-rc.1")])
def test_staging_version_follows_the_kubernetes_version(k8s, staged):
    assert gomod.staging_version(k8s) == staged


def test_staging_version_rejects_a_non_release():
    with pytest.raises(ValueError):
        gomod.staging_version("v0.35.4")


def test_kubernetes_wrapper_replaces_every_staging_module_and_copies_godebug():
    text, etcd = gomod.kubernetes_wrapper(K8S_GOMOD, "v1.35.4")
    assert etcd == "v3.6.5"
    assert "godebug default=go1.25" in text and "go 1.25.0" in text
    assert gomod.requires(text) == {"k8s.io/kubernetes": "v1.35.4", "go.etcd.io/etcd/server/v3": "v3.6.5"}
    assert gomod.replaces(text) == [(m, f"{m} v0.35.4") for m in gomod.staging_modules(K8S_GOMOD)]
    assert "./staging" not in text


def test_module_replaces_copies_module_replaces_and_refuses_local_paths():
    ok = "module x\n\nreplace a.io/b v1.0.0 => c.io/d v1.2.0\n"
    assert gomod.module_replaces(ok) == [("a.io/b v1.0.0", "c.io/d v1.2.0")]
    with pytest.raises(ValueError, match="local paths"):
        gomod.module_replaces("module x\nreplace a.io/b => ../b\n")


def test_wrapper_lists_no_replace_block_when_there_is_none():
    text = gomod.wrapper("w", "module u\n\ngo 1.26.0\n", {"u": "v1.0.0"}, [])
    assert "replace" not in text and "go 1.26.0" in text


# --- pid files -------------------------------------------------------------------


def fake_proc(root: Path, pid: int, start: str, state: str = "S") -> Path:
    fields = [state] + ["0"] * 18 + [start, "0"]
    (root / str(pid)).mkdir(parents=True, exist_ok=True)
    (root / str(pid) / "stat").write_text(f"{pid} (odd) name) " + " ".join(fields) + "\n")
    return root


def test_start_time_reads_field_22_even_with_parentheses_in_the_name(tmp_path):
    fake_proc(tmp_path, 42, "12345")
    assert procs.start_time(42, tmp_path) == "12345"
    assert procs.start_time(43, tmp_path) is None


def test_zombie_counts_as_gone(tmp_path):
    fake_proc(tmp_path, 42, "12345", state="Z")
    assert procs.start_time(42, tmp_path) is None


def test_state_of_a_pidfile(tmp_path):
    proc = fake_proc(tmp_path / "proc", 42, "100")
    pidfile = tmp_path / "x.pid"
    assert procs.state(pidfile, proc) == "not started"
    procs.write(pidfile, procs.Record(42, "100", "etcd"))
    assert procs.state(pidfile, proc) == "running"
    procs.write(pidfile, procs.Record(42, "99", "etcd"))  # the pid now belongs to another process
    assert procs.state(pidfile, proc) == "dead"
    pidfile.write_text("not json")
    assert procs.state(pidfile, proc) == "not started"


def test_stop_leaves_a_reused_pid_alone(tmp_path):
    other = subprocess.Popen(["sleep", "30"])
    try:
        pidfile = tmp_path / "x.pid"
        procs.write(pidfile, procs.Record(other.pid, "1", "sleep"))  # wrong start time
        assert procs.stop(pidfile) == "was not running"
        assert other.poll() is None and not pidfile.exists()
    finally:
        other.kill()
        other.wait()


def test_start_then_stop_kills_the_whole_process_group(tmp_path):
    pidfile, logfile = tmp_path / "x.pid", tmp_path / "x.log"
    # A shell that ignores TERM and has a child: only the group KILL ends both.
    script = "trap '' TERM; sleep 30 & echo child=$!; wait"
    record = procs.start("x", ["bash", "-c", script], pidfile, logfile)
    assert procs.state(pidfile) == "running"
    deadline = time.monotonic() + 5
    while not (found := re.search(r"child=(\d+)", logfile.read_text())) and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(found.group(1))
    assert procs.stop(pidfile, grace_s=0.5) == "killed after TERM timed out"
    time.sleep(0.2)
    assert procs.start_time(record.pid) is None and procs.start_time(child) is None
    assert not pidfile.exists()
