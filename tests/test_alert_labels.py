"""An alert's annotations may only name labels that the alert carries when it fires."""

import pytest
import yaml

from kflab import alert_rules, paths, registry

lab = registry.get("3.7").checks_module()  # the lab's own scenarios
SOLUTION = paths.SOLUTIONS / "stage3" / "07_monitoring" / "alerts.yaml"


@pytest.fixture(scope="module")
def solution():
    return yaml.safe_load(SOLUTION.read_text())


def with_summary(rule: dict, alert: str, summary: str) -> dict:
    rule = yaml.safe_load(yaml.safe_dump(rule))
    for group in rule["spec"]["groups"]:
        for r in group["rules"]:
            if r["alert"] == alert:
                r["annotations"]["summary"] = summary
    return rule


def test_the_solutions_annotations_name_only_carried_labels(solution):
    for scenario in (lab.GPU_IDLE, lab.INADMISSIBLE, lab.PREDICTOR_SLOW):
        assert alert_rules.unknown_labels(solution, scenario) is None, f"{scenario.alert} names only labels it carries"


@pytest.mark.parametrize("summary, label", [
    ("GPU {{ $labels.gpu }} is idle", "gpu"),  # `avg by (namespace, pod)` drops gpu
    ('{{ index $labels "Hostname" }} is idle', "Hostname"),
])
def test_a_label_the_alert_drops_is_named_with_what_it_carries(solution, summary, label):
    found = alert_rules.unknown_labels(with_summary(solution, "GPUIdle", summary), lab.GPU_IDLE)
    assert found and f"$labels.{label}," in found and "namespace, pod, severity" in found, found


def test_the_rules_own_labels_and_alertname_count_as_carried(solution):
    rule = with_summary(solution, "GPUIdle", "{{ $labels.alertname }} at {{ $labels.severity }} for {{ $labels.pod }}")
    assert alert_rules.unknown_labels(rule, lab.GPU_IDLE) is None
