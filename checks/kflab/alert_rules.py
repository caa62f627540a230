"""Lab 3.7: a PrometheusRule's alerting rules, checked and unit-tested by promtool.

A PrometheusRule's `spec` has the shape of a Prometheus rule file (`groups:`), so
the checks write it out as one and hand it to promtool: `check rules` for syntax,
PromQL and templates, and `test rules` for behaviour, on series that the checks
invent. Each scenario is run as its own promtool test, so that a failure names
the one moment where the rule did something other than what was expected.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from kflab import promtool
from kflab.manifests import as_dict, as_list

SEVERITIES = ("critical", "warning", "info")  # the convention of Prometheus's own mixins
# Fields of a PrometheusRule group that Prometheus's rule files do not have (Thanos only).
OPERATOR_ONLY = ("partial_response_strategy",)
RULES_FILE = "rules.yaml"


@dataclass
class At:
    """One moment of a scenario: when, what has happened so far, and which alerts fire then."""

    time: str
    story: str
    fires: list[dict] = field(default_factory=list)


@dataclass
class Scenario:
    alert: str
    series: dict[str, str]  # series selector -> promtool's expanding notation ("10x60", "0+60x180")
    moments: list[At]
    interval: str = "1m"


def groups(rule: dict) -> list[dict]:
    return [as_dict(g) for g in as_list(as_dict(rule.get("spec")).get("groups"))]


def alerts(rule: dict) -> dict[str, dict]:
    """Every alerting rule of the PrometheusRule, by alert name."""
    return {str(r["alert"]): r for g in groups(rule) for r in map(as_dict, as_list(g.get("rules"))) if r.get("alert")}


def rule_file(rule: dict, annotations: bool = True) -> str:
    """The PrometheusRule's spec as a Prometheus rule file (optionally without annotations)."""
    out = []
    for group in groups(rule):
        group = {k: v for k, v in group.items() if k not in OPERATOR_ONLY}
        if not annotations:
            group["rules"] = [{k: v for k, v in as_dict(r).items() if k != "annotations"} for r in as_list(group.get("rules"))]
        out.append(group)
    return yaml.safe_dump({"groups": out}, sort_keys=False)


def _strip_positions(output: str) -> str:
    # promtool names the temporary file and positions in it; the group and rule names are what help.
    lines = [re.sub(rf"^\S*{re.escape(RULES_FILE)}: (\d+:\d+: )?", "", ln) for ln in output.splitlines()]
    return "\n".join(ln for ln in lines if ln.strip() and not ln.startswith("Checking ") and ln.strip() != "FAILED:")


def check(rule: dict) -> str | None:
    """promtool's complaint about the rules (syntax, PromQL, templates), or None if it accepts them."""
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, RULES_FILE).write_text(rule_file(rule))
        code, output = promtool.run(["check", "rules", RULES_FILE], Path(tmp))
    return None if code == 0 else _strip_positions(output)


def _test_doc(scenario: Scenario, at: At, labels: dict) -> dict:
    expected = [{"exp_labels": {**{k: str(v) for k, v in labels.items()}, **fire}} for fire in at.fires]
    return {"rule_files": [RULES_FILE], "evaluation_interval": scenario.interval, "tests": [{
        "interval": scenario.interval,
        "input_series": [{"series": s, "values": v} for s, v in scenario.series.items()],
        "alert_rule_test": [{"eval_time": at.time, "alertname": scenario.alert, "exp_alerts": expected}],
    }]}


def describe(fires: list[dict]) -> str:
    if not fires:
        return "should not fire yet"
    sets = " and ".join("{" + ", ".join(f'{k}="{v}"' for k, v in f.items()) + "}" for f in fires)
    return f"should fire for {sets} only (with your rule's own labels added)"


