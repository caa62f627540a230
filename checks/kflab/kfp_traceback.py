"""A failed kfp.local task's traceback, as the learner's own code: their file, their line, no temporary paths.

kfp.local runs a lightweight component from a generated file in a temporary
folder (ephemeral_component.py), so a raw traceback names that file and its line
numbers. These functions keep only the component's frames and name them after
the learner's file, with the line mapped back to it.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;]*m")
# A frame of the component's code: kfp.local runs it from a generated file in a temporary folder.
COMPONENT_FRAME = re.compile(r'^  File "(?P<path>[^"]*ephemeral_component\.py)", line (?P<line>\d+), in (?P<func>[\w<>]+)')
# Folders under the temporary directory (kfp.local's workspace, the run's root): the learner never sees them.
TEMP_DIRS = re.compile(re.escape(tempfile.gettempdir().rstrip("/")) + r"/(?:[^\s'\"/]+/)*")


# KFP errors whose own words do not say what the learner did: (exception type, words in it, what to do).
KNOWN_CAUSES = [
    ("AttributeError", "'left_operand'", "KFP needs a comparison as the condition of dsl.If or dsl.Elif, such as "
     "`dsl.If(deploy == True)` or `dsl.If(task.output >= 0.9)`; a bare parameter or output is not one."),
]


def known_cause(exc: BaseException) -> str | None:
    """What to do about a KFP error whose message names only KFP's internals, or None."""
    for kind, words, advice in KNOWN_CAUSES:
        if type(exc).__name__ == kind and words in str(exc):
            return advice
    return None


def learner_traceback(text: str, source: Path | None = None) -> str:
    """The last traceback a task printed, keeping only frames of the component's own code.

    Task output is streamed indented; the block is dedented by the indent of its
    "Traceback" line. kfp.local runs the component from a generated file, so each
    frame is named after `source` (the learner's file) with the line mapped back to
    it, or with no line where it cannot be mapped. When no frame is the component's,
    the error came from KFP itself, and only the exception line is kept.
    """
    text = ANSI.sub("", text)
    start = text.rfind("Traceback (most recent call last):")
    if start < 0:
        return ""
    line_start = text.rfind("\n", 0, start) + 1
    indent = start - line_start
    lines = [ln[indent:] if ln[:indent].isspace() or not indent else ln for ln in text[line_start:].splitlines()[1:]]
    kept, keep_next, exception = [], False, ""
    for i, line in enumerate(lines):
        if line.startswith("  File "):
            frame = COMPONENT_FRAME.match(line)
            keep_next = frame is not None
            if frame:
                code = lines[i + 1].strip() if i + 1 < len(lines) and lines[i + 1].startswith("    ") else ""
                kept.append(_learner_frame(frame, code, source))
        elif line.startswith("    ") and keep_next:
            kept.append(line)
            keep_next = False
        elif line and not line.startswith(" "):
            exception = without_temp_paths(line)  # the first unindented line after the frames
            break
    if not kept:
        return exception
    return "\n".join(kept + [exception])


def _learner_frame(frame: re.Match, code: str, source: Path | None) -> str:
    """A frame of the generated file, as the same line of the learner's file."""
    func = frame["func"]
    if source is None:
        return f'  File "<your component>", in {func}'
    line = _source_line(Path(frame["path"]), int(frame["line"]), func, code, source)
    return f'  File "{source.name}", line {line}, in {func}' if line else f'  File "{source.name}", in {func}'


def _source_line(generated: Path, line: int, func: str, code: str, source: Path) -> int | None:
    """Line `line` of the generated file as a line of `source`, checked against the frame's code."""
    try:
        mine = source.read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    define = re.compile(rf"^\s*(?:async\s+)?def {re.escape(func)}\s*\(")
    at = [n for n, text in enumerate(mine, 1) if define.match(text)]
    try:  # the generated file holds the function's source below an import prelude: one offset maps it
        theirs = [n for n, text in enumerate(generated.read_text().splitlines(), 1) if define.match(text)]
    except (OSError, UnicodeDecodeError):
        theirs = []
    if len(at) == 1 and theirs:
        mapped = line - theirs[0] + at[0]
        if 0 < mapped <= len(mine) and (not code or mine[mapped - 1].strip() == code):
            return mapped
    same = [n for n, text in enumerate(mine, 1) if code and text.strip() == code]
    return same[0] if len(same) == 1 else None


def without_temp_paths(text: str) -> str:
    """`text` with folders under the temporary directory left out, keeping file names."""
    return TEMP_DIRS.sub("", text)
