"""Lab 3.7's harness: rule files from PrometheusRules, promtool's install, and mistakes that the scenarios catch."""

import copy
import http.server
import io
import tarfile
import threading

import pytest
import yaml

from kflab import alert_rules, cli, paths, promtool, registry

lab = registry.get("3.7").checks_module()  # the lab's own scenarios

SOLUTION = paths.SOLUTIONS / "stage3" / "07_monitoring" / "alerts.yaml"
SCENARIOS = {s.alert: s for s in (lab.GPU_IDLE, lab.INADMISSIBLE, lab.PREDICTOR_SLOW)}


@pytest.fixture(scope="module")
def solution():
    return yaml.safe_load(SOLUTION.read_text())


def changed(rule: dict, alert: str, **fields) -> dict:
    rule = copy.deepcopy(rule)
    for group in rule["spec"]["groups"]:
        for r in group["rules"]:
            if r["alert"] == alert:
                r.update(fields)
    return rule


def test_a_rule_file_keeps_the_groups_and_drops_what_only_thanos_reads(solution):
    rule = copy.deepcopy(solution)
    rule["spec"]["groups"][0]["partial_response_strategy"] = "warn"
    text = yaml.safe_load(alert_rules.rule_file(rule, annotations=False))
    assert [g["name"] for g in text["groups"]] == ["kubeflow.gpu", "kubeflow.queues", "kubeflow.serving"]
    assert "partial_response_strategy" not in text["groups"][0], "promtool refuses Thanos-only group fields"
    assert all("annotations" not in r for g in text["groups"] for r in g["rules"]), "annotations=False drops them"
    assert "annotations" in yaml.safe_load(alert_rules.rule_file(rule))["groups"][0]["rules"][0]


def test_the_solution_behaves_in_every_scenario(solution):
    assert alert_rules.check(solution) is None, "promtool should accept the solution's rules"
    for scenario in SCENARIOS.values():
        assert alert_rules.first_wrong_moment(solution, scenario) is None, f"the solution's {scenario.alert} misbehaves"


MISTAKES = [  # (alert, changed fields, words the failure must contain)
    ("GPUIdle", {"expr": "DCGM_FI_DEV_GPU_UTIL < 30"}, 'gpu="0"'),
    ("GPUIdle", {"expr": "min by (namespace, pod) (DCGM_FI_DEV_GPU_UTIL) < 30"}, 'pod="train-mixed"'),
    ("GPUIdle", {"expr": "avg by (namespace, pod) (DCGM_FI_DEV_GPU_UTIL) < 40"}, 'pod="notebook-warm"'),
    ("GPUIdle", {"for": "10m"}, "should not fire yet"),
    ("GPUIdle", {"for": "1h"}, "did not fire"),
    ("WorkloadsInadmissible", {"expr": 'kueue_pending_workloads{status="inadmissible"} > 0'}, 'replica_role="standalone"'),
    ("WorkloadsInadmissible", {"expr": "sum by (cluster_queue) (kueue_pending_workloads) > 0"}, 'cluster_queue="team-b-cpu"'),
    ("WorkloadsInadmissible", {"expr": 'sum by (cluster_queue) (kueue_pending_workloads{status="inadmissible"})'},
     'cluster_queue="team-c-gpu"'),
    ("WorkloadsInadmissible", {"for": "5m"}, "should not fire yet"),
    ("PredictorSlow", {"expr": "histogram_quantile(0.95, sum by (namespace, model_name, le) "
                               "(request_predict_seconds_bucket)) > 0.5"}, "did not fire"),
    ("PredictorSlow", {"expr": "histogram_quantile(0.95, rate(request_predict_seconds_bucket[5m])) > 0.5"}, 'pod="'),
    ("PredictorSlow", {"expr": "sum by (namespace, model_name) (rate(request_predict_seconds_sum[5m])) / sum by "
                               "(namespace, model_name) (rate(request_predict_seconds_count[5m])) > 0.5"}, "did not fire"),
    ("PredictorSlow", {"expr": "histogram_quantile(0.5, sum by (namespace, model_name, le) "
                               "(rate(request_predict_seconds_bucket[5m]))) > 0.5"}, "did not fire"),
    ("PredictorSlow", {"expr": "histogram_quantile(0.95, sum by (model_name, le) "
                               "(rate(request_predict_seconds_bucket[5m]))) > 0.5"}, '{model_name="cancer-classifier"'),
    ("PredictorSlow", {"for": "5m"}, "should not fire yet"),
    # Thresholds: each scenario has a series between the right value and a wrong one.
    ("GPUIdle", {"expr": "avg by (namespace, pod) (DCGM_FI_DEV_GPU_UTIL) < 20"}, 'pod="train-light"} only'),
    ("WorkloadsInadmissible", {"expr": 'sum by (cluster_queue) (kueue_pending_workloads{status="inadmissible"}) > 1'},
     'cluster_queue="team-d-gpu"} only'),
    ("PredictorSlow", {"expr": "histogram_quantile(0.95, sum by (namespace, model_name, le) "
                               "(rate(request_predict_seconds_bucket[5m]))) > 0.05"}, 'model_name="ticket-router"'),
]


