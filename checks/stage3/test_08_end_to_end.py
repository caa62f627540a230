"""Lab 3.8 (capstone): a pipeline that trains, gates on accuracy, and deploys its model with KServe."""

import json
from pathlib import Path

import joblib
import pytest
import yaml

from kflab import kfp_local, kserve_runtime, manifests
from kflab import inference_services as isvcs
from kflab.failures import expect, fail
from kflab.k8s import ApiRefusal
from kflab.kfp_ir import PipelineIR
from kflab.rbac import subject_problems

MIN_ACCURACY = 0.95
MODEL_FILES = kserve_runtime.MODEL_FILES
ROWS = 25
ARGS = {"model_name": "cancer-classifier", "namespace": "models"}
MINIO_URI = "minio://mlpipeline/v2/artifacts/train-gate-deploy/run-1/train-model/5b0c7e1e/model"
RUNNER = "system:serviceaccount:kubeflow:pipeline-runner"
RUNNER_GROUPS = ("system:serviceaccounts", "system:serviceaccounts:kubeflow", "system:authenticated")
APPLY_VERBS = ("get", "create", "patch")
KSERVE = ("serving.kserve.io", "inferenceservices")


@pytest.fixture(scope="module")
def module(lab):
    return lab.module("pipeline.py")


@pytest.fixture(scope="module")
def pipeline(lab, module):
    return lab.attr(module, "train_and_deploy", "pipeline")


@pytest.fixture(scope="module")
def ir(pipeline, lab_tmp):
    return PipelineIR.of(pipeline, lab_tmp)


def _run(pipeline, arguments: dict, doing: str) -> kfp_local.LocalRun:
    return kfp_local.run(pipeline, {**ARGS, **arguments}, doing=doing)


@pytest.fixture(scope="module")
def local_run(pipeline, lab_tmp):
    """The learner's pipeline, run once with its defaults (deploy stays false)."""
    kfp_local.init(lab_tmp / "local")
    return _run(pipeline, {}, "running train_and_deploy with its defaults")


@pytest.fixture(scope="module")
def manifest(local_run) -> dict:
    """The InferenceService that build-inference-service wrote in the default run."""
    expect("build-inference-service" in local_run.tasks,
           f"build-inference-service did not run, although the model reached {local_run.output!r}. "
           "Gate it on `trained.outputs[\"Output\"] >= min_accuracy`, not on something stricter.")
    record = local_run.artifact("build-inference-service", "manifest")
    expect(record is not None, "build-inference-service wrote no `manifest` artifact. Declare `manifest: Output[Artifact]`.")
    path = Path(record["uri"])
    expect(path.is_file(), f"build-inference-service wrote nothing to manifest.path ({path.name}). "
                           "Open manifest.path for writing and dump the InferenceService into it.")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        fail(f"The manifest is neither JSON nor YAML ({str(exc).splitlines()[0]}). Write it with json.dump.")
    expect(isinstance(doc, dict), f"The manifest holds {doc!r:.60}, not one object. json.dump the InferenceService dict.")
    return doc


def _gate(ir: PipelineIR, task: str, *needles: str) -> str | None:
    """The condition of an enclosing dsl.If that mentions every needle, if any."""
    return next((c for c in ir.conditions(task) if all(n in c for n in needles)), None)


def test_train_model_saves_a_model_folder_kserve_can_load(local_run):
    """Is the model artifact a folder holding one model.joblib that loads and scores well?"""
    record = local_run.artifact("train-model", "model")
    expect(record is not None, "train-model wrote no `model` artifact. Declare `model: Output[Model]`.")
    folder = Path(record["uri"])
    expect(folder.is_dir(), "The model artifact is a single file. KServe downloads storageUri into /mnt/models and looks "
                            "for model.joblib inside: `os.makedirs(model.path)` and save to model.path/model.joblib.")
    found = sorted(p.name for p in folder.iterdir() if p.is_file() and p.name.endswith(MODEL_FILES))
    expect(found == ["model.joblib"], f"The model folder holds {found or 'no model file'}; KServe's sklearn runtime "
                                      "needs exactly one, and the lab names it model.joblib.")
    from sklearn.datasets import load_breast_cancer

    features, target = load_breast_cancer(return_X_y=True, as_frame=True)
    accuracy = joblib.load(folder / "model.joblib").score(features, target)
    expect(accuracy >= MIN_ACCURACY, f"The saved model scores {accuracy:.3f} on the whole table, below {MIN_ACCURACY}. "
                                     "Save the fitted pipeline (scaler and classifier), not a fresh one.")