def _got(output: str) -> str:
    """The alerts that promtool saw firing, one label set per line, without the alertname."""
    found = re.search(r"got:\s*(\[.*?\])\s*$", output, re.S)
    if not found:
        return "promtool said:\n" + output[-1500:]
    sets = [re.sub(r'alertname="[^"]*",? ?', "", m) for m in re.findall(r"Labels:(\{.*?\})", found.group(1))]
    return "it did not fire." if not sets else "it fired for:\n" + "\n".join(f"  - {s}" for s in sets)


def first_wrong_moment(rule: dict, scenario: Scenario) -> str | None:
    """Run the scenario's moments in order; describe the first where the alert misbehaves."""
    rule_labels = as_dict(alerts(rule).get(scenario.alert, {}).get("labels"))
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, RULES_FILE).write_text(rule_file(rule, annotations=False))
        for at in scenario.moments:
            Path(tmp, "test.yaml").write_text(yaml.safe_dump(_test_doc(scenario, at, rule_labels), sort_keys=False))
            code, output = promtool.run(["test", "rules", "test.yaml"], Path(tmp))
            if code == 0:
                continue
            if "got:" not in output:
                return f"At {at.time} ({at.story}), promtool could not evaluate the rule:\n{_strip_positions(output)}"
            return f"At {at.time} ({at.story}), {scenario.alert} {describe(at.fires)}, but {_got(output)}"
    return None


def problems(rule: dict, expected: dict[str, str]) -> list[str]:
    """What is missing around each expected alert's expression: the alert itself, `for`, severity, summary."""
    found = alerts(rule)
    out = []
    for name, severity in expected.items():
        r = found.get(name)
        if r is None:
            out.append(f"there is no alert named {name}")
            continue
        if not r.get("for"):
            out.append(f"{name} has no `for:`, so one bad scrape pages someone; hold it as long as the lab asks")
        got = as_dict(r.get("labels")).get("severity")
        if got is None:
            out.append(f"{name} has no `severity` label; it is {severity!r} in this lab (one of {', '.join(SEVERITIES)})")
        elif got != severity:
            out.append(f"{name} has severity {got!r}, not {severity!r} (one of {', '.join(SEVERITIES)})")
        notes = as_dict(r.get("annotations"))
        if not str(notes.get("summary", "")).strip():
            out.append(f"{name} has no `summary` annotation, the line that a notification shows")
        elif "$labels" not in str(notes.get("summary")) + str(notes.get("description", "")):
            out.append(f"{name}'s annotations name no label ({{{{ $labels.pod }}}} and the like), so the page "
                       "does not say which pod, model or queue is in trouble")
    return out


def export(source: Path, dest: Path, annotations: bool = True) -> tuple[bool, str]:
    """Write a PrometheusRule file's spec as a Prometheus rule file; return promtool's verdict on it."""
    try:
        docs = [d for d in yaml.safe_load_all(source.read_text(encoding="utf-8")) if isinstance(d, dict)]
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"cannot read {source}: {str(exc).splitlines()[0]}") from None
    found = [d for d in docs if d.get("kind") == "PrometheusRule"]
    if len(found) != 1:
        raise ValueError(f"{source} holds {len(found)} PrometheusRule objects; it should hold one.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(rule_file(found[0], annotations))
    code, output = promtool.run(["check", "rules", dest.name], dest.parent)
    return code == 0, output if code else f"{dest}: promtool accepts {len(alerts(found[0]))} alerts."


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
    p = sub.add_parser("rules", help="write a PrometheusRule's groups as a Prometheus rule file, and have promtool check it")
    p.add_argument("file", help="a YAML file with one PrometheusRule (lab 3.7's alerts.yaml)")
    p.add_argument("-o", "--output", default="local_outputs/rules.yaml", help="where the rule file goes")
    p.add_argument("--no-annotations", action="store_true",
                   help="leave annotations out, for unit tests that check labels and timing only")
    p.set_defaults(func=cmd_rules)
    p = sub.add_parser("promtool", help=f"run the course's promtool (Prometheus {promtool.pin()['version']})")
    p.add_argument("args", nargs=argparse.REMAINDER, help="promtool's own arguments, e.g. test rules FILE")
    p.set_defaults(func=cmd_promtool)
