"""The scripts the instructor's guide includes: Gradescope's run_autograder and the clone loop."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest
from graderkit import LAB

from kflab import paths
from kflab.grading import handins

GRADING = paths.CHECKS / "kflab" / "grading"


@pytest.mark.parametrize("upload", ["folder", "zip"])
def test_run_autograder_writes_gradescope_results_for_the_upload(tmp_path, upload):
    root = tmp_path / "autograder"
    (root / "source").mkdir(parents=True)
    (root / "source" / "course").symlink_to(paths.REPO)
    if upload == "folder":
        handins.solution(root / "submission", [LAB], layout="repo")
    else:
        (root / "submission").mkdir()
        archive = handins.archive(tmp_path / "mine", [LAB], "zip")
        shutil.move(archive, root / "submission" / "mine.zip")
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "KFLAB_SELECT": "--lab 2.1"}
    done = subprocess.run([str(GRADING / "gradescope" / "run_autograder")], env=env, capture_output=True, text=True, timeout=300)
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == LAB.points, f"the solution earns full points on Gradescope: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    checks = len(re.findall(r"^def test_", LAB.check_file.read_text(), re.M))  # lab 2.1 has no parametrized checks
    assert len(results["tests"]) == checks and all(t["status"] == "passed" for t in results["tests"]), results


def test_collect_clones_every_repository_of_the_roster(tmp_path):
    origin = tmp_path / "origin"
    handins.starter(origin, [LAB], layout="repo")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", str(origin)], check=True)
    subprocess.run([*git, "-C", str(origin), "add", "-A"], check=True)
    subprocess.run([*git, "-C", str(origin), "commit", "-qm", "hand-in"], check=True)
    roster = tmp_path / "roster.tsv"
    roster.write_text(f"amy\t{origin}\nbo\t{origin}\n\n")
    subprocess.run(["bash", str(GRADING / "collect.sh"), str(roster), str(tmp_path / "subs")], check=True, timeout=60)
    for name in ("amy", "bo"):
        assert (LAB.dir(tmp_path / "subs" / name / "labs") / "components.py").is_file(), f"{name}'s clone holds the lab"
