"""Generated submissions: every kind of broken hand-in the grader must survive, and `build` for any kind.

Each broken kind is a well-formed hand-in (kflab.grading.handins: the course's
own solutions or starters), mutated. The tests in tests/grading grade a folder
of them and check each row; the benchmark grades a class made of them. `token`
marks every path a submission tries to write outside its box, so a test can
look for exactly those paths.
"""

from __future__ import annotations

import shutil
import tarfile
import zipfile
from pathlib import Path

from kflab import paths
from kflab.grading.handins import main_file, prepend, solution, starter
from kflab.registry import Lab


def syntax_error(dest, labs, token):
    starter(dest, labs)
    for lab in labs:
        with open(main_file(lab, dest), "a", encoding="utf-8") as fh:
            fh.write("\ndef broken(:\n    pass\n")
    return dest


def import_error(dest, labs, token):
    return prepend(solution(dest, labs), labs, "import kflab_corpus_no_such_module  # noqa")


def infinite_loop(dest, labs, token):
    return prepend(solution(dest, labs), labs, "while True:\n    pass")


def sleeper(dest, labs, token):
    return prepend(solution(dest, labs), labs, "import time\ntime.sleep(3600)")


def memory_hog(dest, labs, token):
    # Touches every page it takes, so resident memory really grows.
    return prepend(solution(dest, labs), labs, "_hog = []\nwhile True:\n    _hog.append(b'\\x01' * (64 << 20))")


def process_spawner(dest, labs, token):
    # Every process forks again; at the limit a fork fails, the loop waits a little and tries again.
    code = """
import os, time
while True:
    try:
        os.fork()
    except OSError:
        time.sleep(0.05)
"""
    return prepend(solution(dest, labs), labs, code)


def output_flood(dest, labs, token):
    # 20 MB while the checks capture output, then 40 MB at exit, when nothing captures it any more.
    code = """
import atexit, sys
for _i in range(10_000):
    print("x" * 1000)
    print("y" * 1000, file=sys.stderr)
atexit.register(lambda: [print("z" * 1000) for _ in range(40_000)])
"""
    return prepend(solution(dest, labs), labs, code)


def write_outside(dest, labs, token):
    # /tmp first (a private one inside the grader), then the real HOME and the course repo.
    code = f"""
import pathlib
pathlib.Path("/tmp/kflab-escape-{token}").write_text("escaped")
for _target in ({str(Path.home())!r}, {str(paths.REPO / "labs")!r}):
    pathlib.Path(_target, "kflab-escape-{token}").write_text("escaped")
"""
    return prepend(solution(dest, labs), labs, code)


def checks_edited(dest, labs, token):
    starter(dest, labs, layout="repo")
    always_pass = "def test_everything_passes():\n    assert True\n"
    force = ("import pytest\n\n@pytest.hookimpl(hookwrapper=True)\ndef pytest_runtest_makereport(item, call):\n"
             "    outcome = yield\n    outcome.get_result().outcome = 'passed'\n")
    for lab in labs:
        check = dest / "checks" / f"stage{lab.stage}" / lab.check_file.name
        check.parent.mkdir(parents=True, exist_ok=True)
        check.write_text(always_pass)
        (lab.dir(dest / "labs") / "conftest.py").write_text(force)
    (dest / "conftest.py").write_text(force)
    (dest / "labs" / "conftest.py").write_text(force)
    return dest


def symlink_outside(dest, labs, token):
    starter(dest, labs)
    for lab in labs:
        main = main_file(lab, dest)
        main.unlink()
        main.symlink_to(main_file(lab, paths.SOLUTIONS))  # the instructor's own solution
        (lab.dir(dest) / "data.txt").symlink_to("/etc/passwd")
    return dest


def reads_solutions(dest, labs, token):
    """Starter code that, at run time, executes the instructor's solution file in its place."""
    starter(dest, labs)
    for lab in labs:
        main = main_file(lab, dest)
        main.write_text(f"exec(open({str(main_file(lab, paths.SOLUTIONS))!r}, encoding='utf-8').read())\n")
    return dest


