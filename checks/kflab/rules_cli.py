"""`kflab rules` and `kflab promtool`: lab 3.7's rule file, as Prometheus and promtool see it.

`kflab rules alerts.yaml` writes a PrometheusRule's `spec.groups` out as a plain
Prometheus rule file and has promtool check it, with promtool's line numbers
explained (they count lines of the written file). `kflab promtool ...` runs the
course's pinned promtool with the learner's own arguments.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

from kflab import promtool, yamlfile
from kflab.alert_rules import alerts, expr_positions, located, rule_file, shape_problem


def export(source: Path, dest: Path, annotations: bool = True) -> tuple[bool, str]:
    """Write a PrometheusRule file's spec as a Prometheus rule file; return promtool's verdict on it."""
    found = [d for d in yamlfile.read(source, ValueError) if isinstance(d, dict) and d.get("kind") == "PrometheusRule"]
    if len(found) != 1:
        raise ValueError(f"{source} holds {len(found)} PrometheusRule objects; it should hold one.")
    shape = shape_problem(found[0])
    if shape:
        raise ValueError(f"{source}: {shape}")
    text = rule_file(found[0], annotations)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)  # only now: a missing or bad source leaves no folder behind
        dest.write_text(text)
    except OSError as exc:
        raise ValueError(f"cannot write {dest} ({exc.strerror or exc}); give another --output.") from None
    code, output = promtool.run(["check", "rules", str(dest)], Path.cwd())
    if code and re.search(r"\d+:\d+: |\bline \d+:", output):  # they count lines of dest, not of source
        return False, (f"{located(expr_positions(output), text)}\n(Line numbers above count lines of {dest}, which "
                       f"kflab rules wrote from the spec.groups of {source}, not lines of {source}.)")
    if code:
        return False, expr_positions(output)
    return True, f"{dest}: promtool accepts {len(alerts(found[0]))} alerts."


def cmd_rules(args) -> int:
    try:
        ok, verdict = export(Path(args.file), Path(args.output), not args.no_annotations)
    except (ValueError, promtool.ToolError) as exc:
        print(f"kflab rules: {exc}", file=sys.stderr)
        return 1
    print(verdict)
    return 0 if ok else 1


def cmd_promtool(args) -> int:
    try:
        return subprocess.run([str(promtool.ensure()), *args.args]).returncode
    except promtool.ToolError as exc:
        print(f"kflab promtool: {exc}", file=sys.stderr)
        return 1


def register_cli(sub) -> None:
    import functools

    from kflab.argtypes import output_file

    p = sub.add_parser("rules", help="write a PrometheusRule's groups as a Prometheus rule file, and have promtool check it")
    p.add_argument("file", help="a YAML file with one PrometheusRule (lab 3.7's alerts.yaml)")
    p.add_argument("-o", "--output", default="local_outputs/rules.yaml",
                   type=functools.partial(output_file, "--output", make_folder=False), help="where the rule file goes")
    p.add_argument("--no-annotations", action="store_true",
                   help="leave annotations out, for unit tests that check labels and timing only")
    p.set_defaults(func=cmd_rules)
    p = sub.add_parser("promtool", help=f"run the course's promtool (Prometheus {promtool.pin()['version']})")
    p.add_argument("args", nargs=argparse.REMAINDER, help="promtool's own arguments, e.g. test rules FILE")
    p.set_defaults(func=cmd_promtool)
