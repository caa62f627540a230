"""Grading progress: a bar with an ETA on a terminal, one plain line per submission when piped."""

from __future__ import annotations

import sys
import time

from kflab import console


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


class Progress:
    """Counts finished submissions; the ETA comes from the pace of the ones actually graded."""

    def __init__(self, total: int, stream=None, enabled: bool = True):
        self.total, self.done, self.graded = total, 0, 0
        self.stream = stream or sys.stdout
        self.enabled = enabled
        self.tty = console.is_tty(self.stream)
        self.started = time.monotonic()

    def eta(self) -> float | None:
        if not self.graded:
            return None
        return (time.monotonic() - self.started) / self.graded * (self.total - self.done)

    def update(self, name: str, row: dict, graded: bool = True, note: str = "unchanged") -> None:
        """Count one submission; `note` says why one that was not graded now was skipped."""
        self.done += 1
        self.graded += graded
        if not self.enabled:
            return
        verdict = f"{name}: {row['status']}, {row['total']:g}/{row['max_total']}" + ("" if graded else f" ({note})")
        if self.tty:
            eta = self.eta()
            line = f"{console.bar(self.done, self.total, 24)} {self.done}/{self.total}  ETA {_clock(eta) if eta is not None else '--'}  {verdict}"
            self.stream.write("\r\x1b[2K" + line[:160])
        else:
            seconds = f" in {row.get('seconds', 0):g} s" if graded else ""
            self.stream.write(f"[{self.done}/{self.total}] {verdict}{seconds}\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty and self.done:
            self.stream.write("\n")
            self.stream.flush()
