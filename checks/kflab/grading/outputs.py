"""The grades, in every format an instructor asked for, rebuilt from the per-submission results.

grades.csv (a row per student), grades.json, junit.xml, a Gradescope
results.json per submission, and feedback/NAME.md per student. Feedback and
Gradescope output carry each checkpoint's verdict, the learner-facing message
and the lab's first hint; never the checks' source nor the pytest log.
"""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from kflab.grading.store import write_text
from kflab.registry import Lab

XML_BAD = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def write_all(out: Path, labs: list[Lab], rows: list[dict]) -> None:
    """Every output file; `rows` are the results of the submissions present, sorted by name."""
    write_text(out / "grades.csv", csv_text(labs, rows))
    write_text(out / "grades.json", json.dumps({
        "labs": [{"id": lab.id, "title": lab.title, "points": lab.points} for lab in labs],
        "max_total": sum(lab.points for lab in labs),
        "students": [{k: v for k, v in row.items() if k not in ("key", "harness")} for row in rows],
    }, indent=2, ensure_ascii=True))
    write_text(out / "junit.xml", junit_text(labs, rows))
    for row in rows:
        write_text(out / "gradescope" / row["name"] / "results.json", json.dumps(gradescope(labs, row), indent=2))
        write_text(out / "feedback" / f"{row['name']}.md", feedback(labs, row))
    remove_departed(out, {row["name"] for row in rows})


def remove_departed(out: Path, names: set[str]) -> None:
    """Remove the feedback and Gradescope files of students no longer handed in, so feedback/ can be sent as it is.

    Only what write_all writes goes: NAME.md, and NAME/results.json with its folder once empty.
    """
    for path in (out / "feedback").glob("*.md"):
        if path.stem not in names and not path.name.startswith(".") and path.is_file():
            path.unlink()
    for folder in (out / "gradescope").glob("*"):
        if folder.name not in names and folder.is_dir() and not folder.is_symlink():
            (folder / "results.json").unlink(missing_ok=True)
            try:
                folder.rmdir()
            except OSError:  # it holds files of someone else's: leave them
                pass


def csv_text(labs: list[Lab], rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["student", *(lab.id for lab in labs), "total", "max", "status", "reason", "notes"])
    for row in rows:
        writer.writerow([row["name"], *(_num(row["labs"][lab.id]["points"]) for lab in labs), _num(row["total"]),
                         row["max_total"], row["status"], row["reason"], "; ".join(row["notes"] + row.get("gaps", []))])
    return buf.getvalue()


def _num(value: float) -> str:
    return f"{value:g}"


def _checks(labs: list[Lab], row: dict):
    """(lab, checkpoint name or None, verdict) for each checkpoint; a lab with none yields one line."""
    for lab in labs:
        result = row["labs"][lab.id]
        if not result["checks"]:
            yield lab, None, {"outcome": result["status"], "message": result["reason"], "points": 0.0,
                              "max_points": result["max_points"]}
        for name, check in result["checks"].items():
            yield lab, name, check


def junit_text(labs: list[Lab], rows: list[dict]) -> str:
    suites = ET.Element("testsuites", name="kflab grade")
    for row in rows:
        suite = ET.SubElement(suites, "testsuite", name=row["name"], time=str(row.get("seconds", 0)))
        props = ET.SubElement(suite, "properties")
        for key in ("status", "total", "max_total"):
            ET.SubElement(props, "property", name=key, value=str(row[key]))
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for lab, name, check in _checks(labs, row):
            counts["tests"] += 1
            case = ET.SubElement(suite, "testcase", classname=f"{row['name']}.lab_{lab.id.replace('.', '_')}",
                                 name=name or "lab")
            message = XML_BAD.sub("", check["message"])
            outcome = check["outcome"]
            if outcome == "skipped":
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message=message.splitlines()[0] if message else "")
            elif outcome in ("timeout", "crashed"):
                counts["errors"] += 1
                ET.SubElement(case, "error", message=outcome, type=outcome).text = message
            elif outcome != "passed":
                counts["failures"] += 1
                ET.SubElement(case, "failure", message=(message.splitlines() or [outcome])[0]).text = message
        suite.attrib.update({k: str(v) for k, v in counts.items()})
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def gradescope(labs: list[Lab], row: dict) -> dict:
    """Gradescope's autograder results.json: a top-level score and one test per checkpoint."""
    tests, skipped = [], []
    for lab, name, check in _checks(labs, row):
        if check["outcome"] == "skipped":  # Gradescope knows only passed and failed; these did not count
            skipped.append(f"- {lab.id} `{name}`: {check['message'] or 'skipped'}")
            continue
        output = check["message"]
        if check["outcome"] == "failed" and lab.hints:
            output = (output + "\n\n" if output else "") + f"Hint: {lab.hints[0]}"
        tests.append({
            "name": f"{lab.id} {lab.title}: {name or 'lab'}",
            "score": check["points"], "max_score": check["max_points"],
            "status": "passed" if check["outcome"] == "passed" else "failed",
            "output": output, "output_format": "text", "visibility": "visible",
        })
    summary = f"Status: {row['status']}." + (f" {row['reason']}" if row["reason"] else "")
    if row["notes"]:
        summary += "\n\n" + "\n".join(f"- {note}" for note in row["notes"])
    if skipped:
        summary += "\n\nNot graded here (they do not count):\n" + "\n".join(skipped)
    return {"score": row["total"], "execution_time": row.get("seconds", 0), "output": summary,
            "output_format": "md", "visibility": "visible", "tests": tests,
            "extra_data": {"status": row["status"], "max_total": row["max_total"]}}


def feedback(labs: list[Lab], row: dict) -> str:
    """The student's feedback: verdicts, the learner-facing messages, and where to look next."""
    lines = [f"# Feedback for {row['name']}", "",
             f"**Total: {_num(row['total'])} / {row['max_total']}** (status: {row['status']})", ""]
    if row["reason"]:
        lines += [f"Why: {row['reason']}", ""]
    if row["notes"]:
        lines += ["Notes:", "", *(f"- {note}" for note in row["notes"]), ""]
    for lab in labs:
        result = row["labs"][lab.id]
        lines += [f"## Lab {lab.id} {lab.title}: {_num(result['points'])} / {lab.points}", ""]
        if result["reason"]:
            lines += [f"{result['status'].capitalize()}: {result['reason']}", ""]
        if result["checks"]:
            lines += ["| Checkpoint | Verdict | Points |", "|---|---|---|"]
            lines += [f"| `{name}` | {c['outcome']} | {_num(c['points'])} / {_num(c['max_points'])} |"
                      for name, c in result["checks"].items()]
            lines.append("")
        for name, check in result["checks"].items():
            if check["outcome"] not in ("passed", "skipped") and check["message"]:
                fence = "`" * max(3, 1 + max((len(m) for m in re.findall("`+", check["message"])), default=0))
                lines += [f"### `{name}`: {check['outcome']}", "", f"{fence}text", check["message"], fence, ""]
        if result["points"] < lab.points and lab.hints and result["status"] == "ok":  # a timeout's reason says what to do
            lines += [f"Hint: {lab.hints[0]}", "", f"Run `kflab hint {lab.id}` for the next hint.", ""]
    return "\n".join(lines)
