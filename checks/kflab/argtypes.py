"""Argument types shared by the CLI's commands: a bad value is one sentence, not a traceback.

Each is an argparse `type` (or, for output_file, a check run before a long job). They raise
BadArgument, which `kflab.cli.main` prints as `kflab: <sentence>` with exit status 2.
"""

from __future__ import annotations

import math
import os
from pathlib import Path


class BadArgument(Exception):
    """A value of the right type that the command cannot use (`--jobs 0`); main() prints it as one sentence, exit 2.

    Not a ValueError on purpose: argparse would turn that into its generic "invalid int value".
    """


def count(flag: str, minimum: int = 1):
    """An argparse `type` for a whole number of at least `minimum` (jobs, trials...)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise BadArgument(f"{flag} takes a whole number, not {text!r}.") from None
        if value < minimum:
            raise BadArgument(f"{flag} must be {minimum} or more, not {value}.")
        return value
    return parse


def seconds(flag: str):
    """An argparse `type` for a duration: a finite number of seconds above zero."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise BadArgument(f"{flag} takes a number of seconds, not {text!r}.") from None
        if not math.isfinite(value) or value <= 0:
            raise BadArgument(f"{flag} must be a number of seconds above 0, not {text}.")
        return value
    return parse


def folder(flag: str):
    """An argparse `type` for a folder that must already exist."""
    def parse(text: str) -> Path:
        if not Path(text).is_dir():
            raise BadArgument(f"{flag} {text}: there is no such folder.")
        return Path(text)
    return parse


def output_folder(flag: str):
    """An argparse `type` for a folder a command will write into, checked now (nothing is made yet), so that a long
    run cannot end on it."""
    def parse(text: str) -> Path:
        path = Path(text)
        if path.exists() and not path.is_dir():
            raise BadArgument(f"{flag} {text} is a file; give a folder, e.g. {text}-results.")
        existing = next(p for p in (path.absolute(), *path.absolute().parents) if p.exists())
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            raise BadArgument(f"{flag} {text}: {existing} is not a folder you can write to.")
        return path
    return parse


def output_file(flag: str, text: str, make_folder: bool = True) -> Path:
    """Where a command will write a file, checked now so that a long run cannot end on a bad path.

    With `make_folder`, its folder is created now; without, the command creates it when it writes (an argparse
    `type` also runs on the default, so a command that fails on its input must not leave a folder behind).
    """
    path = Path(text)
    if path.is_dir():
        raise BadArgument(f"{flag} {text} is a folder; give a file name, e.g. {path / 'out.json'}.")
    if not make_folder:
        existing = next(p for p in (path.absolute().parent, *path.absolute().parent.parents) if p.exists())
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            raise BadArgument(f"{flag} {text}: {existing} is not a folder you can write to.")
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadArgument(f"{flag} {text}: cannot create its folder ({exc.strerror}).") from None
    return path
