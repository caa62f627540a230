"""One check run's results: per lab, per checkpoint, with the learner's message.

The Collector is a pytest plugin object (registered by kflab.plugin). It feeds
the terminal summary, `kflab status` (through the state file) and the benchmarks
(through --kflab-report).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from kflab import paths, registry, state


def check_name(nodeid: str) -> str:
    """`checks/stage2/test_01_x.py::test_y[p]` -> `test_y[p]`."""
    return nodeid.split("::")[-1]


class Collector:
    def __init__(self, target: str, report: str | None = None, progress: bool = True):
        self.target = target
        self.report = Path(report) if report else None
        self.progress = progress and target == "labs"  # progress is the learner's own work
        self.labs: dict[str, dict[str, dict]] = {}

    # -- pytest hooks -------------------------------------------------------
    def pytest_runtest_logreport(self, report):
        props = dict(report.user_properties)
        lab_id = props.get("kflab_lab")
        if lab_id is None:
            return
        checks = self.labs.setdefault(lab_id, {})
        name = check_name(report.nodeid)
        decisive = report.when == "call" or report.failed or report.skipped
        if not decisive or (report.when == "teardown" and name in checks):
            return
        checks[name] = {
            "outcome": "passed" if report.passed else "failed" if report.failed else "skipped",
            "message": props.get("kflab_message", ""),
            "seconds": round(getattr(report, "duration", 0.0), 2),
        }
        if "kflab_measure" in props:  # a check's measured figure (record_property), shown in the verdict
            checks[name]["measured"] = props["kflab_measure"]

    def pytest_terminal_summary(self, terminalreporter):
        for line in self.summary_lines():
            colour = {"  FAIL": "red", "  PASS": "green"}.get(line[:6])
            terminalreporter.write_line(line, **({colour: True, "bold": True} if colour else {}))

    def pytest_sessionfinish(self, session):
        if self.report:
            self.write_report(self.report)
        if self.progress and self.labs:
            try:
                self.record_progress()
            except paths.FolderError as exc:  # the verdicts still print; only `kflab status` misses this run
                print(f"\nkflab: your progress was not saved: {exc}", file=sys.stderr)

    # -- views ------------------------------------------------------------
    def lab_summary(self, lab_id: str) -> dict:
        checks = self.labs.get(lab_id, {})
        counts = {o: sum(c["outcome"] == o for c in checks.values()) for o in ("passed", "failed", "skipped")}
        return {"when": time.strftime("%Y-%m-%dT%H:%M:%S"), "target": self.target, **counts, "checks": checks}

    def summary_lines(self) -> list[str]:
        if not self.labs:
            return []
        lines = ["", f"kflab verdict for target {self.target}:"]
        order = [lab.id for lab in registry.labs()]
        for lab_id in sorted(self.labs, key=lambda i: order.index(i) if i in order else 999):
            s = self.lab_summary(lab_id)
            ran = s["passed"] + s["failed"]
            title = registry.get(lab_id).title if lab_id in order else lab_id
            if s["failed"]:
                verdict = f"  FAIL  {lab_id} {title}: {s['passed']}/{ran} checkpoints pass. Next: `kflab hint {lab_id}`"
            elif ran:
                verdict = f"  PASS  {lab_id} {title}: {ran}/{ran} checkpoints pass."
            else:
                verdict = f"  SKIP  {lab_id} {title}: nothing ran here."
            if s["skipped"]:
                verdict += f" ({s['skipped']} skipped)"
            lines.append(verdict)
            lines += [f"        measured: {c['measured']}" for c in s["checks"].values() if c.get("measured")]
        reasons: dict[str, int] = {}  # why checkpoints were skipped, each said once for the whole run
        for checks in self.labs.values():
            for c in checks.values():
                if c["outcome"] == "skipped":
                    why = c["message"].removeprefix("Skipped: ").strip() or "no reason given"
                    reasons[why] = reasons.get(why, 0) + 1
        lines += [f"  {n} skipped: {why}" for why, n in reasons.items()]
        return lines

    # -- outputs ----------------------------------------------------------
    def write_report(self, path: Path) -> None:
        state.write_json(path, {"target": self.target, "labs": {i: self.lab_summary(i) for i in self.labs}})

    def record_progress(self) -> None:
        state.record_results({i: self.lab_summary(i) for i in self.labs})
