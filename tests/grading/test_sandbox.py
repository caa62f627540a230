"""The sandbox wrapper on small commands, and the grader's memory watch on a real submission."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from graderkit import LAB, LIMITS, confined, needs_confinement, processes_bounded

from kflab.grading import confine, grader, handins, proctree
from kflab.grading.isolate import Box


def sandboxed(tmp_path: Path, code: str, limits=LIMITS, network=False, namespaces=True,
              who: str = "grader") -> tuple[subprocess.CompletedProcess, Box]:
    """Run `code` with the venv's Python inside the wrapper, as the grader would (or as an ordinary user's)."""
    box = Box.make(tmp_path / "work")
    script = box.root / "probe.py"
    script.write_text(textwrap.dedent(code))
    cgroup = confine.PidsCgroup.create(f"test-{tmp_path.name}", limits.max_procs) if who == "grader" else None
    argv = confine.sandbox_command(box, limits, network, [], cgroup, [sys.executable, str(script)], namespaces)
    if who == "ordinary-user":
        argv = ordinary_user_prefix() + argv
    elif who == "user-without-namespaces":
        argv = refused_user_prefix() + argv
        # The wrapper is then pid 1 of the PID namespace that a proc of its own needs,
        # so its parent, the test, is outside and getppid() is 0.
        config = json.loads(box.sandbox_config.read_text())
        box.sandbox_config.write_text(json.dumps({**config, "parent": 0}))
    try:
        done = subprocess.run(argv, cwd=box.root, capture_output=True, text=True, timeout=60,
                              env={**os.environ, "HOME": str(box.home), "TMPDIR": str(box.tmp)})
    finally:
        if cgroup:
            cgroup.remove()
    return done, box


def ordinary_user_prefix() -> list[str]:
    """As root: start the wrapper as uid 1000 inside a user namespace, so it takes an ordinary user's path.

    The wrapper then sees a non-zero uid and has to build its namespaces without
    privilege, inside a user namespace of its own, exactly as under a real user.
    """
    if os.geteuid() != 0:
        pytest.skip("the grader's own case already runs as an ordinary user here")
    prefix = ["unshare", "--user", "--map-user=1000", "--map-group=1000", "--"]
    if not shutil.which("unshare") or subprocess.run([*prefix, "true"], capture_output=True).returncode != 0:
        pytest.skip("util-linux unshare cannot map a user here")
    return prefix


def refused_user_prefix() -> list[str]:
    """As root: an ordinary user (uid 1000) on a kernel that refuses them new user namespaces.

    An outer user namespace with a proc of its own lowers max_user_namespaces to
    the one namespace that uid 1000 lives in, so the wrapper's probe, which needs
    one more, gets ENOSPC: the refusal that `user.max_user_namespaces=0` gives.
    """
    inner = ordinary_user_prefix()
    prefix = ["unshare", "--user", "--map-root-user", "--mount", "--pid", "--fork", "--mount-proc", "--",
              "sh", "-c", 'echo 1 > /proc/sys/user/max_user_namespaces && exec "$@"', "sh", *inner]
    if subprocess.run([*prefix, "unshare", "--user", "true"], capture_output=True).returncode == 0:
        pytest.skip("cannot lower max_user_namespaces in a user namespace here")
    return prefix


WHO = pytest.mark.parametrize("who", ["grader", "ordinary-user"])


@needs_confinement
@WHO
def test_no_network_inside_but_loopback_works(tmp_path, who):
    done, box = sandboxed(tmp_path, """
        import socket
        server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen()
        socket.create_connection(server.getsockname(), timeout=2).close()
        try:
            socket.create_connection(("1.1.1.1", 443), timeout=5)
        except OSError as exc:
            print("blocked", exc.errno)
    """, who=who)
    assert "blocked" in done.stdout, f"an outside address must be unreachable: {done.stdout}{done.stderr}"
    assert "network" in box.isolation(), f"the wrapper made its own network namespace: {box.isolation()}"


@needs_confinement
@WHO
def test_only_the_box_and_a_private_tmp_are_writable(tmp_path, who):
    token = uuid.uuid4().hex[:10]  # never the name of what an earlier, failed run left behind
    outside, private, inside = Path.home() / f"kflab-sandbox-{token}", f"/tmp/kflab-private-{token}", tmp_path / "work/box/written"
    done, box = sandboxed(tmp_path, f"""
        import pathlib
        pathlib.Path({str(inside)!r}).write_text("ok")
        pathlib.Path({private!r}).write_text("gone with the namespace")
        try:
            pathlib.Path({str(outside)!r}).write_text("escaped")
        except OSError as exc:
            print("refused", exc.strerror)
    """, who=who)
    assert "refused Read-only file system" in done.stdout, done.stdout + done.stderr
    assert inside.read_text() == "ok", "the box is writable"
    assert not outside.exists() and not Path(private).exists(), "nothing lands outside the box"


def test_a_write_past_the_file_size_limit_fails_without_killing(tmp_path):
    limits = dataclasses.replace(LIMITS, file_size_mb=1)
    done, _ = sandboxed(tmp_path, """
        try:
            open("big.bin", "wb").write(b"x" * (2 << 20))
        except OSError as exc:
            print("refused", exc.errno)
    """, limits)
    assert done.returncode == 0 and "refused 27" in done.stdout, f"EFBIG, not SIGXFSZ: {done.returncode} {done.stdout}{done.stderr}"


@pytest.mark.skipif(not processes_bounded(), reason="no OS bound on processes here")
def test_a_fork_loop_stops_at_the_process_limit(tmp_path):
    limits = dataclasses.replace(LIMITS, max_procs=24)
    done, box = sandboxed(tmp_path, """
        import os, time
        count = 0
        try:
            for _ in range(500):
                if os.fork() == 0:
                    time.sleep(60)
                    os._exit(0)
                count += 1
        except OSError:
            pass
        print("forked", count)
    """, limits)
    forked, bound = int(done.stdout.split()[-1]), box.isolation()["processes"]
    if "per user" in bound:  # an ordinary user without namespaces: the limit counts all of the user's tasks
        assert forked < 500, f"RLIMIT_NPROC stops the loop, but it made {forked}"
    else:
        assert forked < 24, f"{bound} stops the loop at 24 tasks, but it made {forked}"


@pytest.mark.parametrize("namespaces", [True, False], ids=["in-a-pid-namespace", "as-subreaper"])
def test_processes_that_leave_the_session_still_end_with_the_command(tmp_path, namespaces):
    if namespaces and not confined():
        pytest.skip("needs the sandbox's namespaces")
    started = time.monotonic()
    done, box = sandboxed(tmp_path, """
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(120)
            os._exit(0)
        print("parent done")
    """, namespaces=namespaces)
    assert "parent done" in done.stdout and time.monotonic() - started < 30, "the daemon did not hold the run open"
    script = str(box.root / "probe.py").encode()
    stray = [pid for pid in proctree.pids() if script in _cmdline(pid)]
    assert stray == [], f"a daemonised child outlived its box: {stray}"


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def test_the_memory_watch_stops_a_tree_that_outgrows_the_limit(tmp_path):
    """Three processes of 400 MB each stay under the per-process limit but not under the tree's."""
    folder = tmp_path / "class"
    folder.mkdir()
    sub = handins.solution(folder / "greedy", [LAB])
    handins.prepend(sub, [LAB], """
import os, time
for _ in range(3):
    if os.fork() == 0:
        _block = b"\\x01" * (400 << 20)
        time.sleep(60)
        os._exit(0)
time.sleep(60)
""")
    limits = dataclasses.replace(LIMITS, memory_mb=800)
    summary = grader.grade(folder, [LAB], jobs=1, out=tmp_path / "out", limits=limits, show_progress=False)
    row = summary.rows[0]
    assert row["status"] == "crashed" and "more than 800 MB of memory" in row["reason"], row["reason"]


