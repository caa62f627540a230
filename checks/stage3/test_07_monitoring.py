"""Lab 3.7: alerting rules for GPUs, queues and serving, checked and unit-tested by Prometheus's promtool."""

import pytest

from kflab import alert_rules, manifests, promql, promtool
from kflab.alert_rules import At, Scenario
from kflab.failures import expect, fail

SELECTOR = {"role": "alert-rules"}  # what the lab page's Prometheus object selects
SEVERITY = {"GPUIdle": "warning", "WorkloadsInadmissible": "warning", "PredictorSlow": "critical"}
# prometheus_client's default buckets, which KServe's request_predict_seconds histogram uses.
BUCKETS = ("0.005", "0.01", "0.025", "0.05", "0.075", "0.1", "0.25", "0.5", "0.75", "1.0", "2.5", "5.0", "7.5",
           "10.0", "+Inf")


def dcgm(namespace, pod, gpu, values):
    """One GPU's utilisation series as NVIDIA's DCGM exporter labels it (with Kubernetes pod mapping)."""
    return (f'DCGM_FI_DEV_GPU_UTIL{{gpu="{gpu}",UUID="GPU-{pod}-{gpu}",device="nvidia{gpu}",modelName="NVIDIA H200",'
            f'Hostname="gpu-node-1",namespace="{namespace}",pod="{pod}",container="trainer",'
            f'job="nvidia-dcgm-exporter",instance="10.244.1.7:9400"}}'), values


def kueue(queue, status, values):
    return (f'kueue_pending_workloads{{cluster_queue="{queue}",status="{status}",replica_role="standalone",'
            f'job="kueue-controller-manager",instance="10.244.0.9:8443"}}'), values


def predict_histogram(namespace, model, pod, fast_min, mixed_min):
    """request_predict_seconds for one predictor pod at 60 requests a minute: all fast (~30 ms) for
    `fast_min` minutes, then half fast and half slow (~0.9 s) for `mixed_min` minutes."""
    labels = f'namespace="{namespace}",model_name="{model}",pod="{pod}",job="{namespace}/{model}",instance="{pod}:8080"'
    out = {}
    for le in BUCKETS:
        fast_in, slow_in = (60, 30) if float(le) >= 0.05 else (0, 0)
        slow_in += 30 if float(le) >= 1.0 else 0
        start = fast_in * fast_min + slow_in
        out[f'request_predict_seconds_bucket{{{labels},le="{le}"}}'] = \
            f"0+{fast_in}x{fast_min} {start}+{slow_in}x{mixed_min - 1}" if mixed_min else f"0+{fast_in}x{fast_min}"
    return out


def steady_histogram(namespace, model, pod, seconds, minutes):
    """request_predict_seconds for one predictor pod at 60 requests a minute, each taking `seconds`, for `minutes`."""
    labels = f'namespace="{namespace}",model_name="{model}",pod="{pod}",job="{namespace}/{model}",instance="{pod}:8080"'
    return {f'request_predict_seconds_bucket{{{labels},le="{le}"}}': f"0+{60 if float(le) >= seconds else 0}x{minutes}"
            for le in BUCKETS}


GPU_IDLE = Scenario("GPUIdle", dict([
    dcgm("team-a", "train-idle", 0, "10x60"), dcgm("team-a", "train-idle", 1, "20x60"),
    dcgm("team-a", "train-mixed", 0, "5x60"), dcgm("team-a", "train-mixed", 1, "95x60"),
    dcgm("team-a", "train-busy", 0, "90x60"),
    dcgm("team-b", "notebook-warm", 0, "35x60"),
    dcgm("team-b", "train-blip", 0, "10x14 85x45"),
    dcgm("team-b", "train-light", 0, "25x60"),
]), [
    At("29m", "train-idle's two GPUs have averaged 15%, and train-light's one GPU 25%, for 29 minutes"),
    At("31m", "train-idle's GPUs have averaged 15% and train-light's 25% for 31 minutes; train-mixed's average 50% "
              "(one GPU at 5%), notebook-warm's 35%, and train-blip was idle for its first 15 minutes only",
       [{"namespace": "team-a", "pod": "train-idle"}, {"namespace": "team-b", "pod": "train-light"}]),
])

INADMISSIBLE = Scenario("WorkloadsInadmissible", dict([
    kueue("team-a-gpu", "inadmissible", "2x40"), kueue("team-a-gpu", "active", "3x40"),
    kueue("team-b-cpu", "active", "12x40"), kueue("team-b-cpu", "inadmissible", "1x5 0x34"),
    kueue("team-c-gpu", "inadmissible", "0x40"),
    kueue("team-d-gpu", "inadmissible", "1x40"), kueue("team-d-gpu", "active", "0x40"),
]), [
    At("14m", "team-a-gpu has had 2 inadmissible workloads, and team-d-gpu 1, for 14 minutes"),
    At("16m", "team-a-gpu has had 2 inadmissible workloads and team-d-gpu exactly 1 for 16 minutes; team-b-cpu has 12 "
              "active ones (waiting their turn) and had 1 inadmissible for 5 minutes only; team-c-gpu reports 0",
       [{"cluster_queue": "team-a-gpu"}, {"cluster_queue": "team-d-gpu"}]),
])