@pytest.mark.parametrize("alert,fields,words", MISTAKES, ids=[f"{a}-{i}" for i, (a, _, _) in enumerate(MISTAKES)])
def test_a_common_mistake_fails_its_scenario_and_the_message_shows_why(solution, alert, fields, words):
    wrong = alert_rules.first_wrong_moment(changed(solution, alert, **fields), SCENARIOS[alert])
    assert wrong is not None, f"{alert} with {fields} should misbehave in its scenario"
    assert words in wrong, f"the failure should show {words!r}; it was:\n{wrong}"


def test_unparsable_promql_is_reported_by_group_and_alert_without_temp_paths(solution):
    said = alert_rules.check(changed(solution, "GPUIdle", expr="avg by (pod (DCGM_FI_DEV_GPU_UTIL)"))
    assert said and 'group "kubeflow.gpu", rule 1, "GPUIdle"' in said and "parse error" in said, said
    assert alert_rules.RULES_FILE not in said and "FAILED" not in said, f"promtool's file and banner should go: {said}"


def test_the_rule_problems_name_each_missing_piece(solution):
    rule = changed(solution, "GPUIdle", labels={"severity": "page"}, annotations={"summary": "GPUs idle"})
    del [g for g in rule["spec"]["groups"] if g["name"] == "kubeflow.queues"][0]["rules"][0]["for"]
    found = alert_rules.problems(rule, {**lab.SEVERITY, "Missing": "info"})
    assert any("'page', not 'warning'" in p for p in found), found
    assert any("GPUIdle's annotations name no label" in p for p in found), found
    assert any("WorkloadsInadmissible has no `for:`" in p for p in found), found
    assert any("no alert named Missing" in p for p in found), found
    assert alert_rules.problems(solution, lab.SEVERITY) == []


def test_release_urls_follow_prometheus_archive_names():
    v = promtool.pin()["version"].lstrip("v")
    assert promtool.release_url("Linux", "x86_64").endswith(f"/v{v}/prometheus-{v}.linux-amd64.tar.gz")
    assert promtool.release_url("Darwin", "arm64").endswith(f"prometheus-{v}.darwin-arm64.tar.gz")
    assert promtool.release_url("Linux", "aarch64").endswith("linux-arm64.tar.gz")


