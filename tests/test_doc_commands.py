"""The shell commands that pages tell learners to type, run as written, on the solutions.

A page marks a block it promises will work with `<!-- kflab:runs LAB [cluster] -->`
on the line before the fence. The block runs with bash in a copy of that lab's
solution folder (a leading `cd labs/...` must name that folder), with the venv's
tools on PATH; a `cluster` block runs against the current cluster, in a namespace
of its own that replaces the page's; what it makes with `kubectl create` in another
namespace is deleted after it, and a Secret it makes must hold no empty value (a
key copied from a Secret that lacks it arrives empty, without an error). A line
ending in a backslash continues on the next. A comment at the end of a line is checked
where it states a result:
  `# yes` / `# no`          the command prints exactly that (kubectl auth can-i);
  `# NAME about X`          the last `NAME=value` it prints is within 0.03 of X.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from kflab import paths, registry

MARKER = re.compile(r"^( *)<!-- kflab:runs (\d+\.\d+)( cluster)? -->\n(?:[ \t]*\n)*\1```bash\n(.*?)^\1```", re.M | re.S)
ABOUT = re.compile(r"#\s*(\w+) about ([\d.]+)\s*$")
ANSWER = re.compile(r"#\s*(yes|no)\s*$")
NAMESPACE = re.compile(r"((?:-n|namespace) )team-a\b(?!-)")
CREATED = re.compile(r"kubectl create (\w+) (?:generic |tls |docker-registry )?(\S+) -n (\S+)")


@dataclasses.dataclass
class Block:
    page: str
    line: int
    lab: str
    cluster: bool
    lines: list[str]

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def blocks() -> list[Block]:
    found = []
    for page in sorted(paths.DOCS.rglob("*.md")):
        text = page.read_text(encoding="utf-8")
        for m in MARKER.finditer(text):
            indent = m.group(1)
            # A line ending in a backslash continues on the next, as in bash.
            joined = re.sub(r"\\\n\s*", "", m.group(4))
            lines = [ln.removeprefix(indent) for ln in joined.splitlines() if ln.strip()]
            found.append(Block(str(page.relative_to(paths.DOCS)), text.count("\n", 0, m.start()) + 1,
                               m.group(2), bool(m.group(3)), lines))
    return found


BLOCKS = blocks()


def test_pages_mark_the_commands_they_promise_will_run():
    pages = {b.page for b in BLOCKS}
    assert {"stage3/ddp-training.md", "stage3/katib-experiment.md", "stage3/multi-tenancy.md"} <= pages, (
        f"the runnable blocks should include stage 3's; found them on {sorted(pages)}")
    for block in BLOCKS:
        assert registry.get(block.lab), f"{block.id} names lab {block.lab}, which the registry does not have"
    for page in paths.DOCS.rglob("*.md"):
        markers = len(re.findall(r"^ *<!-- kflab:runs ", page.read_text(encoding="utf-8"), re.M))
        parsed = sum(b.page == str(page.relative_to(paths.DOCS)) for b in BLOCKS)
        assert markers == parsed, f"{page.name}: {markers - parsed} kflab:runs marker(s) not followed by a bash block"


def _workdir(tmp_path: Path, block: Block) -> tuple[Path, list[str]]:
    """A copy of the lab's solution folder, and the block's lines without a leading `cd` into it."""
    lab = registry.get(block.lab)
    folder = lab.dir(tmp_path / "course" / "labs")
    shutil.copytree(lab.dir(paths.SOLUTIONS), folder)
    lines = list(block.lines)
    if lines[0].startswith("cd "):
        where = lines.pop(0).split(None, 1)[1]
        assert where == str(lab.dir(Path("labs"))), f"{block.id} changes into {where}, not lab {block.lab}'s folder"
    return folder, lines


def _check_stated_result(block: Block, line: str, out: str) -> None:
    if m := ANSWER.search(line):
        assert out.strip() == m.group(1), f"{block.id}: `{line}` printed {out.strip()!r}"
    if m := ABOUT.search(line):
        values = re.findall(rf"\b{m.group(1)}=([\d.]+)", out)
        assert values, f"{block.id}: `{line}` printed no {m.group(1)}=... line:\n{out[-800:]}"
        assert abs(float(values[-1]) - float(m.group(2))) <= 0.03, (
            f"{block.id}: the page says {m.group(1)} about {m.group(2)}, the command printed {values[-1]}")


@pytest.fixture
def cluster_namespace(block, request):
    """For a cluster block: a fresh namespace name, and afterwards everything the block applied, deleted."""
    if not block.cluster:
        yield None
        return
    request.getfixturevalue("cluster")  # the plugin's: skips without a cluster (tests/conftest.py: not in CI)
    ns = f"kflab-docs-{uuid.uuid4().hex[:6]}"
    yield ns
    subprocess.run(["kubectl", "delete", "namespace", ns, "--ignore-not-found", "--wait=false"], capture_output=True)


@pytest.fixture
def block(request):
    return request.param


@pytest.mark.parametrize("block", [pytest.param(b, marks=[pytest.mark.cluster] if b.cluster else []) for b in BLOCKS],
                         ids=[b.id for b in BLOCKS], indirect=True)
def test_the_commands_on_the_page_run_as_written(tmp_path, block, cluster_namespace):
    folder, lines = _workdir(tmp_path, block)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "KFLAB_STATE": str(tmp_path / "state")}  # kflab tune's results stay out of the checkout's .kflab
    applied, created = [], []
    try:
        for line in lines:
            command = NAMESPACE.sub(rf"\g<1>{cluster_namespace}", line) if cluster_namespace else line
            done = subprocess.run(["bash", "-c", command], cwd=folder, env=env, capture_output=True, text=True,
                                  timeout=600)
            assert done.returncode == 0 or ANSWER.search(line), (
                f"{block.id}: `{line}` failed ({done.returncode}):\n{done.stdout[-1500:]}{done.stderr[-1500:]}")
            _check_stated_result(block, line, done.stdout)
            applied += [f for f in re.findall(r"apply .*-f (\S+)", command) if f != "-"]  # not stdin
            created += CREATED.findall(command)
        for kind, name, namespace in created:
            if kind == "secret":  # a key copied from a Secret that lacks it arrives empty, without an error
                data = subprocess.run(["kubectl", "get", "secret", name, "-n", namespace, "-o", "jsonpath={.data}"],
                                      env=env, capture_output=True, text=True).stdout
                empty = sorted(k for k, v in json.loads(data or "{}").items() if not v)
                assert data and not empty, f"{block.id}: the Secret {name} it creates has empty values: {empty or 'all'}"
    finally:
        for kind, name, namespace in created:  # objects made in an existing namespace such as kubeflow
            subprocess.run(["kubectl", "delete", kind, name, "-n", namespace, "--ignore-not-found"], env=env,
                           capture_output=True)
        for file in reversed(applied):  # the cluster-wide objects of the files (their namespace goes with the fixture)
            subprocess.run(["kubectl", "delete", "-f", file, "--ignore-not-found", "--wait=false"], cwd=folder,
                           env=env, capture_output=True)