PREDICTOR_SLOW = Scenario("PredictorSlow", {
    **predict_histogram("team-a", "cancer-classifier", "cancer-classifier-v1-predictor-1", 180, 20),
    **predict_histogram("team-a", "cancer-classifier", "cancer-classifier-v1-predictor-2", 180, 20),
    **predict_histogram("team-b", "cancer-classifier", "cancer-classifier-predictor-1", 200, 0),
    **steady_histogram("team-c", "ticket-router", "ticket-router-predictor-1", 0.2, 200),
}, [
    At("189m", "after 3 fast hours, half of team-a's cancer-classifier requests have taken ~0.9 s for 9 minutes; "
               "team-c's ticket-router has answered every request in ~0.2 s (p95 ~0.24 s, under 0.5 s) all along"),
    At("193m", "half of team-a's requests have taken ~0.9 s for 13 minutes (its 2 pods alike); team-b's "
               "cancer-classifier stays fast and team-c's ticket-router at ~0.2 s; over all 193 minutes only 3% "
               "of team-a's requests were slow",
       [{"namespace": "team-a", "model_name": "cancer-classifier"}]),
])


@pytest.fixture(scope="module")
def rule(lab):
    return lab.yaml_doc("alerts.yaml", "PrometheusRule")


@pytest.fixture(scope="module")
def accepted(rule):
    """promtool's verdict on the rules: None when it accepts them, else what it said."""
    try:
        return alert_rules.check(rule)
    except promtool.ToolError as exc:
        fail(str(exc))


def behaves(rule, accepted, scenario: Scenario):
    expect(scenario.alert in alert_rules.alerts(rule),
           f"alerts.yaml has no alert named {scenario.alert}. Keep the alert names of the starter.")
    expect(accepted is None, f"promtool cannot load the rules yet, so {scenario.alert} cannot be tried. "
                             f"It says:\n{accepted}\n{alert_rules.advice(accepted or '')}")
    expr = alert_rules.alerts(rule)[scenario.alert].get("expr")
    wrong = promql.quantile_problem(scenario.alert, expr)
    expect(wrong is None, wrong)
    wrong = alert_rules.first_wrong_moment(rule, scenario)
    expect(wrong is None, f"{wrong}\nTo try it yourself, put such series in a promtool test like queue-test.yaml and run "
                          "`kflab promtool test rules` on it.")
    unknown = alert_rules.unknown_labels(rule, scenario)
    expect(unknown is None, unknown)


def test_the_rules_match_the_pinned_prometheusrule_crd(rule):
    """Is alerts.yaml a valid PrometheusRule for the Prometheus Operator's pinned CRD, unknown fields included?"""
    manifests.expect_valid(rule, "alerts.yaml", "PrometheusRule",
                           "Every rule needs `alert` (or `record`) and `expr`; `for` is a duration such as 30m.")


def test_prometheus_selects_the_rules_by_their_label(rule):
    """Does the PrometheusRule carry the label `role: alert-rules`, which the lab's Prometheus selects?"""
    labels = manifests.as_dict(manifests.as_dict(rule.get("metadata")).get("labels"))
    has = ", ".join(f"`{k}: {v}`" for k, v in labels.items()) or "none"
    expect(all(labels.get(k) == v for k, v in SELECTOR.items()),
           f"The PrometheusRule lacks the label `role: alert-rules` (its labels: {has}). Prometheus loads only the "
           "PrometheusRules that its ruleSelector matches: add `role: alert-rules` under metadata.labels.")


def test_promtool_accepts_every_rule(rule, accepted):
    """Does `promtool check rules` accept the spec's groups: YAML, PromQL, durations and annotation templates?"""
    shape = alert_rules.shape_problem(rule)  # else promtool gets an empty rule file, and accepts it
    expect(shape is None, f"alerts.yaml: {shape}")
    expect(accepted is None, f"promtool check rules refused the rules:\n{accepted}\n{alert_rules.advice(accepted or '')}")


def test_each_alert_waits_names_a_severity_and_says_who_is_in_trouble(rule):
    """Do GPUIdle, WorkloadsInadmissible and PredictorSlow each have `for`, a severity and a summary naming a label?"""
    found = alert_rules.problems(rule, SEVERITY)
    expect(not found, "Fix these alerts:\n  - " + "\n  - ".join(found))


def test_gpu_idle_fires_only_for_pods_idle_for_half_an_hour(rule, accepted):
    """Does GPUIdle fire for a pod whose GPUs average under 30% for 30 minutes, and for no other pod?"""
    behaves(rule, accepted, GPU_IDLE)


def test_workloads_inadmissible_fires_only_for_queues_stuck_a_quarter_hour(rule, accepted):
    """Does WorkloadsInadmissible fire per ClusterQueue with inadmissible workloads for 15 minutes, and not for waiting ones?"""
    behaves(rule, accepted, INADMISSIBLE)


def test_predictor_slow_fires_on_the_recent_p95_across_pods(rule, accepted):
    """Does PredictorSlow fire per model when its p95 over 5 minutes, across pods, has been over 0.5 s for 10 minutes?"""
    behaves(rule, accepted, PREDICTOR_SLOW)


@pytest.mark.cluster
def test_the_rules_pass_a_server_side_dry_run(rule, cluster, namespace):
    """Does the API server (with the Prometheus Operator's CRD) accept alerts.yaml in a dry run?"""
    reason = cluster.dry_run(rule, namespace)
    expect(reason is None, f"The API server refused alerts.yaml: {reason}. Fix the field it names and run the check again.")
