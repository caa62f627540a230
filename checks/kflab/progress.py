"""What `kflab list` and `kflab status` show: the course map and the learner's progress."""

from __future__ import annotations

from kflab import console, registry, state


def lab_status(lab: registry.Lab, recorded: dict) -> tuple[str, str | None]:
    """('done' | 'in progress' | 'not started', colour) from the last recorded run."""
    result = recorded.get(lab.id)
    if not result or not (result.get("passed", 0) + result.get("failed", 0)):
        return "not started", None
    if result["failed"] == 0:
        return "done", "green"
    return f"{result['passed']}/{result['passed'] + result['failed']} checkpoints", "yellow"


def course_map() -> str:
    """Every stage and lab, with tiers and points."""
    out = []
    for stage in registry.stages():
        out.append(console.paint(f"Stage {stage.number}: {stage.title}", "bold") + f"  {stage.summary}")
        rows = [[f"  {lab.id}", lab.title, ",".join(lab.tiers), f"{lab.points} pts"]
                for lab in registry.labs() if lab.stage == stage.number]
        out.append(console.table(rows) if rows else "  (no labs yet)")
    return "\n".join(out)


def status_report() -> str:
    """Progress per stage from the last check results in the state file."""
    recorded = state.load()["labs"]
    out = []
    for stage in registry.stages():
        labs = [lab for lab in registry.labs() if lab.stage == stage.number]
        if not labs:
            continue
        statuses = [lab_status(lab, recorded) for lab in labs]
        done = sum(s == "done" for s, _ in statuses)
        out.append(console.paint(f"Stage {stage.number}: {stage.title}", "bold")
                   + f"  {console.bar(done, len(labs))} {done}/{len(labs)} labs done")
        rows = [[f"  {lab.id}", lab.title, s] for lab, (s, _) in zip(labs, statuses)]
        out.append(console.table(rows, colours=[c for _, c in statuses]))
    nxt = next((lab for lab in registry.labs() if lab_status(lab, recorded)[0] != "done"), None)
    if nxt:
        out.append(f"\nNext: lab {nxt.id} ({nxt.title}). Read docs/{nxt.docs}, then run `kflab check {nxt.id}`.")
    else:
        out.append("\nEvery lab passes. Well done.")
    return "\n".join(out)


def hint_text(lab_id: str, show_all: bool = False) -> str:
    lab = registry.get(lab_id)
    shown = state.reveal_hint(lab.id, len(lab.hints), show_all)
    lines = [console.paint(f"Hints for lab {lab.id} ({lab.title}):", "bold")]
    lines += [f"  {i + 1}. {lab.hints[i]}" for i in range(shown)]
    left = len(lab.hints) - shown
    lines.append(f"\n{left} more: run `kflab hint {lab.id}` again." if left else "\nThat was the last hint; the lab page's Summary walks through the solution's ideas.")
    return "\n".join(lines)
