"""`scripts/bench alerts`: lab 3.7's promtool runs on the solution, and the lab's offline checks end to end."""

from __future__ import annotations

import time

import yaml

from kflab import alert_rules, bench, paths, promtool, registry

ROUNDS = 5


def promtool_runs() -> dict:
    """Milliseconds per `promtool check rules` and per scenario (each moment one `promtool test rules`)."""
    lab = registry.get("3.7")
    rule = yaml.safe_load((lab.dir(paths.SOLUTIONS) / "alerts.yaml").read_text())
    checks = lab.checks_module()  # the lab's own scenarios

    promtool.ensure()

    def best_ms(fn) -> float:
        times = []
        for _ in range(ROUNDS):
            start = time.perf_counter()
            assert fn() is None, "the solution should pass"
            times.append((time.perf_counter() - start) * 1000)
        return round(min(times), 1)

    out = {"promtool": promtool.pin()["version"], "check_rules_ms": best_ms(lambda: alert_rules.check(rule))}
    for scenario in (checks.GPU_IDLE, checks.INADMISSIBLE, checks.PREDICTOR_SLOW):
        out[f"scenario_{scenario.alert}_ms"] = best_ms(lambda s=scenario: alert_rules.first_wrong_moment(rule, s))
    return {**out, **bench.lab_offline_checks(lab)}