def test_build_step_writes_an_inference_service_kserve_accepts(manifest):
    """Does the manifest pass KServe's CRD strictly, in Standard mode, with model.modelFormat sklearn?"""
    manifests.expect_valid(manifest, "The built InferenceService", "InferenceService CRD",
                           "Fix build_inference_service's dict.")
    meta = manifest.get("metadata") or {}
    expect((meta.get("name"), meta.get("namespace")) == (ARGS["model_name"], ARGS["namespace"]),
           f"The manifest names {meta.get('name')!r} in {meta.get('namespace')!r}; take both from the component's "
           "`name` and `namespace` inputs, so the pipeline's parameters decide.")
    expect(isvcs.mode(manifest) == isvcs.STANDARD, f"Add the annotation `{isvcs.MODE_ANNOTATION}: {isvcs.STANDARD}`, "
                                                   "so the service does not depend on the cluster's default mode.")
    pred = isvcs.predictor(manifest)
    expect((isvcs.model(pred).get("modelFormat") or {}).get("name") == "sklearn",
           "Describe the model as predictor.model with modelFormat {name: sklearn}, not the `sklearn:` shortcut.")
    expect(pred.get("serviceAccountName"), "The predictor names no serviceAccountName; KServe finds the S3 keys "
                                           "through it (the models-reader of lab 3.6).")


def test_inference_service_serves_the_model_the_pipeline_trained(local_run, manifest):
    """Does storageUri point at the folder that train-model wrote in this run?"""
    uri = isvcs.model(isvcs.predictor(manifest)).get("storageUri", "")
    model = local_run.artifact("train-model", "model") or {}
    expect(uri.rstrip("/") == str(model.get("uri", "")).rstrip("/"),
           f"storageUri is {uri!r}, not the model artifact of this run ({model.get('uri')!r}). Build it from model.uri.")


@pytest.fixture(scope="module")
def served(manifest, lab_tmp):
    """The built InferenceService's model, fetched by KServe's storage initializer and served by its sklearn runtime."""
    uri = isvcs.model(isvcs.predictor(manifest)).get("storageUri") or ""
    expect(uri, "The built InferenceService has no predictor.model.storageUri to serve from.")
    server = kserve_runtime.serve(uri, ARGS["model_name"], lab_tmp / "predictor")
    yield server
    server.stop()


def test_kserve_sklearn_runtime_serves_the_model_and_predicts_like_it(served, local_run):
    """Does KServe's own sklearn runtime, given the built storageUri, answer v1 predict exactly as the model does?"""
    from sklearn.datasets import load_breast_cancer

    rows = load_breast_cancer(as_frame=True).data.head(ROWS)
    reply = served.request(f"/v1/models/{ARGS['model_name']}:predict", {"instances": rows.values.tolist()})
    expect(reply.status == 200, f"The sklearn runtime answered {reply.status}: {reply.text[:200]}. "
                                "The model must accept the 30 features of the table, in order.")
    folder = Path((local_run.artifact("train-model", "model") or {}).get("uri", ""))
    wanted = [int(v) for v in joblib.load(folder / "model.joblib").predict(rows)]
    expect((reply.body or {}).get("predictions") == wanted,
           f"The runtime predicted {(reply.body or {}).get('predictions')}, the model itself {wanted}: the "
           "InferenceService does not serve the model this run trained.")


