"""`kflab doctor`: is this machine ready for the course's Kind cluster, and if not, what to fix.

The probes (kflab.doctor_probes for this machine, kflab.doctor_cluster for the
cluster) are pure functions of facts; kflab.doctor_facts gathers the facts; this
module runs one over the other and prints a table, coloured on a terminal and
plain when piped, then the fix for every problem.
"""

from __future__ import annotations

import json

from kflab import cluster_plan, console, versions
from kflab import doctor_cluster as cluster_probes
from kflab import doctor_probes as probes
from kflab.doctor_facts import Facts, gather

MARKS = {"ok": ("ok", "green"), "info": ("info", "blue"), "warn": ("WARN", "yellow"),
         "fail": ("FAIL", "red"), "skip": ("skip", "dim")}


def diagnose(facts: Facts) -> list[probes.Finding]:
    """Every probe, in the order a learner fixes things: machine, tools, cluster, components."""
    node_minor = cluster_plan.node_minor()
    found = [
        probes.docker(facts.docker, facts.platform),
        probes.kind(facts.kind, versions.pins()["kind"]["version"]),
        probes.kubectl(facts.kubectl, node_minor),
        probes.helm(facts.helm),
        probes.promtool(facts.promtool, versions.component("prometheus")["version"]),
        probes.packages(facts.packages),
        probes.cpus(facts.cpus),
        probes.memory(facts.memory),
        probes.inotify(facts.platform, facts.inotify_instances, facts.inotify_watches),
        probes.open_files(facts.nofile),
        probes.wsl_location(facts.proc_version, facts.repo),
    ]
    ctx = cluster_probes.context(facts.kubeconfigs, facts.kubeconfig_source)
    found += [ctx, cluster_probes.api(ctx.status != "fail", facts.api_version, facts.api_error, node_minor)]
    return found + cluster_probes.components(facts.crds, facts.deployments)


def report(findings: list[probes.Finding]) -> str:
    rows = [[MARKS[f.status][0], f.check, f.detail] for f in findings]
    lines = ["kflab doctor: is this machine ready for the course's Kind cluster?", "",
             console.table(rows, ["", "CHECK", "RESULT"], [MARKS[f.status][1] for f in findings])]
    todo = [f for f in findings if f.fix and f.status in ("fail", "warn")]
    if todo:
        lines += ["", console.paint("What to do:", "bold")]
        lines += [f"  {console.paint(f.check, MARKS[f.status][1])}: {f.fix}" for f in todo]
    fails = sum(f.status == "fail" for f in findings)
    warns = sum(f.status == "warn" for f in findings)
    lines += ["", f"{fails} problem(s), {warns} warning(s). " + (
        "Fix the problems above, then run `kflab doctor` again." if fails else "Ready: `scripts/cluster up` next, if it is not up yet.")]
    return "\n".join(lines)


def doctor(as_json: bool = False) -> tuple[str, int]:
    """The printed report and the exit status (1 when a probe fails)."""
    findings = diagnose(gather())
    code = 1 if any(f.status == "fail" for f in findings) else 0
    if as_json:
        return json.dumps([f.__dict__ for f in findings], indent=2), code
    return report(findings), code


def cmd_doctor(args) -> int:
    text, code = doctor(as_json=args.json)
    print(text)
    return code


def register_cli(sub) -> None:
    p = sub.add_parser("doctor", help="check Docker, kind, kubectl, helm, limits and the cluster; print a fix for each problem")
    p.add_argument("--json", action="store_true", help="print the findings as JSON")
    p.set_defaults(func=cmd_doctor)