def forger(dest, labs, token):
    """Starter code that starts a process which writes "passed" for every checkpoint into the result stream, then kills pytest."""
    lab_of = {str(lab.check_file.relative_to(paths.REPO)): lab.id for lab in labs}
    child = f"""
import glob, json, os, signal
found, here = [os.environ.get("KFLAB_GRADE_STREAM") or ""], os.getcwd()
for _ in range(4):
    found += glob.glob(os.path.join(here, "run", "stream-*.jsonl"))
    here = os.path.dirname(here)
path, ids = next((p for p in found if p and os.path.exists(p)), None), []
for raw in open(path, encoding="utf-8") if path else []:
    try:
        ids = json.loads(raw[raw.index("{{"):]).get("ids", ids)
    except ValueError:
        continue
with open(path or os.devnull, "a", encoding="utf-8") as fh:
    for nodeid in ids:
        lab = {lab_of!r}.get(nodeid.split("::")[0])
        body = json.dumps({{"e": "report", "id": nodeid, "when": "call", "outcome": "passed", "props": [["kflab_lab", lab]]}})
        fh.write(body + "\\n" + "0" * 64 + " " + body + "\\n")  # unsigned, and with a made-up signature
os.kill(os.getppid(), signal.SIGKILL)
"""
    code = f"import subprocess as _sp, sys as _sys\n_sp.run([_sys.executable, '-c', {child!r}])"
    return prepend(starter(dest, labs), labs, code)


def pytest_patcher(dest, labs, token):
    """Starter code that, imported into pytest, turns every failed report into a pass: the limit the notes warn of."""
    code = """
import _pytest.reports as _reports
_make = _reports.TestReport.from_item_and_call.__func__
def _passed(cls, item, call):
    report = _make(cls, item, call)
    report.outcome = "passed"
    return report
_reports.TestReport.from_item_and_call = classmethod(_passed)
"""
    return prepend(starter(dest, labs), labs, code)


def missing_lab(dest, labs, token):
    (dest / f"stage{labs[0].stage}").mkdir(parents=True)  # shaped like labs/, but the lab folders are gone
    return dest


def non_utf8(dest, labs, token):
    starter(dest, labs)
    for lab in labs:
        main = main_file(lab, dest)
        main.write_bytes("# Données préparées\n".encode("latin-1") + main.read_bytes())
        (lab.dir(dest) / "notes-\udce9.txt").write_bytes(b"caf\xe9")  # a file name that is not UTF-8 either
    return dest


def network(dest, labs, token):
    code = """
import socket
for _host in ("pypi.org", "1.1.1.1"):
    try:
        socket.create_connection((_host, 443), timeout=5).close()
    except OSError:
        continue
    raise RuntimeError(f"reached {_host} from inside the grader")
"""
    return prepend(solution(dest, labs), labs, code)


def archive_dotdot_zip(dest, labs, token):
    archive = dest.parent / f"{dest.name}.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for lab in labs:
            zf.write(main_file(lab, paths.SOLUTIONS), f"labs/{lab.folder}/{main_file(lab, paths.SOLUTIONS).name}")
        zf.writestr(f"../kflab-escape-{token}.txt", "escaped")
    return archive


def archive_dotdot_tar(dest, labs, token):
    archive = dest.parent / f"{dest.name}.tar.gz"
    staged = solution(dest.with_name(dest.name + "-staging"), labs)
    evil = staged / "evil.txt"
    evil.write_text("escaped")
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(staged, arcname="labs")
        tf.add(evil, arcname=f"../../kflab-escape-{token}.txt")
        tf.add(evil, arcname=f"/tmp/kflab-escape-{token}-abs.txt")
    shutil.rmtree(staged)
    return archive


BROKEN = {
    "syntax_error": syntax_error, "import_error": import_error, "infinite_loop": infinite_loop,
    "sleeper": sleeper, "memory_hog": memory_hog, "process_spawner": process_spawner,
    "output_flood": output_flood, "write_outside": write_outside, "checks_edited": checks_edited,
    "symlink_outside": symlink_outside, "reads_solutions": reads_solutions, "forger": forger,
    "pytest_patcher": pytest_patcher, "missing_lab": missing_lab,
    "non_utf8": non_utf8, "network": network, "archive_dotdot_zip": archive_dotdot_zip,
    "archive_dotdot_tar": archive_dotdot_tar,
}
# Kinds that end on their own, without a timeout: what the benchmark mixes in.
QUICK = ("syntax_error", "import_error", "missing_lab", "non_utf8", "symlink_outside", "checks_edited")


def build(kind: str, folder: Path, name: str, labs: list[Lab], token: str = "corpus") -> Path:
    """Create submission `name` of `kind` (a BROKEN kind, `solution` or `starter`) in `folder`."""
    dest = Path(folder) / name
    if kind == "solution":
        return solution(dest, labs)
    if kind == "starter":
        return starter(dest, labs)
    if not kind.startswith("archive"):
        dest.mkdir(parents=True, exist_ok=True)
    return BROKEN[kind](dest, labs, token)
