"""Lab 3.8's likely mistakes each fail the checkpoint that is about them, with a sentence that names the fix."""

import shutil

import pytest

from kflab import checkrun, paths, registry

LAB = registry.get("3.8")

# Mistakes that leave the local run working, so each is seen by its own checkpoint in one run.
INDEPENDENT = {
    "pipeline.py": [
        ('    os.makedirs(model.path, exist_ok=True)\n    joblib.dump(clf, os.path.join(model.path, "model.joblib"))\n',
         "    joblib.dump(clf, model.path)\n"),
        ('    if uri.startswith("minio://"):', '    if uri.startswith("s3://"):'),
        ("            applied.set_caching_options(False)", "            applied.set_caching_options(True)"),
    ],
    "rbac.yaml": [('verbs: ["get", "create", "patch"]', 'verbs: ["get", "create", "patch", "delete"]')],
}
SAYS = {
    "test_train_model_saves_a_model_folder_kserve_can_load": "The model artifact is a single file",
    "test_storage_uri_maps_kfp_minio_uris_to_s3": "KServe has no minio:// scheme",
    "test_apply_step_runs_kubectl_apply_on_the_manifest_when_asked": "set_caching_options(False)",
    "test_rbac_lets_the_pipeline_runner_apply_inference_services_and_nothing_more": "also allows delete inferenceservices",
}
# The granted delete is also refused by the cluster tier, where a cluster is up.
CLUSTER_TWIN = "test_api_server_lets_the_pipeline_runner_apply_but_not_delete"
# An apply step outside the deploy gate stops the local run itself.
UNGATED = {"pipeline.py": [('        with dsl.If(deploy == True, name="deploy-requested"):  # noqa: E712 (KFP builds the condition from ==)\n', "        if True:\n")]}
UNGATED_SAYS = "a container that kfp.local cannot run"
RBAC_SUBJECT = {"rbac.yaml": [("    namespace: kubeflow ", "    namespace: models ")]}


def _submission(tmp_path, edits: dict) -> str:
    folder = LAB.dir(tmp_path)
    shutil.copytree(LAB.dir(paths.SOLUTIONS), folder)
    for name, pairs in edits.items():
        text = (folder / name).read_text()
        for old, new in pairs:
            assert old in text, f"the solution's {name} no longer contains {old!r}; update this test"
            text = text.replace(old, new)
        (folder / name).write_text(text)
    return str(tmp_path)


def _failed(tmp_path, edits) -> dict[str, str]:
    result = checkrun.collect_results([LAB], _submission(tmp_path, edits))
    checks = result["labs"][LAB.id]["checks"]
    return {name: c["message"] for name, c in checks.items() if c["outcome"] == "failed"}


def test_each_mistake_fails_its_own_checkpoint_and_only_that_one(tmp_path):
    failed = _failed(tmp_path, INDEPENDENT)
    for check, says in SAYS.items():
        assert check in failed, f"{check} should fail when its mistake is made; failed: {sorted(failed)}"
        assert says in failed[check], f"{check} should say {says!r}; it said {failed[check]!r}"
    stray = set(failed) - set(SAYS) - {CLUSTER_TWIN}
    assert not stray, f"checkpoints failed that no mistake was aimed at: {sorted(stray)}"
    assert not any("Traceback" in m or "site-packages" in m for m in failed.values()), f"sentences, not tracebacks: {failed}"


def test_an_ungated_apply_step_is_named_not_shown_as_a_kfp_traceback(tmp_path):
    failed = _failed(tmp_path, UNGATED)
    run_based = [name for name, message in failed.items() if UNGATED_SAYS in message]
    assert len(run_based) >= 4, f"the checks that share the local run should each say {UNGATED_SAYS!r}: {failed}"
    assert all("site-packages" not in m for m in failed.values()), "no library frames in learner-facing messages"


@pytest.mark.parametrize("edits", [RBAC_SUBJECT], ids=["subject in the binding's namespace"])
def test_a_binding_to_the_wrong_service_account_fails_offline(tmp_path, edits):
    failed = _failed(tmp_path, edits)
    check = "test_rbac_lets_the_pipeline_runner_apply_inference_services_and_nothing_more"
    assert check in failed and "pipeline-runner in namespace kubeflow" in failed[check], failed
