"""`kflab dev mutants`: is each TODO caught on its own?

`kflab dev check` proves that every check fails on the starter as a whole. That can hide a
check that never looks at its own TODO, because the starter fails for another reason. Here
each change between a starter file and its solution is put back into the solution alone
(a mutant), and the lab's checks run on that copy: at least one check must fail.

A change that leaves the meaning alone is no mutant: comments and docstrings in Python
(compared as syntax trees), comments and layout in YAML (compared as data). Notebooks are
compared cell by cell. Lines a lab lists as `equivalent_lines` in labs.toml are not run.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kflab import checkrun, paths, registry
from kflab.devcheck import IGNORED


@dataclasses.dataclass(frozen=True)
class Mutant:
    lab: registry.Lab
    file: str  # relative to the lab folder
    where: str  # "lines 99-104" of the solution, or "cell 3"
    text: str  # the solution file with this one change taken back
    starter_lines: tuple[str, ...]  # the code lines it puts back

    @property
    def name(self) -> str:
        return f"{self.lab.id} {self.file} {self.where}"

    @property
    def equivalent(self) -> bool:
        """Every line it puts back is one that labs.toml says no check can see."""
        return bool(self.starter_lines) and set(self.starter_lines) <= set(self.lab.equivalent_lines)


@dataclasses.dataclass
class Verdict:
    mutant: Mutant
    outcome: str  # caught, missed, unreached (only skipped checks could tell), equivalent, error
    detail: str  # the checks that failed, or why nothing could be said


def _code(lines: list[str]) -> list[str]:
    """The lines that do something: no blanks, no `#` comments."""
    return [s for s in (line.strip() for line in lines) if s and not s.startswith("#")]


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    return tree


def meaning(name: str, text: str) -> object:
    """What a file says, with what cannot change behaviour (comments, docstrings, YAML layout) left out."""
    suffix = Path(name).suffix
    try:
        if suffix == ".py":
            return ast.dump(_strip_docstrings(ast.parse(text)))
        if suffix in (".yaml", ".yml"):
            import yaml

            return list(yaml.safe_load_all(text))
    except Exception:  # an unparsable file (a TODO left half-done) means what its code lines say
        pass
    return _code(text.splitlines())


def _line_mutants(lab: registry.Lab, rel: str, solution: str, starter: str) -> Iterator[Mutant]:
    a, b = solution.splitlines(keepends=True), starter.splitlines(keepends=True)
    same = meaning(rel, solution)
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        text = "".join(a[:i1] + b[j1:j2] + a[i2:])
        if tag != "equal" and meaning(rel, text) != same:
            where = f"line {i1 + 1}" if i2 - i1 <= 1 else f"lines {i1 + 1}-{i2}"
            yield Mutant(lab, rel, where, text, tuple(_code(b[j1:j2])))


def _cell_mutants(lab: registry.Lab, rel: str, solution: str, starter: str) -> Iterator[Mutant]:
    sol, sta = json.loads(solution), json.loads(starter)
    if len(sol["cells"]) != len(sta["cells"]):  # no cell-to-cell map: the whole starter notebook is one mutant
        yield Mutant(lab, rel, "every cell", starter, ())
        return

    def source(cell) -> list[str]:
        return cell["source"] if isinstance(cell["source"], list) else cell["source"].splitlines(True)

    for i, (s, t) in enumerate(zip(sol["cells"], sta["cells"]), 1):
        if s["cell_type"] == "code" and _code(source(s)) != _code(source(t)):
            cells = [dict(c) for c in sol["cells"]]
            cells[i - 1]["source"] = t["source"]
            yield Mutant(lab, rel, f"cell {i}", json.dumps({**sol, "cells": cells}, indent=1) + "\n",
                         tuple(_code(source(t))))


def mutants(lab: registry.Lab) -> list[Mutant]:
    """One mutant per change between the lab's starter and solution files."""
    found = []
    starter_dir, solution_dir = lab.dir(paths.LABS), lab.dir(paths.SOLUTIONS)
    for path in sorted(starter_dir.rglob("*")):
        rel = path.relative_to(starter_dir)
        solution = solution_dir / rel
        if not path.is_file() or IGNORED & set(rel.parts) or not solution.is_file():
            continue
        a, b = solution.read_text(errors="replace"), path.read_text(errors="replace")
        if a != b:
            make = _cell_mutants if path.suffix == ".ipynb" else _line_mutants
            found += make(lab, str(rel), a, b)
    return found


def judge(mutant: Mutant, extra: list[str]) -> Verdict:
    """Run the lab's checks on a copy of solutions/ that carries the one mutant."""
    if mutant.equivalent:
        return Verdict(mutant, "equivalent", "labs.toml lists these lines as equivalent_lines; not run")
    with tempfile.TemporaryDirectory(prefix="kflab-mutant-") as tmp:
        target = Path(tmp) / "solutions"
        shutil.copytree(paths.SOLUTIONS, target, ignore=shutil.ignore_patterns(*IGNORED))
        (target / mutant.lab.folder / mutant.file).write_text(mutant.text)
        run = checkrun.collect_results([mutant.lab], str(target), extra)
    checks = run.get("labs", {}).get(mutant.lab.id, {}).get("checks", {})
    outcomes = {name: res["outcome"] for name, res in checks.items()}
    failed = sorted(name for name, outcome in outcomes.items() if outcome == "failed")
    skipped = sorted(name for name, outcome in outcomes.items() if outcome == "skipped")
    if failed:
        return Verdict(mutant, "caught", ", ".join(failed))
    if "error" in run or "passed" not in outcomes.values():
        return Verdict(mutant, "error", run.get("error") or "no check ran (is a tier skipped?)")
    if skipped:
        return Verdict(mutant, "unreached", f"every check that ran passed; skipped here: {', '.join(skipped)}")
    return Verdict(mutant, "missed", "every check passed with this change taken back")


def run(labs: list[registry.Lab], extra: list[str], jobs: int = 2,
        echo: Callable[[str], None] = print) -> list[Verdict]:
    """Judge every mutant of `labs`, `jobs` at a time (cluster checks use namespaces of their own)."""
    todo = [m for lab in labs for m in mutants(lab)]
    echo(f"{len(todo)} mutants in {len(labs)} lab(s), {jobs} at a time")
    verdicts = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for verdict in pool.map(lambda m: judge(m, extra), todo):
            echo(f"{verdict.outcome.upper():10} {verdict.mutant.name}: {verdict.detail}")
            verdicts.append(verdict)
    return verdicts


def failing(verdicts: list[Verdict]) -> list[Verdict]:
    """The verdicts that fail the run: a change no check saw although every check ran, or a broken run."""
    return [v for v in verdicts if v.outcome in ("missed", "error")]


def summary(verdicts: list[Verdict]) -> str:
    counts = {o: sum(v.outcome == o for v in verdicts) for o in ("caught", "missed", "unreached", "equivalent", "error")}
    text = f"dev mutants: {counts['caught']} of {len(verdicts)} caught" + "".join(
        f", {n} {o}" for o, n in counts.items() if n and o != "caught")
    if failing(verdicts):
        text += ". Make a check see each missed change, or take it out of the starter"
    return text


def write(verdicts: list[Verdict], path: str) -> None:
    rows = [{"mutant": v.mutant.name, "outcome": v.outcome, "detail": v.detail} for v in verdicts]
    Path(path).write_text(json.dumps(rows, indent=2) + "\n")
