"""`kflab reset LAB` in a learner's clone: the starter comes back, their work is kept aside."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from kflab import cli, paths, registry, reset, state

LAB = registry.get("2.1")
FILE = "components.py"


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture(autouse=True)
def own_state(tmp_path, monkeypatch):
    monkeypatch.setenv("KFLAB_STATE", str(tmp_path / "state"))


@pytest.fixture
def clone(tmp_path) -> Path:
    """A learner's clone of the course, with the lab's file edited and a file of their own added."""
    if not (paths.REPO / ".git").exists():
        pytest.skip("the course is not a git clone here")
    root = tmp_path / "course"
    subprocess.run(["git", "clone", "-q", str(paths.REPO), str(root)], check=True)
    folder = LAB.dir(root / "labs")
    (folder / FILE).write_text("# my attempt\n")
    (folder / "notes.txt").write_text("mine\n")
    return root


def _starter(root: Path, ref: str) -> str:
    return _git(root, "show", f"{ref}:{LAB.dir(Path('labs')) / FILE}")


def test_reset_restores_the_course_starter_even_over_committed_work_and_keeps_a_backup(clone):
    folder = LAB.dir(clone / "labs")
    _git(clone, "-c", "user.name=L", "-c", "user.email=l@example.org", "commit", "-qam", "my work")
    (folder / FILE).write_text("# my second attempt\n")
    state.record_results({LAB.id: {"passed": 10, "failed": 0}, "2.2": {"passed": 1, "failed": 0}})
    backup, files = reset.reset_lab(LAB.id, clone)
    assert (folder / FILE).read_text() == _starter(clone, "origin/HEAD"), "the starter as the course shipped it"
    assert (backup / FILE).read_text() == "# my second attempt\n", "the learner's last version is kept"
    assert (folder / "notes.txt").exists(), "files the learner added stay"
    assert any(f.endswith(FILE) for f in files)
    assert _git(clone, "diff", "--cached", "--name-only") == "", "git's index is not touched"
    assert set(state.load()["labs"]) == {"2.2"}, "the lab's old results are dropped, the others kept"
    said = reset.describe(LAB.id, backup, files, clone)
    assert ".kflab/backups/2.1-" in said and said.endswith("`kflab check 2.1`."), said


def test_without_a_remote_the_last_commit_holds_the_starter(clone):
    _git(clone, "remote", "remove", "origin")
    reset.reset_lab(LAB.id, clone)
    assert (LAB.dir(clone / "labs") / FILE).read_text() == _starter(clone, "HEAD")


def test_outside_a_git_clone_reset_says_what_to_do_and_changes_nothing(clone):
    home = clone.parent / "home"  # a download inside some other repository, such as a versioned home folder
    subprocess.run(["git", "init", "-q", str(home)], check=True)
    _git(home, "-c", "user.name=L", "-c", "user.email=l@example.org", "commit", "-q", "--allow-empty", "-m", "home")
    plain = home / "download"
    shutil.copytree(clone, plain, ignore=shutil.ignore_patterns(".git"))
    with pytest.raises(reset.ResetError, match="not a git clone .* fresh download"):
        reset.reset_lab(LAB.id, plain)
    assert (LAB.dir(plain / "labs") / FILE).read_text() == "# my attempt\n"


def test_the_cli_names_an_unknown_lab(capsys):
    assert cli.main(["reset", "9.9"]) == 2
    assert "9.9" in capsys.readouterr().err
