"""Every `python ... submit.py ...` line on a page parses as typed: KEY=VALUE pairs may follow the flags.

Each line runs against lab 2.6's solution with its --host swapped for a port where
nothing listens, so the solution stops at its endpoint check; an argument the parser
refused would end it earlier, with argparse's "unrecognized arguments".
"""

import re
import shlex
import socket
import subprocess
import sys

import pytest

from kflab import paths, registry

SUBMIT = re.compile(r"^ *python (\S*submit\.py .*)$", re.M)
HOST = re.compile(r"--host \S+")


def _documented() -> list[tuple[str, str]]:
    found = []
    for page in sorted(paths.DOCS.rglob("*.md")):
        text = re.sub(r"\\\n\s*", "", page.read_text(encoding="utf-8"))
        found += [(f"{page.relative_to(paths.DOCS)}", m.group(1)) for m in SUBMIT.finditer(text)]
    return found


def _dead_host() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_the_pages_show_submit_commands():
    assert len(_documented()) >= 2, "lab 2.6's and lab 3.8's pages both show a submit.py command; the pattern found fewer"


@pytest.mark.parametrize(("page", "line"), _documented(), ids=[page for page, _ in _documented()])
def test_a_documented_submit_line_parses(page, line, tmp_path):
    (tmp_path / "pipeline.yaml").write_text("{}\n")
    script = registry.get("2.6").dir(paths.SOLUTIONS) / "submit.py"
    args = shlex.split(HOST.sub(f"--host {_dead_host()}", line.replace("$(date +%s)", "1")))[1:]
    proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert "unrecognized arguments" not in proc.stderr, f"{page}: `{line}` is refused by submit.py's parser: {proc.stderr}"
    assert proc.returncode == 2 and "Cannot reach KFP" in proc.stderr, (
        f"{page}: `{line}` should stop at the endpoint check; it exited {proc.returncode}: {proc.stderr[-300:]}")
