"""A pytest plugin the grader loads (`-p kflab.grading.stream`): one signed JSON line per event, as it happens.

The kflab plugin writes its report at the end of the session. When a submission
makes pytest hang or die, the end never comes; these lines tell the grader which
checkpoints had finished, which lab was running, and when it started.

The file lies in the box, where the submission's code can write too. So each
line carries an HMAC under a key the grader sends once on pytest's stdin, which
this plugin reads when pytest loads it, before any learner code runs. Processes
that code starts (a notebook kernel, torchrun's workers, a subprocess) cannot
read the key: stdin is empty by then, and the pytest process is made
non-dumpable, so its memory and /proc files are closed to them. The grader
drops every line whose signature is wrong. Code imported into pytest itself
can still tamper with pytest; docs/instructors.md says so.
"""

from __future__ import annotations

import ctypes
import hashlib
import hmac
import json
import os
import sys
import time

ENV = "KFLAB_GRADE_STREAM"
PR_SET_DUMPABLE = 4


def sign(key: bytes, body: str) -> str:
    return hmac.new(key, body.encode("utf-8"), hashlib.sha256).hexdigest()


def line(key: bytes, event: dict) -> str:
    body = json.dumps(event, default=str)
    return f"{sign(key, body)} {body}\n"


def verified(key: bytes, raw: bytes) -> dict | None:
    """The event on a line the plugin wrote under `key`; None for any other line."""
    mac, _, body = raw.decode("utf-8", "replace").partition(" ")
    if not key or not hmac.compare_digest(mac, sign(key, body)):
        return None
    event = json.loads(body)
    return event if isinstance(event, dict) else None


def _take_key() -> bytes:
    """The key from stdin (the grader writes it and closes the pipe); stdin is then /dev/null."""
    try:
        if os.isatty(0):
            return b""
        chunks = []
        while chunk := os.read(0, 4096):
            chunks.append(chunk)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        if sys.platform.startswith("linux"):
            ctypes.CDLL(None).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
        return b"".join(chunks).strip()
    except OSError:
        return b""


_PATH = os.environ.pop(ENV, None)  # read once, and not passed on to processes the checks start
_KEY = _take_key() if _PATH else b""


def _emit(event: dict) -> None:
    if not _PATH or not _KEY:
        return
    with open(_PATH, "a", encoding="utf-8") as fh:  # one short append per event: a crash loses at most one line
        fh.write(line(_KEY, event))


def pytest_collection_finish(session):
    tiers = {item.nodeid: [t for t in ("cluster", "gpu") if item.get_closest_marker(t)] for item in session.items}
    _emit({"e": "collected", "ids": [item.nodeid for item in session.items], "tiers": {k: v for k, v in tiers.items() if v}})


def pytest_runtest_logstart(nodeid, location):
    _emit({"e": "start", "id": nodeid, "t": time.time()})


def pytest_runtest_logreport(report):
    _emit({
        "e": "report", "id": report.nodeid, "when": report.when, "outcome": report.outcome,
        "duration": getattr(report, "duration", 0.0),
        "props": [[k, v] for k, v in report.user_properties if isinstance(k, str)],
    })


def pytest_sessionfinish(session):
    """The harness modules this run used (a later run may reuse the grade only while they are unchanged); the end."""
    harness = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    files = {getattr(m, "__file__", None) or "" for m in list(sys.modules.values())}
    _emit({"e": "modules", "files": sorted(f for f in files if f.startswith(harness + os.sep))})
