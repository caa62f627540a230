"""Terminal output: colour and aligned tables on a terminal, plain text when piped."""

from __future__ import annotations

import os
import sys

COLOURS = {"red": "31", "green": "32", "yellow": "33", "blue": "34", "bold": "1", "dim": "2"}


def is_tty(stream=None) -> bool:
    stream = stream or sys.stdout
    return hasattr(stream, "isatty") and stream.isatty() and "NO_COLOR" not in os.environ


def paint(text: str, colour: str, stream=None) -> str:
    if not is_tty(stream):
        return text
    return f"\x1b[{COLOURS[colour]}m{text}\x1b[0m"


def table(rows: list[list[str]], header: list[str] | None = None, colours: list[str | None] | None = None) -> str:
    """Aligned columns; `colours` paints whole rows on a terminal."""
    all_rows = ([header] if header else []) + rows
    if not all_rows:
        return ""
    widths = [max(len(str(r[i])) for r in all_rows) for i in range(len(all_rows[0]))]
    lines = []
    for index, row in enumerate(all_rows):
        line = "  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
        if header and index == 0:
            line = paint(line, "bold")
        elif colours:
            colour = colours[index - (1 if header else 0)]
            line = paint(line, colour) if colour else line
        lines.append(line)
    return "\n".join(lines)


def bar(done: int, total: int, width: int = 20) -> str:
    filled = round(width * done / total) if total else 0
    return ("#" * filled).ljust(width, ".") if not is_tty() else ("█" * filled).ljust(width, "·")
