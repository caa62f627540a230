"""Lab 3.7: a PrometheusRule's alerting rules, checked and unit-tested by promtool.

A PrometheusRule's `spec` has the shape of a Prometheus rule file (`groups:`), so
the checks write it out as one and hand it to promtool: `check rules` for syntax,
PromQL and templates, and `test rules` for behaviour, on series that the checks
invent. Each scenario is run as its own promtool test, so that a failure names
the one moment where the rule did something other than what was expected.
"""

from __future__ import annotations

import re
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


def expr_positions(output: str) -> str:
    # A PromQL parse error's "1:24" counts lines and columns in the expression, not in any file.
    return re.sub(r"could not parse expression: (\d+):(\d+):", r"could not parse expression (line \1, column \2 of its expr):", output)


def located(output: str, text: str) -> str:
    """promtool's YAML errors (`line 21: ...`, in the rule file `text`) with the group, rule and field on that line."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return output
    spots = []  # (line, where), in file order
    for key, groups in root.value if isinstance(root, yaml.MappingNode) else []:
        for group in groups.value if key.value == "groups" and isinstance(groups, yaml.SequenceNode) else []:
            fields = {k.value: v for k, v in group.value} if isinstance(group, yaml.MappingNode) else {}
            name = getattr(fields.get("name"), "value", "?")
            spots.append((group.start_mark.line + 1, f'group "{name}"'))
            rules = fields.get("rules")
            for i, rule in enumerate(rules.value if isinstance(rules, yaml.SequenceNode) else [], 1):
                pairs = rule.value if isinstance(rule, yaml.MappingNode) else []
                title = next((v.value for k, v in pairs if k.value in ("alert", "record")), "?")
                spots += [(k.start_mark.line + 1, f'group "{name}", rule {i}, "{title}", field `{k.value}`') for k, _ in pairs]

    def where(match):
        line = int(match.group(1))
        found = [w for at, w in spots if at <= line]
        return f"line {line} ({found[-1]}):" if found else match.group(0)
    return re.sub(r"\bline (\d+):", where, output)


def _strip_positions(output: str, text: str = "") -> str:
    # promtool names the temporary file and positions in it; the group and rule names are what help.
    lines = [re.sub(rf"^\S*{re.escape(RULES_FILE)}: (\d+:\d+: )?", "", ln)
             for ln in located(expr_positions(output), text).splitlines()]
    said = "\n".join(ln for ln in lines if ln.strip() and not ln.startswith("Checking ") and ln.strip() != "FAILED:")
    if re.search(r"\bline \d+ \(", said):
        said += (f"\n(Those line numbers count lines of the rule file made from spec.groups, which `kflab rules "
                 f"alerts.yaml` writes to local_outputs/{RULES_FILE}, not lines of alerts.yaml.)")
    return said


def _durations_named(said: str, rule: dict) -> str:
    """promtool's `not a valid duration string: "30"` (it names no rule) with the group, rule and field that hold "30"."""
    def where(match):
        value = match.group(1)
        found = []
        for group in groups(rule):
            if str(group.get("interval")) == value:
                found.append(f'group "{group.get("name")}", field `interval`')
            for i, r in enumerate(map(as_dict, as_list(group.get("rules"))), 1):
                title = r.get("alert") or r.get("record") or "?"
                found += [f'group "{group.get("name")}", rule {i}, "{title}", field `{key}`'
                          for key in ("for", "keep_firing_for") if key in r and str(r[key]) == value]
        return f"{'; '.join(found)}: {match.group(0)}" if found else match.group(0)
    return re.sub(r'^not a valid duration string: "(.*)"$', where, said, flags=re.M)


def _once(said: str) -> str:
    """promtool reads the file twice and reports some errors once per reading: keep each line once."""
    return "\n".join(dict.fromkeys(said.splitlines()))


def advice(said: str) -> str:
    """What to do about promtool's complaint, as the last sentence of a failure."""
    named = "each rule it names" if len(set(re.findall(r'(group "[^"]*", rule \d+)', said))) > 1 else "the rule it names"
    if "not a valid duration string" in said:
        field = "`for`" if "field `for`" in said or "field `" not in said else "a duration"
        return f"Fix {named} ({field} needs a unit, such as 30m), then run the check again."
    return f"Fix {named}, then run the check again."


def check(rule: dict) -> str | None:
    """promtool's complaint about the rules (syntax, PromQL, templates), or None if it accepts them."""
    with tempfile.TemporaryDirectory() as tmp:
        text = rule_file(rule)
        Path(tmp, RULES_FILE).write_text(text)
        code, output = promtool.run(["check", "rules", RULES_FILE], Path(tmp))
    return None if code == 0 else _durations_named(_once(_strip_positions(output, text)), rule)


def shape_problem(rule: dict) -> str | None:
    """Why the PrometheusRule holds no rules that promtool could check, or None."""
    spec = rule.get("spec")
    if not isinstance(spec, dict) or not isinstance(spec.get("groups"), list):
        where = "spec" if not isinstance(spec, dict) else "spec.groups"
        got = spec if where == "spec" else spec.get("groups")
        has = "is missing" if got is None else f"is {type(got).__name__} {got!r:.40}"
        return (f"{where} {has}, but a PrometheusRule needs spec.groups: a list of groups, each with a `name` "
                "and a list of `rules`. Start from the lab's alerts.yaml.")
    for i, group in enumerate(spec["groups"]):
        if not isinstance(group, dict) or not isinstance(group.get("rules"), list):
            return (f"spec.groups[{i}] is {group!r:.60}, but each group needs a `name` and a list of `rules` "
                    "(`- alert: ...` with `expr:`).")
    if not any(group["rules"] for group in spec["groups"]):
        return "spec.groups holds no rules. Add alerting rules (`- alert: ...` with `expr:`) to a group's `rules:`."
    return None


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


LABEL_REF = re.compile(r'\$labels\.([A-Za-z_]\w*)|index\s+\$labels\s+"([^"]+)"')


def unknown_labels(rule: dict, scenario: Scenario) -> str | None:
    """An annotation's `$labels.X` that the alert does not carry when it fires in `scenario`, as a sentence.

    The labels it carries are those the scenario's firings had (promtool compared them
    exactly), plus the rule's own; a template of any other renders as an empty string.
    """
    r = alerts(rule).get(scenario.alert, {})
    carried = {k for at in scenario.moments for fire in at.fires for k in fire} | set(as_dict(r.get("labels"))) | {"alertname"}
    text = " ".join(str(v) for v in as_dict(r.get("annotations")).values())
    unknown = sorted({a or b for a, b in LABEL_REF.findall(text)} - carried)
    if not unknown:
        return None
    return (f"{scenario.alert}'s annotations use $labels.{unknown[0]}, but the alert carries no such label (it carries "
            f"{', '.join(sorted(carried))}), so the notification shows an empty name there. Use a label the "
            "expression keeps (its `by (...)` list), or keep that label in the expression.")


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
