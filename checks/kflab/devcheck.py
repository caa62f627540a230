"""`kflab dev check`: the course lint that CI runs (rustlings' `dev check`).

It fails when a hint is empty, a starter has no TODO, a registry entry has no
files or a file no entry, a solution fails its checks, or a check passes on
the starter (every check must be able to fail).
"""

from __future__ import annotations

import os
from pathlib import Path

from kflab import checkrun, paths, registry, tiers

IGNORED = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache", "local_outputs"}  # what runs leave behind (git-ignored)


def _files(folder: Path) -> set[str]:
    if not folder.is_dir():
        return set()
    return {str(p.relative_to(folder)) for p in folder.rglob("*")
            if p.is_file() and not IGNORED & set(p.relative_to(folder).parts)}


def lint() -> list[str]:
    """Problems in the registry and the file tree, without running anything."""
    problems, seen = [], set()
    labs = registry.labs()
    for lab in labs:
        where = f"lab {lab.id}"
        if lab.id in seen:
            problems.append(f"{where}: the id appears twice in labs.toml")
        seen.add(lab.id)
        if lab.stage != int(lab.id.split(".")[0]):
            problems.append(f"{where}: stage = {lab.stage} disagrees with the id")
        if not lab.hints or any(not h.strip() for h in lab.hints):
            problems.append(f"{where}: every lab needs hints, none of them empty")
        starter, solution = _files(lab.dir(paths.LABS)), _files(lab.dir(paths.SOLUTIONS))
        if not starter:
            problems.append(f"{where}: labs/{lab.folder}/ has no files")
        if starter != solution:
            problems.append(f"{where}: labs/ and solutions/ differ in files: {sorted(starter ^ solution)}")
        if starter and not any("TODO" in (lab.dir(paths.LABS) / f).read_text(errors="ignore") for f in starter):
            problems.append(f"{where}: no starter file has a `# TODO`")
        if not lab.check_file.exists():
            problems.append(f"{where}: {lab.check_file.relative_to(paths.REPO)} is missing")
        if not lab.docs_file.exists():
            problems.append(f"{where}: its docs page docs/{lab.docs} is missing")
    known = {lab.folder for lab in labs}
    for root in (paths.LABS, paths.SOLUTIONS):
        for folder in sorted(root.glob("stage*/*")):
            rel = str(folder.relative_to(root))
            if folder.is_dir() and folder.name not in IGNORED and rel not in known:
                problems.append(f"{root.name}/{rel}: no entry in labs/labs.toml names this folder")
    known_checks = {lab.check_file for lab in labs}
    for check in sorted(paths.CHECKS.glob("stage*/test_*.py")):
        if check not in known_checks:
            problems.append(f"{check.relative_to(paths.REPO)}: no entry in labs/labs.toml owns this check")
    return problems


def behaviour(labs: list[registry.Lab], extra: list[str]) -> list[str]:
    """Run the checks on solutions and starters; every check must tell them apart."""
    problems = []
    solved = checkrun.collect_results(labs, "solutions", extra)
    started = checkrun.collect_results(labs, "labs", extra)
    for run, name in ((solved, "solutions"), (started, "labs")):
        if "error" in run:
            problems.append(f"{name}: {run['error']}")
    for lab in labs:
        sol = solved.get("labs", {}).get(lab.id, {}).get("checks", {})
        sta = started.get("labs", {}).get(lab.id, {}).get("checks", {})
        if not sol:
            problems.append(f"lab {lab.id}: no check ran on the solution")
        for check, res in sorted(sol.items()):
            if res["outcome"] == "failed":
                first = res["message"].splitlines()[0] if res["message"] else ""
                problems.append(f"lab {lab.id}: the solution fails {check}: {first}")
        for check, res in sorted(sta.items()):
            if res["outcome"] == "passed":
                problems.append(f"lab {lab.id}: the starter already passes {check}; the check cannot fail or the starter does too much")
        if os.environ.get("KFLAB_REQUIRE_CLUSTER") == "1":
            unreached = [c for c, r in sol.items() if r["outcome"] == "skipped" and tiers.NO_CLUSTER[:30] in r["message"]]
            if unreached:
                problems.append(f"lab {lab.id}: the cluster tier is required here but was skipped: {', '.join(unreached)}")
        ran = [c for c, r in sol.items() if r["outcome"] == "passed"]
        if ran and not any(r["outcome"] == "failed" for r in sta.values()):
            problems.append(f"lab {lab.id}: the starter fails none of its checks")
    return problems


def dev_check(selector: str | None = None, run_checks: bool = True, extra: list[str] | None = None) -> list[str]:
    labs = registry.select(selector)  # a bad selector is refused even when no check runs
    problems = lint()
    if run_checks:
        problems += behaviour(labs, ["-m", "not gpu", *(extra or [])])
    return problems
