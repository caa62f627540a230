"""The README's two commands stay true: `scripts/start` opens the course, `scripts/test` is what CI runs."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from kflab import paths

README = (paths.REPO / "README.md").read_text(encoding="utf-8")
ADDRESS = ("127.0.0.1", 8000)  # where scripts/start serves, and where the README sends learners


def test_the_readme_gives_the_two_commands_and_ci_runs_the_second():
    blocks = re.findall(r"```bash\n(.*?)```", README, re.S)
    assert blocks[:2] == ["scripts/start\n", "scripts/test\n"], f"the quick start opens with the two commands: {blocks[:2]}"
    assert "exec scripts/test" in (paths.REPO / ".ci" / "run").read_text(), ".ci/run runs the README's test command"
    assert "http://127.0.0.1:8000" in README, "the README says where the course is served"


def _port_free() -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(ADDRESS) != 0


def test_scripts_start_serves_the_course_offline():
    if not _port_free():
        pytest.skip(f"something already listens on {ADDRESS[0]}:{ADDRESS[1]}")
    proc = subprocess.Popen([str(paths.REPO / "scripts" / "start")], cwd=paths.REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    page, deadline = "", time.monotonic() + 300
    try:
        while time.monotonic() < deadline and proc.poll() is None and not page:
            try:
                with urllib.request.urlopen(f"http://{ADDRESS[0]}:{ADDRESS[1]}/", timeout=5) as resp:
                    page = resp.read().decode()
            except OSError:
                time.sleep(1)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        out = proc.communicate(timeout=30)[0]
    assert page, f"scripts/start served nothing at {ADDRESS[0]}:{ADDRESS[1]} within 300 s:\n{out[-3000:]}"
    assert "Kubeflow, lab by lab" in page and "Stage 3" in page, "the home page is the course's, with its map"
    assert "1.1" in out and "3.5" in out, f"before serving, it prints the course map with every lab:\n{out[:2000]}"
