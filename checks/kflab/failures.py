"""Failures that read as sentences, and learner tracebacks trimmed to their files.

A check raises CheckFailure with a sentence that says what is missing and what to
do. When the learner's own code raises, LearnerError carries their traceback,
trimmed to frames in their files. The pytest plugin renders both and ends them
with the lab's hint command.
"""

from __future__ import annotations

import contextlib
import traceback
from pathlib import Path


class CheckFailure(AssertionError):
    """A checkpoint is not met; the message is for the learner."""


class LearnerError(CheckFailure):
    """The learner's code raised; carries their trimmed traceback."""

    def __init__(self, doing: str, exc: BaseException, roots: tuple[Path, ...]):
        self.doing, self.exc = doing, exc
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if _mine(f.filename, roots)]
        tb = "".join(traceback.format_list(frames)) if frames else ""
        for root in roots:  # show paths as the learner knows them, relative to their lab folder
            tb = tb.replace(f'"{root}/', '"')
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        from kflab.kfp_traceback import known_cause

        cause = known_cause(exc)
        text = f"Your code raised {type(exc).__name__} while {doing}. " + (
            cause or "Read the error below, fix your code, and run the check again.")
        if tb:
            text += "\nTraceback (your files only):\n" + tb.rstrip()
        super().__init__(text + "\n" + detail)


def _mine(filename: str, roots: tuple[Path, ...]) -> bool:
    try:
        path = Path(filename).resolve()
    except OSError:
        return False
    return any(path.is_relative_to(root) for root in roots)


def expect(condition: object, message: str) -> None:
    """Fail the checkpoint with `message` (a sentence for the learner) unless `condition`."""
    if not condition:
        raise CheckFailure(message)


def fail(message: str) -> None:
    raise CheckFailure(message)


@contextlib.contextmanager
def learner_code(doing: str, *roots: Path):
    """Run learner code; an exception becomes a LearnerError with their frames only."""
    try:
        yield
    except CheckFailure:
        raise
    except SystemExit as exc:  # sys.exit() or argparse at import time would end the whole check run
        raise CheckFailure(f"Your code called sys.exit({exc.code!r}) while {doing} (argparse does that when it parses "
                           "arguments). Put the script part of your file under `if __name__ == \"__main__\":`, "
                           "then run the check again.") from None
    except Exception as exc:  # learner code may raise anything
        raise LearnerError(doing, exc, tuple(Path(r).resolve() for r in roots)) from exc


def listed(names) -> str:
    """Names as words for a sentence: `a, b and c`, or `none`."""
    names = [str(n) for n in names]
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names) or "none"


def hint_line(lab_id: str) -> str:
    return f"Stuck? Run `kflab hint {lab_id}`."


def render(message: str, lab_id: str | None) -> str:
    """The text a learner sees for one failed checkpoint."""
    text = message.rstrip()
    if lab_id:
        text += "\n" + hint_line(lab_id)
    return text
