"""Lab 3.6: a custom predictor on the real KServe model server, and an InferenceService with a canary (KServe v0.20.0)."""

import pytest

from kflab import manifests, serving
from kflab import inference_services as isvcs
from kflab.failures import expect

MODEL = "cancer-classifier"
PREDICT = f"/v1/models/{MODEL}:predict"
BUCKET = "s3://mlpipeline/models/cancer-classifier"  # the object store that KFP installs on Kind
CANARY_SHARE = 30
ROWS = 25


@pytest.fixture(scope="module")
def trained(lab_tmp):
    """The check's own classifier, saved where the predictor is told to look (as KServe's storage initializer would)."""
    model, features = serving.train_classifier(lab_tmp / "model")
    return {"dir": lab_tmp / "model", "model": model, "features": features}


@pytest.fixture(scope="module")
def server(lab, lab_tmp, trained):
    """predictor.py running under kserve.ModelServer on a free localhost port, stopped after the lab's checks."""
    running = serving.start(lab.file("predictor.py"), MODEL, trained["dir"], lab_tmp / "server",
                            shown=lab.shown(lab.dir / "predictor.py"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def isvc(lab):
    return lab.yaml_doc("inferenceservice.yaml", "InferenceService")


@pytest.fixture(scope="module")
def promoted(lab):
    return lab.yaml_doc("promoted.yaml", "InferenceService")


def instances(features, rows=slice(0, ROWS)) -> list[dict]:
    return features.iloc[rows].to_dict("records")


def described(predictor: dict) -> str:
    """What a predictor is named and serves, in words."""
    name, uri = predictor.get("name"), isvcs.model(predictor).get("storageUri")
    return (f"is named {name!r}" if name else "has no name") + (f" and serves {uri}" if uri else " and no storageUri")


def said_share(percent) -> str:
    return "sets no trafficPercent" if percent is None else f"gets trafficPercent {percent!r}"


def test_predictor_reports_the_model_ready(server):
    """Does the model server list the model as ready on KServe's v1 status endpoint?"""
    reply = server.request(f"/v1/models/{MODEL}")
    expect(reply.status == 200 and (reply.body or {}).get("ready") is True,
           f"GET /v1/models/{MODEL} answered {reply.status}: {reply.text[:200]}. Set self.ready = True at the end of load().")


def test_predictions_are_the_saved_models_own(server, trained):
    """Do the v1 predictions for 25 rows equal what the model in --model_dir predicts for them?"""
    reply = server.request(PREDICT, {"instances": instances(trained["features"])})
    expect(reply.status == 200, f"POST {PREDICT} answered {reply.status}: {reply.text[:300]}. Fix what the server "
                                f"logged (below), or run predictor.py yourself and curl it.\n{server.last_error()}")
    got = (reply.body or {}).get("predictions")
    want = trained["model"].predict(trained["features"].iloc[:ROWS]).tolist()
    expect(isinstance(got, list) and len(got) == ROWS,
           f'The reply should be {{"predictions": [...]}} with one class per instance ({ROWS}); it was {reply.text[:200]}.')
    wrong = sum(g != w for g, w in zip(got, want))
    expect(not wrong, f"{wrong} of {ROWS} predictions differ from those of the model in --model_dir. Load that "
                      "model.joblib (do not train one of your own) and pass the features in the order it was fitted on.")


def test_incomplete_instances_get_a_400_that_names_the_missing_feature(server, trained):
    """Is an instance without `mean area` refused as the client's error (400), with the feature named?"""
    bad = instances(trained["features"], slice(0, 2))
    del bad[1]["mean area"]
    reply = server.request(PREDICT, {"instances": bad})
    expect(reply.status == 400,
           f"An instance without 'mean area' got HTTP {reply.status}, not 400. Check each instance for every name in "
           "self.features and raise kserve.errors.InvalidInput (a 400) before the model sees it; other errors are 500s.")
    expect("mean area" in reply.text, f"The 400 says {reply.text[:200]!r}; name the missing feature, so the caller "
                                      "knows what to send.")


def test_inference_services_match_the_pinned_kserve_crd(isvc, promoted):
    """Are both files valid against KServe v0.20.0's InferenceService CRD, unknown fields included?"""
    for name, obj in (("inferenceservice.yaml", isvc), ("promoted.yaml", promoted)):
        found = str(manifests.problems(obj))
        knative = any(f in found for f in ("'traffic'", "revisionName"))
        unnamed = "predictor.model: 'name' is a required property" in found
        manifests.expect_valid(obj, name, "InferenceService", "Fix those fields." + (
            " `spec.traffic` and `revisionName` belong to Knative Serving, not KServe: a canary is a "
            "`spec.canary[]` entry with its own predictor and `trafficPercent`." if knative else "") + (
            " A canary's `model:` needs a container name: `name: kserve-container`, the one KServe gives it anyway."
            if unnamed else ""))


def test_every_predictor_serves_an_sklearn_model_from_storage(isvc, promoted):
    """Does each predictor use `model.modelFormat: sklearn` with an s3:// storageUri, not a framework shortcut?"""
    preds = [("inferenceservice.yaml predictor", isvcs.predictor(isvc)), ("promoted.yaml predictor", isvcs.predictor(promoted))]
    preds += [(f"inferenceservice.yaml canary {i}", manifests.as_dict(c.get("predictor"))) for i, c in enumerate(isvcs.canaries(isvc))]
    for where, pred in preds:
        model, shortcut = isvcs.model(pred), isvcs.shortcuts(pred)
        expect(not shortcut, f"The {where} uses the framework shortcut `{shortcut[0] if shortcut else ''}:`"
               + (" beside `model:`. KServe's defaulter then replaces `model` with the shortcut, and the model block's "
                  "settings are lost" if "model" in pred else "")
               + ". Describe the model only under `model:`, with `modelFormat.name: sklearn` and its storageUri.")
        expect(manifests.as_dict(model.get("modelFormat")).get("name") == "sklearn",
               f"The {where} has no `model.modelFormat.name: sklearn`. Describe the model by its format and let KServe "
               "pick the runtime (`predictor.sklearn` is the older shortcut).")
        expect(str(model.get("storageUri", "")).startswith(f"{BUCKET}/"),
               f"The {where} serves {model.get('storageUri')!r}; point storageUri at the model's folder in the "
               f"cluster's object store, {BUCKET}/VERSION.")


def test_canary_passes_kserves_admission_rules(isvc):
    """Would KServe's webhook admit the canary: Standard mode, a named canary, fixed replicas, traffic within 100%?"""
    listed = manifests.as_dict(isvc.get("spec")).get("canary")
    expect(not isinstance(listed, dict), "spec.canary is a mapping, but KServe takes a list of canaries: start its "
                                         "entry with `- predictor:` (and put `trafficPercent` beside it).")
    expect(isvcs.canaries(isvc), "inferenceservice.yaml has no spec.canary. Add one entry whose predictor is v2.")
    found = isvcs.canary_problems(isvc)
    expect(not found, "KServe would refuse this InferenceService:\n  - " + "\n  - ".join(found))


def test_v2_is_a_canary_with_a_30_percent_share_beside_v1(isvc):
    """Does a canary named v2 serve the v2 model with trafficPercent 30 beside the stable v1?"""
    stable, entries = isvcs.predictor(isvc), isvcs.canaries(isvc)
    expect(stable.get("name") == "v1" and str(isvcs.model(stable).get("storageUri", "")).endswith("/v1"),
           f"The stable predictor (spec.predictor) should be named v1 and serve {BUCKET}/v1; it {described(stable)}. "
           "Set its `name: v1` (its Deployment is then cancer-classifier-v1-predictor) and its model's storageUri.")
    expect(len(entries) == 1, f"spec.canary has {len(entries)} entries; the A/B test has one: v2.")
    pred = manifests.as_dict(entries[0].get("predictor"))
    expect(pred.get("name") == "v2" and str(isvcs.model(pred).get("storageUri", "")).endswith("/v2"),
           f"The canary's predictor should be named v2 and serve {BUCKET}/v2; it {described(pred)}. Set both.")
    expect(entries[0].get("trafficPercent") == CANARY_SHARE,
           f"The canary {said_share(entries[0].get('trafficPercent'))}. Set `trafficPercent: {CANARY_SHARE}`: the "
           f"tutorial's test gives v2 {CANARY_SHARE}% (in Standard mode that sizes v2's pods), and v1 keeps the rest "
           "without being told.")


def test_promotion_hands_the_stable_slot_to_the_canary(isvc, promoted):
    """Is promoted.yaml the same service with predictor v2 serving the canary's model, and no canary left?"""
    expect(promoted.get("metadata", {}).get("name") == isvc.get("metadata", {}).get("name"),
           "promoted.yaml must update the same InferenceService (same metadata.name), not create a new one.")
    expect(not isvcs.canaries(promoted), "promoted.yaml still has a canary. Promotion removes the entry.")
    entries = isvcs.canaries(isvc)
    expect(entries, "promoted.yaml promotes inferenceservice.yaml's canary, and that file has none yet. Add the canary first.")
    canary, stable = manifests.as_dict(entries[0].get("predictor")), isvcs.predictor(promoted)
    expect(stable.get("name") == canary.get("name"),
           f"promoted.yaml's predictor is named {stable.get('name')!r}, not the canary's {canary.get('name')!r}. "
           "Taking the canary's name keeps its Deployment, so the promotion restarts nothing.")
    expect(isvcs.model(stable).get("storageUri") == isvcs.model(canary).get("storageUri"),
           f"promoted.yaml serves {isvcs.model(stable).get('storageUri')!r}, not the canary's model "
           f"{isvcs.model(canary).get('storageUri')!r}.")
    expect(isvcs.mode(promoted) == isvcs.STANDARD, "promoted.yaml lost the Standard-mode annotation. Keep it, so that "
                                                   "the file states its mode whatever the cluster's default is.")


@pytest.mark.cluster
def test_both_files_pass_a_server_side_dry_run(lab, cluster, namespace):
    """Does the API server (with KServe's CRD) accept inferenceservice.yaml and promoted.yaml, and their predictors' pods, in a dry run?"""
    for name in ("inferenceservice.yaml", "promoted.yaml"):
        isvc = lab.yaml_doc(name, "InferenceService")
        reason = cluster.dry_run(isvc, namespace)
        expect(reason is None, f"The API server refused {name}: {reason}. Fix the field it names and run the check again.")
        # KServe turns each predictor's model into a container; the pod must meet the API server's own rules.
        preds = [("predictor", isvcs.predictor(isvc))]
        preds += [(f"canary {i}", manifests.as_dict(c.get("predictor"))) for i, c in enumerate(isvcs.canaries(isvc))]
        for where, pred in preds:
            model = isvcs.model(pred)
            container = {"name": "kserve-container", "image": "kserve/sklearnserver",
                         **{k: model[k] for k in ("resources", "env", "args") if model.get(k) is not None}}
            reason = cluster.dry_run_pod({"containers": [container]}, namespace, "predictor")
            expect(reason is None, f"The API server would refuse the pods of {name}'s {where}: {reason}. "
                                   "Fix what it names in its model's resources, env or args.")
