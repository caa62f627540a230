"""Intake and isolation without running any check: archives, links, and what a box receives."""

from __future__ import annotations

import io
import os
import runpy
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from graderkit import LAB

from kflab import checkrun, paths
from kflab.grading import handins, intake, isolate

MB = 1 << 20


def _zip(path: Path, members: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)  # a symlink, as Info-ZIP stores one
            zf.writestr(info, target)
    return path


def _tar(path: Path, add) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        add(tf)
    return path


def _member(tf: tarfile.TarFile, name: str, kind=tarfile.REGTYPE, link: str = "", data: bytes = b"x") -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, len(data) if kind == tarfile.REGTYPE else 0
    tf.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


@pytest.mark.parametrize("member", ["/etc/kflab-evil", "../evil.py", "labs/../../evil.py", "C:/evil.py",
                                    # Windows separators, which the grader reads as `/`, lead outside just the same
                                    "..\\evil.py", "labs\\..\\..\\evil.py", "C:\\evil.py", "\\etc\\evil.py",
                                    "\\\\server\\share\\evil.py"])
def test_a_zip_member_leading_outside_refuses_the_whole_archive(tmp_path, member):
    archive = _zip(tmp_path / "s.zip", {"labs/stage2/x.py": b"", member: b"evil"})
    with pytest.raises(intake.IntakeError, match="would be written outside"):
        intake.unpack(archive, tmp_path / "out", 10 * MB)
    assert not list((tmp_path / "out").rglob("*")), "a refused archive leaves nothing behind"


def test_a_zip_link_leading_outside_is_refused(tmp_path):
    archive = _zip(tmp_path / "s.zip", {"labs/stage2/x.py": b""}, links={"labs/stage2/data": "../../../etc/passwd"})
    with pytest.raises(intake.IntakeError, match="link that leads outside"):
        intake.unpack(archive, tmp_path / "out", 10 * MB)


def test_a_zip_link_that_stays_inside_is_unpacked_as_a_link_like_a_tars(tmp_path):
    archive = _zip(tmp_path / "s.zip", {"labs/stage1/01_kind_cluster/real.yaml": b"kind: Cluster\n"},
                   links={"labs/stage1/01_kind_cluster/kind-config.yaml": "real.yaml"})
    intake.unpack(archive, tmp_path / "out", 10 * MB)
    link = tmp_path / "out" / "labs/stage1/01_kind_cluster/kind-config.yaml"
    assert link.is_symlink() and link.read_text() == "kind: Cluster\n", "the same work scores the same, zipped or not"


@pytest.mark.parametrize("kind, link, words", [
    (tarfile.SYMTYPE, "/etc/passwd", "link that leads outside"),
    (tarfile.SYMTYPE, "../../../etc/passwd", "link that leads outside"),
    (tarfile.LNKTYPE, "/etc/passwd", "hard link"),
    (tarfile.FIFOTYPE, "", "special file"),
    (tarfile.CHRTYPE, "", "special file"),
])
def test_a_tar_with_unsafe_links_or_devices_is_refused(tmp_path, kind, link, words):
    archive = _tar(tmp_path / "s.tar.gz", lambda tf: _member(tf, "labs/stage2/thing", kind, link))
    with pytest.raises(intake.IntakeError, match=words):
        intake.unpack(archive, tmp_path / "out", 10 * MB)


def test_an_archive_over_the_size_cap_is_refused(tmp_path):
    archive = _zip(tmp_path / "big.zip", {"labs/stage2/big.bin": b"\0" * (2 * MB)})
    with pytest.raises(intake.IntakeError, match="over the 1 MB limit"):
        intake.unpack(archive, tmp_path / "out", 1 * MB)


def test_a_link_inside_a_tar_is_kept(tmp_path):
    def add(tf):
        _member(tf, "labs/stage2/01_x/a.py", data=b"A = 1\n")
        _member(tf, "labs/stage2/01_x/b.py", tarfile.SYMTYPE, "a.py")
    intake.unpack(_tar(tmp_path / "s.tar.gz", add), tmp_path / "out", MB)
    assert (tmp_path / "out/labs/stage2/01_x/b.py").read_text() == "A = 1\n", "a link to a sibling file is safe"


def test_labs_are_found_in_a_folder_one_level_down(tmp_path):
    handins.solution(tmp_path / "alice-main", [LAB], layout="repo")
    assert intake.labs_root(tmp_path) == (tmp_path / "alice-main" / "labs").resolve(), "GitHub's zip adds one folder level"


def test_a_labs_folder_that_links_outside_is_not_followed(tmp_path):
    (tmp_path / "labs").symlink_to(paths.SOLUTIONS)
    with pytest.raises(intake.IntakeError, match="leads outside"):
        intake.labs_root(tmp_path)


def test_discover_names_submissions_after_their_folder_or_archive(tmp_path):
    for name in ("bob", ".git", "alice"):
        (tmp_path / name).mkdir()
    _zip(tmp_path / "carol.zip", {"x": b""})
    _tar(tmp_path / "dan.tar.gz", lambda tf: _member(tf, "x"))
    _zip(tmp_path / "alice.zip", {"x": b""})
    (tmp_path / "README.txt").write_text("stray")
    subs = {s.name: s for s in intake.discover(tmp_path)}
    assert sorted(subs) == ["alice", "alice.zip", "bob", "carol", "dan"], "hidden entries and stray files are skipped"
    assert "two submissions are named alice" in subs["alice.zip"].problem, "a duplicate name is flagged, not overwritten"