def test_storage_uri_maps_kfp_minio_uris_to_s3(lab, module, tmp_path):
    """Given a model at minio://..., as on a cluster, does the InferenceService read it from s3://...?"""
    from kfp import dsl

    component = lab.attr(module, "build_inference_service", "component")
    out = dsl.Artifact(name="manifest")
    out.path = str(tmp_path / "manifest")
    with lab.code("calling build_inference_service with a model stored at minio://"):
        component.python_func(model=dsl.Model(name="model", uri=MINIO_URI), manifest=out,
                              name=ARGS["model_name"], namespace=ARGS["namespace"])
    doc = yaml.safe_load(Path(out.path).read_text(encoding="utf-8")) if Path(out.path).is_file() else {}
    uri = isvcs.model(isvcs.predictor(doc or {})).get("storageUri") or isvcs.predictor(doc or {}).get("sklearn", {}).get("storageUri")
    wanted = "s3://" + MINIO_URI.removeprefix("minio://")
    expect(uri is not None and uri.rstrip("/") == wanted,
           f"For a model at {MINIO_URI} the storageUri is {uri!r}. KServe has no minio:// scheme: it is S3, so "
           f"write {wanted}/ (the slash keeps sibling keys out).")


def test_deploy_steps_run_only_when_the_model_is_good_enough(ir, local_run, pipeline):
    """Is building gated on accuracy >= min_accuracy, and does a too-high gate skip it in a real local run?"""
    tasks = ir.tasks()
    expect("build-inference-service" in tasks, "The pipeline never calls build_inference_service.")
    gate = _gate(ir, "build-inference-service", "train-model-Output", "min_accuracy")
    expect(gate is not None,  # which way it compares, the two local runs show
           "build-inference-service runs whatever the accuracy. Put it inside "
           "`with dsl.If(trained.outputs[\"Output\"] >= min_accuracy):`.")
    strict = _run(pipeline, {"min_accuracy": 1.01}, "running train_and_deploy with min_accuracy=1.01")
    expect("build-inference-service" not in strict.tasks,
           "With min_accuracy=1.01 build-inference-service still ran. The gate must skip it when the model falls short.")


def test_apply_step_runs_kubectl_apply_on_the_manifest_when_asked(ir):
    """Is apply-manifest an uncached container component running `kubectl apply -f` on the built manifest, gated on deploy?"""
    expect("apply-manifest" in ir.tasks(), "The pipeline never calls apply_manifest.")
    container = ir.executor("apply-manifest")
    words = list(container.get("command", [])) + list(container.get("args", []))
    expect("ephemeral_component" not in json.dumps(container),
           "apply_manifest is a Python component. Make it `@dsl.container_component` returning a dsl.ContainerSpec "
           "that runs kubectl.")
    expect(words[:3] and words[0].rsplit("/", 1)[-1] == "kubectl" and words[1:3] == ["apply", "-f"],
           f"apply-manifest runs {' '.join(words)!r}. Run `kubectl apply -f` on the manifest: command "
           "[\"/bin/kubectl\", \"apply\", \"-f\"], args [manifest.path].")
    expect("{{$.inputs.artifacts['manifest'].path}}" in words,
           "kubectl is not given the manifest's path. Pass `args=[manifest.path]`.")
    source = ir.tasks()["apply-manifest"].get("inputs", {}).get("artifacts", {}).get("manifest", {})
    expect(source, "apply-manifest's manifest does not come from a task. Pass `built.outputs[\"manifest\"]`.")
    expect(not ir.tasks()["apply-manifest"].get("cachingOptions", {}).get("enableCache"),
           "apply-manifest may be served from KFP's cache, so a second deploy would never run kubectl. Call "
           "`.set_caching_options(False)` on that task.")
    gate = _gate(ir, "apply-manifest", "pipelinechannel--deploy")
    expect(gate is not None and "== true" in gate,
           "apply-manifest does not wait for `deploy`. Nest it in `with dsl.If(deploy == True):`, so that only a run "
           "that asks for it touches the cluster.")


@pytest.fixture(scope="module")
def rbac(lab) -> dict:
    return {kind: lab.yaml_doc("rbac.yaml", kind) for kind in ("Role", "RoleBinding")}