def test_a_user_refused_namespaces_still_gets_the_command_run_and_the_reason(tmp_path):
    done, box = sandboxed(tmp_path, """
        import os
        open("written", "w").write("ok")
        print("ran as", os.getuid())
    """, who="user-without-namespaces")
    facts = box.isolation()
    assert done.returncode == 0 and "ran as 1000" in done.stdout, f"the command runs without namespaces: {done.stdout}{done.stderr}"
    assert "user.max_user_namespaces" in facts.get("namespaces_problem", ""), f"the report says why, in words: {facts}"
    assert "per user" in facts.get("processes", "") and "network" not in facts, f"and claims no more than it has: {facts}"


def test_a_class_graded_by_a_user_refused_namespaces_gets_the_same_grades_and_the_reason(tmp_path):
    folder = tmp_path / "submissions"
    handins.solution(folder / "alice", [LAB])
    handins.starter(folder / "bob", [LAB])
    prefix = refused_user_prefix()
    done = subprocess.run([*prefix, sys.executable, "-m", "kflab.cli", "grade", str(folder), "--lab", LAB.id,
                           "--out", str(tmp_path / "out"), "--offline"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HOME": str(tmp_path)})
    assert done.returncode == 0, f"the grader finishes: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    rows = {r["student"]: r for r in csv.DictReader((tmp_path / "out" / "grades.csv").open())}
    assert (rows["alice"]["total"], rows["bob"]["total"]) == (rows["alice"]["max"], "0"), f"grades as usual: {rows}"
    for row in rows.values():
        assert "user.max_user_namespaces" in row["notes"], f"every row says why it was not confined: {row['notes']}"


def test_a_refused_namespace_probe_says_why_and_the_wrapper_goes_on(tmp_path):
    """Where the kernel refuses (here: an invalid unshare flag), the probe reports the reason instead of dying."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("kflab_sandbox_probe", confine.SANDBOX)
    wrapper = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(wrapper)
    parent = os.getpid()
    why = wrapper.namespaces_work(0x1)  # no namespace has this flag: unshare(2) fails with EINVAL
    assert os.getpid() == parent, "the probe's child must never return into the caller"
    assert why is not None and "unshare failed (Invalid argument)" in why, why