def _serve(files: dict[str, bytes]):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = files.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def _archive(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_without_go_promtool_comes_from_the_release_archive(tmp_path, monkeypatch):
    monkeypatch.setenv("KFLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(promtool.shutil, "which", lambda name: None)  # no go here
    script = b"#!/bin/sh\necho promtool from the archive\n"
    server, base = _serve({"/good.tar.gz": _archive({"prometheus-x/prometheus": b"", "prometheus-x/promtool": script}),
                           "/empty.tar.gz": _archive({"prometheus-x/LICENSE": b""})})
    try:
        with pytest.raises(promtool.ToolError, match=r"holds no promtool.*python -m kflab.promtool"):
            promtool.ensure(f"{base}/empty.tar.gz")
        with pytest.raises(promtool.ToolError, match="404"):
            promtool.ensure(f"{base}/missing.tar.gz")
        path = promtool.ensure(f"{base}/good.tar.gz")
        assert path == promtool.binary() and path.read_bytes() == script and path.stat().st_mode & 0o111
        assert promtool.run(["--version"], tmp_path) == (0, "promtool from the archive")
    finally:
        server.shutdown()


def test_kflab_rules_writes_the_rule_file_and_reports_bad_input_in_a_sentence(tmp_path, capsys):
    out = tmp_path / "out" / "rules.yaml"
    assert cli.main(["rules", str(SOLUTION), "-o", str(out), "--no-annotations"]) == 0
    assert "promtool accepts 3 alerts" in capsys.readouterr().out
    assert "annotations" not in out.read_text() and "GPUIdle" in out.read_text()
    starter = paths.LABS / "stage3" / "07_monitoring" / "alerts.yaml"
    assert cli.main(["rules", str(starter), "-o", str(out)]) == 1, "promtool refuses the starter: exit 1"
    assert "field 'expr' must be set" in capsys.readouterr().out
    (tmp_path / "bad.yaml").write_text("kind: PrometheusRule\n  spec: [\n")
    for name, words in (("bad.yaml", "is not valid YAML on line 2"), ("missing.yaml", "cannot read")):
        assert cli.main(["rules", str(tmp_path / name), "-o", str(out)]) == 1
        err = capsys.readouterr().err
        assert err.startswith("kflab rules: ") and words in err and "Traceback" not in err, err


HEAD = "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata: {name: x}\n"


@pytest.mark.parametrize("text, words", [
    (HEAD + "spec: {groups: [\n", "is not valid YAML on line 5: expected the node content"),  # the reader of kflab tune
    (HEAD + "spec: oops\n", "spec is str 'oops', but a PrometheusRule needs spec.groups"),
    (HEAD + "spec:\n  groups: oops\n", "spec.groups is str 'oops', but a PrometheusRule needs spec.groups"),
    (HEAD + "spec: {}\n", "spec.groups is missing, but a PrometheusRule needs spec.groups"),
    (HEAD + "spec:\n  groups: [oops]\n", "spec.groups[0] is 'oops', but each group needs a `name` and a list of `rules`"),
    (HEAD + "spec:\n  groups: [{name: a, rules: []}]\n", "spec.groups holds no rules"),
    ("kind: PrometheusRule\nmetadata: {name: caf\u00e9}\n", "is not UTF-8 text"),
])
def test_kflab_rules_refuses_a_rule_without_groups_of_rules_in_a_sentence(tmp_path, capsys, text, words):
    source = tmp_path / "alerts.yaml"
    source.write_bytes(text.encode("latin-1"))
    assert cli.main(["rules", str(source), "-o", str(tmp_path / "rules.yaml")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("kflab rules: ") and words in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err


def test_promtools_line_numbers_say_which_file_and_which_rule_they_point_at(solution, tmp_path, capsys):
    rule = changed(solution, "WorkloadsInadmissible", **{"for": ["15m"]})
    rule = changed(rule, "GPUIdle", expr="avg by (namespace, pod (DCGM_FI_DEV_GPU_UTIL) < 30")
    source, out = tmp_path / "alerts.yaml", tmp_path / "local_outputs" / "rules.yaml"
    source.write_text(yaml.safe_dump(rule, sort_keys=False))
    assert cli.main(["rules", str(source), "-o", str(out)]) == 1
    said = capsys.readouterr().out
    assert '(group "kubeflow.queues", rule 1, "WorkloadsInadmissible", field `for`): cannot unmarshal' in said, said
    assert f"Line numbers above count lines of {out}" in said and f"not lines of {source}" in said, said
    said = alert_rules.check(rule)
    assert 'rule 1, "WorkloadsInadmissible", field `for`' in said and "writes to local_outputs/rules.yaml" in said, said
    said = alert_rules.check(changed(solution, "GPUIdle", expr="avg by (namespace, pod (DCGM_FI_DEV_GPU_UTIL) < 30"))
    assert "could not parse expression (line 1, column 24 of its expr)" in said, said


def test_the_registry_names_promtool_as_lab_37s_tool_and_refuses_unknown_tools():
    assert registry.get("3.7").tools == ("promtool",)
    raw = {"id": "9.9", "slug": "x", "stage": 9, "title": "x", "hints": ["x"], "points": 1, "tiers": ["offline"],
           "docs": "x.md", "tools": ["promtol"]}
    with pytest.raises(registry.RegistryError, match=r"unknown tools \['promtol'\]"):
        registry._lab(raw)


def test_the_grader_stops_with_a_sentence_when_a_labs_tool_cannot_be_installed(tmp_path, monkeypatch):
    from kflab.grading import grader

    def no_network():
        raise promtool.ToolError("no network")

    monkeypatch.setattr(promtool, "ensure", no_network)
    (tmp_path / "subs" / "ana").mkdir(parents=True)
    with pytest.raises(grader.GradingError, match=r"the checks of 3.7 need promtool, which is not installed: no network"):
        grader.grade(tmp_path / "subs", [registry.get("3.7")], out=tmp_path / "grades", show_progress=False)


def test_a_promtool_run_that_hangs_becomes_a_sentence(tmp_path, monkeypatch):
    hang = tmp_path / "promtool"
    hang.write_text("#!/bin/sh\nsleep 30\n")
    hang.chmod(0o755)
    monkeypatch.setattr(promtool, "ensure", lambda: hang)
    code, said = promtool.run(["test", "rules", "t.yaml"], tmp_path, timeout_s=0.5)
    assert code == 124 and "did not finish within 0.5 s" in said, said


@pytest.mark.parametrize("api_version,kind,words", [
    ("monitoring.coreos.com/v1", "PrometheusRule", "`scripts/cluster install prometheus-operator` adds Prometheus Operator. "
                                                   "It comes with the full profile"),
    ("serving.kserve.io/v1beta1", "InferenceService", "`scripts/cluster install kserve` adds KServe."),
    ("kubeflow.org/v1beta1", "Experiment", "`scripts/cluster install katib` adds Katib."),
    ("kueue.x-k8s.io/v1beta2", "LocalQueue", "`scripts/cluster install kueue` adds Kueue."),
    ("kubeflow.org/v1", "PyTorchJob", "`scripts/cluster install training-operator` adds Training Operator."),
    ("example.com/v1", "Widget", "Install the component that defines it."),
])
def test_a_kind_the_cluster_lacks_is_named_with_the_component_that_brings_it(api_version, kind, words):
    from kflab.k8s import not_served

    said = not_served(api_version, kind)
    assert said.startswith(f"the cluster does not serve {kind} ({api_version})") and words in said, said
    assert "full profile" not in not_served("kueue.x-k8s.io/v1beta2", "LocalQueue"), "Kueue is in the lite profile"


@pytest.mark.cluster
def test_a_dry_run_of_a_kind_the_cluster_lacks_is_a_sentence_not_a_traceback(cluster):
    # The control plane installs only PrometheusRule of the Prometheus Operator's CRDs.
    said = cluster.dry_run({"apiVersion": "monitoring.coreos.com/v1", "kind": "ThanosRuler",
                            "metadata": {"name": "x", "namespace": "monitoring"}}, "default")
    assert said and "does not serve ThanosRuler" in said and "scripts/cluster install prometheus-operator" in said, said
