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
# Two mistakes are seen twice: the granted delete by the cluster tier too (where a cluster is up), and
# the model saved as a file by KServe's own storage initializer and runtime too.
CLUSTER_TWIN = "test_api_server_lets_the_pipeline_runner_apply_but_not_delete"
RUNTIME_TWIN = "test_kserve_sklearn_runtime_serves_the_model_and_predicts_like_it"
# An apply step outside the deploy gate stops the local run itself.
UNGATED = {"pipeline.py": [('        with dsl.If(deploy == True, name="deploy-requested"):  # noqa: E712 (KFP builds the condition from ==)\n', "        if True:\n")]}
UNGATED_SAYS = "reached task 'apply-manifest'"
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
    stray = set(failed) - set(SAYS) - {CLUSTER_TWIN, RUNTIME_TWIN}
    assert not stray, f"checkpoints failed that no mistake was aimed at: {sorted(stray)}"
    assert "storage initializer" in failed.get(RUNTIME_TWIN, ""), \
        f"a model saved as a file should fail to be served, naming KServe's storage initializer: {failed.get(RUNTIME_TWIN)!r}"
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


def test_the_runtime_sources_come_unpacked_from_the_pinned_kserve_release_without_tests_or_samples():
    from kflab import kserve_runtime

    src = kserve_runtime.ensure()
    files = {p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file() and p.name != ".complete"}
    for needed in ("python/sklearnserver/sklearnserver/model.py", "python/storage/kserve_storage/kserve_storage.py",
                   "python/storage-initializer/scripts/initializer-entrypoint"):
        assert needed in files, f"{needed} should be unpacked from KServe's module zip"
    assert not [f for f in files if "example_models" in f or "/test_" in f], "tests and sample models stay in the zip"


def test_a_model_file_without_a_known_extension_fails_fast_naming_what_was_staged(tmp_path):
    from kflab import kserve_runtime
    from kflab.failures import CheckFailure

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "model").write_bytes(b"not a folder")  # what `joblib.dump(clf, model.path)` leaves
    with pytest.raises(CheckFailure) as err:
        kserve_runtime.serve(str(tmp_path / "out" / "model"), "m", tmp_path / "work")
    assert "put ['model'] in /mnt/models" in str(err.value) and "model.joblib" in str(err.value), str(err.value)


def test_the_initializer_error_is_its_message_without_the_log_prefix():
    from kflab import kserve_runtime

    log = ("2026-11-29 07:49:45.684 1 storage.initializer INFO [x:<module>():17] Initializing\n"
           "2026-11-29 07:49:45.685 1 storage.initializer ERROR [x:<module>():31] Cannot recognize storage type for /m/\n"
           "'gs://' and 's3://' are the current available storage type.")
    assert kserve_runtime._error(log) == ("Cannot recognize storage type for /m/ 'gs://' and 's3://' are the current "
                                          "available storage type.")
