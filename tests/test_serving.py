"""Lab 3.6's harness: KServe's canary rules, the pinned CRD's quirk, and the predictor launcher's failures."""

import copy
import textwrap

import pytest
import yaml

from kflab import inference_services as isvcs
from kflab import manifests, paths, serving
from kflab.failures import CheckFailure

SOLUTION = paths.SOLUTIONS / "stage3" / "06_kserve_serving"


@pytest.fixture
def isvc():
    return yaml.safe_load((SOLUTION / "inferenceservice.yaml").read_text())


def canary(isvc) -> dict:
    return isvc["spec"]["canary"][0]["predictor"]


def test_the_solution_passes_the_schema_and_the_webhook_rules(isvc):
    assert manifests.problems(isvc) == [], "the solution's InferenceService should match the pinned CRD"
    assert isvcs.canary_problems(isvc) == [], "the solution's canary should pass the webhook's rules"


def test_the_pinned_crd_requires_a_name_in_a_canarys_model_as_the_page_says(isvc):
    del canary(isvc)["model"]["name"]
    found = manifests.problems(isvc)
    assert any("canary[0].predictor.model" in p and "'name'" in p for p in found), (
        f"the page tells learners that KServe v0.20.0's CRD requires model.name in a canary; the schema said {found}")


def _break(isvc, how: str) -> dict:
    isvc = copy.deepcopy(isvc)
    if how == "legacy mode word":
        isvc["metadata"]["annotations"][isvcs.MODE_ANNOTATION] = "RawDeployment"
    elif how == "no mode":
        del isvc["metadata"]["annotations"]
    elif how == "no stable model":
        del isvc["spec"]["predictor"]["model"]
    elif how == "unnamed canary":
        del canary(isvc)["name"]
    elif how == "canary named like the stable":
        canary(isvc)["name"] = "v1"
    elif how == "two canaries of one name":
        isvc["spec"]["canary"].append(copy.deepcopy(isvc["spec"]["canary"][0]))
    elif how == "autoscaled canary":
        canary(isvc)["maxReplicas"] = 3
    elif how == "canary larger than stable":
        canary(isvc)["minReplicas"] = 4
    elif how == "over 100 percent":
        second = copy.deepcopy(isvc["spec"]["canary"][0])
        second["predictor"]["name"], second["trafficPercent"] = "v3", 80
        isvc["spec"]["canary"].append(second)
    return isvc


@pytest.mark.parametrize("how, words", [
    ("legacy mode word", "old name of Standard mode"), ("no mode", "cluster's default mode"), ("no stable model", "stable predictor"),
    ("unnamed canary", "has no name"), ("canary named like the stable", "stable predictor's name"),
    ("two canaries of one name", "Two canaries"), ("autoscaled canary", "maxReplicas"),
    ("canary larger than stable", "minReplicas 4"), ("over 100 percent", "add up to 110"),
])
def test_each_webhook_rule_names_what_to_change(isvc, how, words):
    found = isvcs.canary_problems(_break(isvc, how))
    assert any(words in p for p in found), f"{how}: expected a problem mentioning {words!r}, got {found}"


def test_rules_that_the_webhook_does_not_have_are_not_invented(isvc):
    canary(isvc)["maxReplicas"] = 0  # the webhook treats 0 as unset
    isvc["spec"]["predictor"].pop("minReplicas")
    canary(isvc)["minReplicas"] = 1  # equal to the stable default of 1
    assert isvcs.canary_problems(isvc) == []
    isvc["spec"].pop("canary")
    isvc["metadata"].pop("annotations")
    assert isvcs.canary_problems(isvc) == [], "without canaries, the mode does not matter"


def _script(tmp_path, body: str):
    path = tmp_path / "predictor.py"
    path.write_text(textwrap.dedent(body))
    return path


def test_a_predictor_that_ends_at_once_is_told_to_start_the_server(tmp_path):
    script = _script(tmp_path, "print('nothing to serve')\n")
    with pytest.raises(CheckFailure, match=r"ended \(exit status 0\) without serving.*ModelServer\(\)\.start"):
        serving.start(script, "m", tmp_path, tmp_path / "run", shown="predictor.py")


def test_a_predictor_that_crashes_shows_its_own_traceback(tmp_path):
    script = _script(tmp_path, """
        def load():
            raise FileNotFoundError("model.joblib")
        load()
    """)
    with pytest.raises(CheckFailure) as info:
        serving.start(script, "m", tmp_path, tmp_path / "run", shown="predictor.py")
    text = str(info.value)
    assert "exit status 1" in text and "FileNotFoundError: model.joblib" in text and "in load" in text, text


def test_a_predictor_that_never_answers_is_stopped_at_the_deadline(tmp_path):
    script = _script(tmp_path, "import time\ntime.sleep(60)\n")
    with pytest.raises(CheckFailure, match="did not report model 'm' ready within 2 s. It never answered"):
        serving.start(script, "m", tmp_path, tmp_path / "run", shown="predictor.py", timeout_s=2)


def test_the_launcher_passes_kserves_own_options(tmp_path):
    """The server is started as a pod would start it: KServe's flags, on ports of its own."""
    script = _script(tmp_path, "import sys, json\nprint(json.dumps(sys.argv[1:]))\n")
    with pytest.raises(CheckFailure):
        serving.start(script, "cancer", tmp_path / "model", tmp_path / "run", shown="predictor.py")
    args = (tmp_path / "run" / "server.log").read_text()
    for flag in ("--model_name=cancer", f"--model_dir={tmp_path / 'model'}", "--http_port=", "--enable_grpc=false"):
        assert flag in args, f"{flag} missing from {args}"


# What KServe's defaulter repairs before its validator looks: the offline rules ask for more on purpose.
REPAIRED_BY_THE_DEFAULTER = {"legacy mode word", "no mode"}


@pytest.fixture(scope="module")
def kserve_namespace(cluster):
    ns = cluster.new_namespace("kflab-kserve-webhooks")
    yield ns
    cluster.delete("v1", "Namespace", ns)


@pytest.mark.cluster
@pytest.mark.parametrize("how", ["none", *REPAIRED_BY_THE_DEFAULTER, "no stable model", "unnamed canary",
                                 "canary named like the stable", "two canaries of one name", "autoscaled canary",
                                 "canary larger than stable", "over 100 percent"])
def test_kserves_own_webhooks_agree_with_the_offline_rules(cluster, kserve_namespace, isvc, how):
    """The control plane runs KServe's defaulter and validator (kserve_webhook.go): same verdicts as canary_problems."""
    broken = _break(isvc, how)
    refused = cluster.dry_run(broken, kserve_namespace)
    if how == "none":
        assert refused is None, f"KServe's webhooks refused the solution: {refused}"
    elif how in REPAIRED_BY_THE_DEFAULTER:
        assert refused is None, (f"{how}: the page says KServe's defaulter repairs this on a Standard-default "
                                 f"cluster, but the apiserver refused it: {refused}")
        assert isvcs.canary_problems(broken), f"{how}: the offline rules should still ask for the annotation"
    else:
        assert refused is not None and "kserve-webhook-server" in refused, (
            f"{how}: the offline rules refuse it, but KServe's webhooks did not ({refused or 'accepted'})")
        assert isvcs.canary_problems(broken), f"{how}: KServe refused it ({refused}), but the offline rules did not"