def test_two_folders_whose_names_clean_to_one_get_two_rows(tmp_path):
    for name in ("x y", "x_y", "x?y"):
        (tmp_path / name).mkdir()
    subs = intake.discover(tmp_path)
    assert [s.name for s in subs] == ["x_y", "x_y~2", "x_y~3"], "each row has its own name, so no result file is overwritten"
    assert subs[0].problem is None and subs[0].path.name == "x y", "the first in sorted order is graded"
    assert "two submissions are named x_y (x y and x?y)" in subs[1].problem and "(x y and x_y)" in subs[2].problem


def test_a_box_gets_the_lab_folders_but_no_conftest_checks_or_outside_links(tmp_path):
    sub = tmp_path / "sub"
    handins.starter(sub, [LAB])
    lab_dir = LAB.dir(sub)
    (lab_dir / "conftest.py").write_text("raise SystemExit")
    (lab_dir / "checks").mkdir()
    (lab_dir / "helper.py").symlink_to("components.py")
    (lab_dir / "secret").symlink_to("/etc/passwd")
    missing, notes = isolate.copy_labs(sub, [LAB], tmp_path / "box", sub, 10 * MB)
    copied = {p.name for p in LAB.dir(tmp_path / "box").iterdir()}
    assert missing == [] and copied == {"components.py", "helper.py"}, f"only the learner's own files: {copied}"
    assert any("/etc/passwd" in n for n in notes), notes
    assert intake.labs_root(sub) == sub.resolve()
    assert "conftest.py" in isolate.scan_ignored(sub)[0] and "checks/" in isolate.scan_ignored(sub)[0]


def test_pytest_never_loads_a_conftest_from_the_target(tmp_path):
    """Even without the box's filtering, pytest loads no conftest.py from the --target folder."""
    sub, marker = tmp_path / "labs", tmp_path / "loaded"
    handins.starter(sub, [LAB])
    planted = f"open({str(marker)!r}, 'a').write(__file__ + '\\n')\n"
    for folder in (sub, sub / "stage2", LAB.dir(sub)):
        (folder / "conftest.py").write_text(planted)
    runpy.run_path(str(sub / "conftest.py"))
    assert marker.exists(), "the planted conftest writes its marker when it is loaded"
    marker.unlink()
    env = {**os.environ, "PYTHONPATH": str(paths.CHECKS)}
    args = checkrun.pytest_args([LAB], str(sub), ["--no-progress", "-q", "-x"])  # what kflab check and grade run
    subprocess.run([sys.executable, "-m", "pytest", *args], cwd=paths.REPO, env=env, capture_output=True, timeout=300)
    assert not marker.exists(), f"pytest loaded a submission's conftest.py: {marker.read_text() if marker.exists() else ''}"


def test_a_truncated_archive_is_refused_in_one_line(tmp_path):
    archive = _tar(tmp_path / "s.tar.gz", lambda tf: _member(tf, "labs/stage1/x.yaml", data=b"x" * 4096))
    archive.write_bytes(archive.read_bytes()[:60])
    with pytest.raises(intake.IntakeError) as raised:
        intake.unpack(archive, tmp_path / "out", 10 * MB)
    assert "is not a readable archive" in str(raised.value) and "\n" not in str(raised.value), str(raised.value)


def test_a_zip_with_windows_separators_unpacks_into_folders(tmp_path):
    """Windows PowerShell 5.1's Compress-Archive names members `labs\\stage1\\...`."""
    archive = _zip(tmp_path / "s.zip", {"labs\\stage1\\01_kind_cluster\\kind-config.yaml": b"kind: Cluster\n",
                                        "labs\\stage1\\": b""})
    intake.unpack(archive, tmp_path / "out", 10 * MB)
    found = tmp_path / "out/labs/stage1/01_kind_cluster/kind-config.yaml"
    assert found.read_text() == "kind: Cluster\n", f"unpacked as: {sorted(p.name for p in (tmp_path / 'out').rglob('*'))}"


def test_an_archive_that_is_no_tar_is_refused_in_a_clean_sentence(tmp_path):
    archive = tmp_path / "s.tar.gz"
    archive.write_bytes(b"this is not a tar file" * 8)
    with pytest.raises(intake.IntakeError) as raised:
        intake.unpack(archive, tmp_path / "out", 10 * MB)
    said = str(raised.value)
    assert said.startswith("s.tar.gz is not a readable archive (") and not said.endswith(":)"), \
        f"the reason in brackets ends cleanly, with no dangling colon: {said}"


def test_a_fifo_in_a_folder_submission_is_hashed_without_opening_it(tmp_path):
    import threading

    sub = tmp_path / "ana"
    handins.starter(sub, [LAB])
    os.mkfifo(LAB.dir(sub) / "pipe")
    found: list[str] = []
    reader = threading.Thread(target=lambda: found.append(intake.content_hash(intake.Submission("ana", sub), [LAB.folder])),
                              daemon=True)
    reader.start()
    reader.join(timeout=30)
    if not found:  # let the stuck reader go: a writer that opens and closes is an end of file
        os.close(os.open(LAB.dir(sub) / "pipe", os.O_WRONLY | os.O_NONBLOCK))
    assert found, "content_hash waited on a FIFO (it would wait forever for a writer)"
    (LAB.dir(sub) / "pipe").unlink()
    (LAB.dir(sub) / "pipe").write_text("")
    assert intake.content_hash(intake.Submission("ana", sub), [LAB.folder]) != found[0], \
        "a FIFO and an empty file of the same name hash differently"
