"""Submissions as handed in: folders, .zip and .tar.gz archives, unpacked safely.

A submission is a folder shaped like labs/ or a repository root holding one, or
an archive of either. Its name is the folder's or the archive's name. Archives
are refused whole when a member would land outside the unpack folder (an
absolute path, `..`, a link that leads out, a device) or when they are too big.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

ARCHIVES = (".tar.gz", ".tgz", ".tar", ".zip")
MAX_MEMBERS = 20_000


class IntakeError(ValueError):
    """The submission cannot be unpacked or has no labs in it; the message says why."""


@dataclasses.dataclass
class Submission:
    name: str
    path: Path
    problem: str | None = None  # set when it cannot be graded at all (a duplicate name, ...)

    @property
    def is_archive(self) -> bool:
        return self.path.is_file()


def discover(folder: Path) -> list[Submission]:
    """Every submission in `folder`, sorted by name; hidden entries and stray files are skipped."""
    found: dict[str, Submission] = {}
    for entry in sorted(Path(folder).iterdir()):
        if entry.name.startswith((".", "__MACOSX")):
            continue
        if entry.is_dir():
            name = entry.name
        elif entry.is_file() and entry.name.lower().endswith(ARCHIVES):
            name = next(entry.name[: -len(s)] for s in ARCHIVES if entry.name.lower().endswith(s))
        else:
            continue
        name = safe_name(name)
        if name in found:  # its row gets a name of its own, so that it cannot overwrite the graded one's files
            dup, n = safe_name(entry.name), 2
            while dup in found or dup == name:
                dup, n = f"{name}~{n}", n + 1
            found[dup] = Submission(
                dup, entry, f"two submissions are named {name} ({found[name].path.name} and {entry.name}); rename one")
            continue
        found[name] = Submission(name, entry)
    return sorted(found.values(), key=lambda s: s.name)


def safe_name(name: str) -> str:
    """A name that is safe as a file name in the outputs."""
    return re.sub(r"[^\w.@+-]", "_", name).strip(".") or "unnamed"


def _outside(member: str) -> bool:
    parts = PurePosixPath(member.replace("\\", "/"))
    return parts.is_absolute() or ".." in parts.parts or re.match(r"^[A-Za-z]:", member) is not None


def _link_leaves(member: str, target: str) -> bool:
    """Does a symlink stored at `member` pointing to `target` lead outside the archive?"""
    if target.startswith("/") or re.match(r"^[A-Za-z]:", target):
        return True
    depth = 0
    for part in (*PurePosixPath(member).parent.parts, *PurePosixPath(target.replace("\\", "/")).parts):
        depth += -1 if part == ".." else 0 if part in (".", "") else 1
        if depth < 0:
            return True
    return False


def unpack(archive: Path, dest: Path, max_bytes: int) -> None:
    """Unpack a .zip or .tar(.gz) into `dest`, refusing it whole if any member is unsafe."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        if archive.name.lower().endswith(".zip"):
            _unzip(archive, dest, max_bytes)
        else:
            _untar(archive, dest, max_bytes)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        said = (str(exc).strip().splitlines() or [""])[0].rstrip(" :")  # tarfile's run to several lines
        said = said or type(exc).__name__
        raise IntakeError(f"{archive.name} is not a readable archive ({said})") from None


def _refuse(archive: Path, member: str, why: str) -> IntakeError:
    return IntakeError(f"refused {archive.name}: member {member!r} {why}; nothing of it was graded")