def test_rbac_lets_the_pipeline_runner_apply_inference_services_and_nothing_more(rbac):
    """Does the Role, in the models' namespace, allow get, create and patch on inferenceservices only, bound to kubeflow's pipeline-runner?"""
    for kind, doc in rbac.items():
        manifests.expect_valid(doc, f"The {kind} in rbac.yaml", f"Kubernetes {manifests.KUBERNETES} {kind}",
                               "Fix those fields and run the check again.")
        got = manifests.as_dict(doc.get("metadata")).get("namespace")
        expect(got == ARGS["namespace"],
               f"The {kind} in rbac.yaml is in namespace {got or '(none: kubectl would use its default)'}, but the "
               f"pipeline deploys to {ARGS['namespace']!r}, and a Role grants only in its own namespace. "
               f"Set its metadata.namespace to {ARGS['namespace']}.")
    grants = {(g, r, v) for rule in manifests.as_list(rbac["Role"].get("rules"))
              for g in manifests.as_list(manifests.as_dict(rule).get("apiGroups"))
              for r in manifests.as_list(manifests.as_dict(rule).get("resources"))
              for v in manifests.as_list(manifests.as_dict(rule).get("verbs"))}
    expect(not any("*" in grant for grant in grants), "The Role grants `*`, so the pipeline could delete or read anything in the namespace. "
                     "Name the group, the resource and the verbs.")
    missing = [v for v in APPLY_VERBS if (*KSERVE, v) not in grants]
    expect(not missing, f"The Role does not allow {', '.join(missing)} on inferenceservices in serving.kserve.io; "
                        "kubectl apply needs get, create and patch.")
    extra = sorted(f"{v} {r}" for g, r, v in grants if (g, r) != KSERVE or v not in APPLY_VERBS)
    expect(not extra, f"The Role also allows {', '.join(extra)}. The apply step needs only get, create and patch "
                      "on inferenceservices: leave the rest out.")
    binding = rbac["RoleBinding"]
    refused = subject_problems(binding)
    expect(not refused, f"The API server would refuse the RoleBinding: {refused[0] if refused else ''}.")
    ref = manifests.as_dict(binding.get("roleRef"))
    expect((ref.get("kind"), ref.get("name")) == ("Role", rbac["Role"]["metadata"].get("name")),
           "The RoleBinding's roleRef does not name the Role in this file.")
    subjects = [(s.get("kind"), s.get("name"), s.get("namespace")) for s in map(manifests.as_dict, manifests.as_list(binding.get("subjects")))]
    expect(("ServiceAccount", "pipeline-runner", "kubeflow") in subjects,
           f"The RoleBinding binds {', '.join(f'{k} {ns}/{n}' for k, n, ns in subjects) or 'no subject'}. KFP runs tasks as the ServiceAccount pipeline-runner in namespace "
           "kubeflow: the subject names that namespace, not the binding's.")


@pytest.mark.cluster
def test_api_server_lets_the_pipeline_runner_apply_but_not_delete(cluster, namespace, rbac):
    """Do SubjectAccessReviews agree: pipeline-runner may get/create/patch InferenceServices here, not delete them?"""
    try:  # in the check's namespace; the subject keeps its own, kubeflow
        cluster.apply_all(list(rbac.values()), namespace, file="rbac.yaml")
    except ApiRefusal as exc:
        fail(f"The API server refused rbac.yaml: {exc.reason}. Fix that object and run the check again.")

    def allowed(verb, group=KSERVE[0], resource=KSERVE[1], where=namespace):
        return cluster.can(where, verb, resource, group, user=RUNNER, groups=RUNNER_GROUPS)

    cluster.eventually(lambda: any(allowed(v) for v in APPLY_VERBS), timeout_s=10)  # the authorizer's cache
    for verb in APPLY_VERBS:
        expect(allowed(verb), f"The API server says {RUNNER} may not {verb} inferenceservices in the namespace. "
                              "Check that the Role grants it and that the RoleBinding's roleRef names that Role and "
                              "its subject is the ServiceAccount pipeline-runner in namespace kubeflow.")
    expect(not allowed("delete"), "pipeline-runner may delete InferenceServices. Grant get, create and patch only.")
    expect(not allowed("get", "", "secrets"), "pipeline-runner may read Secrets in the namespace. Grant inferenceservices only.")


@pytest.mark.cluster
def test_built_inference_service_passes_a_server_side_dry_run(cluster, namespace, manifest):
    """Does the API server (KServe's CRD and webhooks) accept the manifest the pipeline built?"""
    reason = cluster.dry_run(manifest, namespace)
    expect(reason is None, f"The API server refused the InferenceService the pipeline built: {reason}. "
                           "Fix build_inference_service.")