def _unzip(archive: Path, dest: Path, max_bytes: int) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise IntakeError(f"refused {archive.name}: more than {MAX_MEMBERS} members")
        for info in infos:  # PowerShell 5.1's Compress-Archive writes labs\stage1\x; zipfile would keep the `\`
            info.filename = info.filename.replace("\\", "/")  # before the checks below; zf.open reads orig_filename
        total = 0
        for info in infos:
            if _outside(info.filename):
                raise _refuse(archive, info.filename, "would be written outside the submission")
            if stat.S_ISLNK(info.external_attr >> 16) and _link_leaves(info.filename, zf.read(info).decode(errors="replace")):
                raise _refuse(archive, info.filename, "is a link that leads outside the submission")
            total += info.file_size
        if total > max_bytes:
            raise IntakeError(f"refused {archive.name}: it unpacks to {total // 2**20} MB, over the {max_bytes // 2**20} MB limit")
        links = [info for info in infos if stat.S_ISLNK(info.external_attr >> 16)]
        for info in infos:
            if info not in links:
                zf.extract(info, dest)
        for info in links:  # after the files; each stays inside (checked above), as a .tar.gz's links do
            path = dest / info.filename.rstrip("/")
            path.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(zf.read(info).decode(errors="replace"), path)


def _untar(archive: Path, dest: Path, max_bytes: int) -> None:
    with tarfile.open(archive, "r:*") as tf:
        members, total = [], 0
        for member in tf:
            if len(members) >= MAX_MEMBERS:
                raise IntakeError(f"refused {archive.name}: more than {MAX_MEMBERS} members")
            if _outside(member.name):
                raise _refuse(archive, member.name, "would be written outside the submission")
            if member.issym() and _link_leaves(member.name, member.linkname):
                raise _refuse(archive, member.name, "is a link that leads outside the submission")
            if member.islnk() and _outside(member.linkname):
                raise _refuse(archive, member.name, "is a hard link to a file outside the submission")
            if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
                raise _refuse(archive, member.name, "is a device or other special file")
            total += member.size
            if total > max_bytes:
                raise IntakeError(f"refused {archive.name}: it unpacks to more than the {max_bytes // 2**20} MB limit")
            members.append(member)
        extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}  # the stdlib's own second guard
        tf.extractall(dest, members=members, **extra)


def labs_root(root: Path) -> Path:
    """The folder shaped like labs/ inside an unpacked submission (also one folder down)."""
    from kflab import targets

    for candidate in (root, *_only_child(root)):
        try:
            found = targets.resolve(str(candidate)).resolve()
        except targets.TargetError:
            continue
        if not found.is_relative_to(root.resolve()):  # labs/ as a link to, say, the instructor's solutions
            raise IntakeError(f"its labs folder is a link that leads outside the submission ({found}); it was not followed")
        return found
    raise IntakeError("holds no labs/ folder and no stage1/, stage2/... folders: there is nothing to grade")


def _only_child(root: Path) -> list[Path]:
    kids = [p for p in root.iterdir() if not p.name.startswith((".", "__MACOSX")) and not p.is_symlink()]
    return kids if len(kids) == 1 and kids[0].is_dir() else []


def content_hash(sub: Submission, lab_folders: list[str]) -> str:
    """A hash of what grading reads: the archive's bytes, or the selected lab folders' files."""
    digest = hashlib.sha256()
    if sub.is_archive:
        with open(sub.path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    try:
        root = labs_root(sub.path)
    except IntakeError:
        return digest.hexdigest()
    for folder in lab_folders:
        base = root / folder
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            for name in sorted(filenames):
                path = Path(dirpath, name)
                digest.update(os.fsencode(path.relative_to(root)) + b"\0")
                try:
                    _hash_entry(path, digest)
                except OSError as exc:
                    digest.update(str(exc).encode())
    return digest.hexdigest()


def _hash_entry(path: Path, digest) -> None:
    """A file's bytes, a link's target, or the type of anything else: opening a FIFO would wait forever."""
    mode = path.lstat().st_mode
    if stat.S_ISLNK(mode):
        digest.update(b"link\0" + os.fsencode(os.readlink(path)))
    elif stat.S_ISREG(mode):
        digest.update(b"file\0")
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    else:  # copy_labs skips these, so only their kind can change what grading sees
        digest.update(f"special {stat.S_IFMT(mode):o}".encode())
