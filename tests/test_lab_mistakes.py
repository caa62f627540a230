"""Likely mistakes in stages 1 and 3 fail the checkpoint that owns them, with its sentence.

(Stage 2's Python mistakes are in test_learner_mistakes.py.)

Each case takes a lab's solution, makes one mistake a learner makes (most found by walking
through the labs as a learner), and runs the lab's offline checks. The mistake must fail
the named checkpoint with the named words, and must not crash the harness: a checkpoint
passes or fails with a sentence, never errors.
"""

import re
import shutil

import pytest

from kflab import checkrun, paths, registry


def _swap(old: str, new: str, count: int = 1):
    def mutate(text: str) -> str:
        assert old in text, f"the solution no longer contains {old!r}; update this case"
        return text.replace(old, new, count)
    return mutate


CRASH = "The check could not finish"  # what the plugin records when a check raised something other than a sentence

# id: (lab, file, mutation, failing checkpoint, words its message must hold, or a tuple of alternatives)
MISTAKES = {
    "1.1 UI port open to the network": (
        "1.1", "kind-config.yaml", _swap('    listenAddress: "127.0.0.1"  # not reachable from your network\n', ""),
        "test_pipelines_ui_port_is_published_to_this_machine_only", 'listenAddress: "127.0.0.1"'),
    "1.1 quoted hostPort": (
        "1.1", "kind-config.yaml", _swap("hostPort: 8080 ", 'hostPort: "8080"'),
        "test_pipelines_ui_port_is_published_to_this_machine_only", "not a port number"),
    "1.1 labels as a string": (
        "1.1", "kind-config.yaml", _swap('  labels:\n    nvidia.com/gpu.present: "true"', "  labels: nvidia.com/gpu.present=true"),
        "test_a_worker_carries_the_gpu_node_label", "is not a mapping"),
    "1.3 claim as a string": (
        "1.3", "notebook-server.yaml", _swap("persistentVolumeClaim:\n          claimName: scipy-workspace",
                                             "persistentVolumeClaim: scipy-workspace"),
        "test_workspace_claim_is_mounted_at_home_jovyan", "No volume of the Notebook refers to the claim"),
    "1.3 Katib label set to true": (
        "1.3", "notebook-server.yaml", _swap("metrics-collector-injection: enabled", 'metrics-collector-injection: "true"'),
        "test_namespace_enables_katib_metrics_collector_injection", "exactly `enabled`"),
    "1.3 CPU written with a made-up unit": (
        "1.3", "notebook-server.yaml", _swap("cpu: 500m", "cpu: 0.5cores"),
        "test_every_object_passes_its_upstream_schema", "'0.5cores' is not a Kubernetes quantity; write 500m or 0.5"),
    "3.1 accuracy printed as a percent": (
        "3.1", "train.py", _swap("accuracy={accuracy:.4f} samples_per_sec", "accuracy={accuracy:.1%} samples_per_sec"),
        "test_training_converges_past_85_percent_accuracy", "not a fraction between 0 and 1"),
    "3.1 every rank saves the checkpoint": (
        "3.1", "train.py", _swap("            save_checkpoint(ckpt, epoch, model, opt)", "        save_checkpoint(ckpt, epoch, model, opt)"),
        # The ranks race for one temporary file: the run crashes, or (when the race goes well) both write.
        "test_only_rank_0_writes_the_checkpoint", ("Call save_checkpoint only on rank 0", "all wrote checkpoints")),
    "3.2 GPUs under requests only": (
        "3.2", "trainjob.yaml", _swap("      limits:\n        nvidia.com/gpu: 4\n        memory: 32Gi\n      requests:\n",
                                      "      limits:\n        memory: 32Gi\n      requests:\n        nvidia.com/gpu: 4\n"),
        "test_every_pod_has_four_gpus_one_per_process", "requests only"),
    "3.2 TrainJob with the Training Operator's apiVersion": (
        "3.2", "trainjob.yaml", _swap("apiVersion: trainer.kubeflow.org/v1alpha1", "apiVersion: kubeflow.org/v1"),
        "test_trainjob_matches_the_pinned_trainer_crd",
        "TrainJob's apiVersion is trainer.kubeflow.org/v1alpha1; kubeflow.org/v1 is for"),
    "3.3 primary container named unlike the container": (
        "3.3", "experiment.yaml", _swap("primaryContainerName: training-container", "primaryContainerName: trainer"),
        "test_search_space_tunes_lr_batch_size_and_one_more", "trialSpec has no container named 'trainer'"),
    "3.4 lowercase subject kind": (
        "3.4", "tenancy.yaml", _swap("- kind: Group", "- kind: group"),
        "test_file_holds_valid_rbac_quota_and_limit_range_objects", "case-sensitive"),
    "3.4 engineers read Secrets": (
        "3.4", "tenancy.yaml", _swap('resources: ["pods", "pods/log", "events"]', 'resources: ["pods", "pods/log", "events", "secrets"]'),
        "test_only_the_runner_reads_a_secret_and_only_its_own", "Role ml-engineer grants access to secrets"),
    "3.4 eight GPUs in the quota": (
        "3.4", "tenancy.yaml", _swap('requests.nvidia.com/gpu: "4"', 'requests.nvidia.com/gpu: "8"'),
        "test_quota_caps_gpus_pods_and_training_jobs", "requests.nvidia.com/gpu is '8'"),
    "3.4 five CPUs by default": (
        "3.4", "tenancy.yaml", _swap("cpu: 500m", "cpu: 5"),
        "test_limit_range_defaults_container_requests", "cpu 5"),
    "3.4 empty rules": (
        "3.4", "tenancy.yaml", lambda text: re.sub(r"(name: ml-engineer\nrules:\n)(.*?)(?=---)", r"\1  # to do\n", text,
                                                   count=1, flags=re.S),
        None, None),
    "3.5 NoExecute toleration": (
        "3.5", "queues.yaml", _swap("effect: NoSchedule", "effect: NoExecute"),
        "test_cluster_queue_gives_gpus_their_own_flavor", "does not match the GPU nodes' taint"),
    "3.5 Job without labels": (
        "3.5", "jobs.yaml", _swap("    kueue.x-k8s.io/queue-name: team-a", "    # kueue.x-k8s.io/queue-name: team-a"),
        "test_job_is_queued_suspended_with_a_priority_and_gpu_limits", "has no kueue.x-k8s.io/queue-name label"),
    "3.5 GPUs under requests only": (
        "3.5", "jobs.yaml", _swap("              memory: 16Gi\n            limits:\n              cpu: \"4\"\n              memory: 16Gi\n"
                                  "              nvidia.com/gpu: 3",
                                  "              memory: 16Gi\n              nvidia.com/gpu: 3\n            limits:\n"
                                  "              cpu: \"4\"\n              memory: 16Gi"),
        "test_job_is_queued_suspended_with_a_priority_and_gpu_limits",
        "requests nvidia.com/gpu but sets no limit; Kubernetes takes GPUs only from limits. Move `nvidia.com/gpu: 3`"),
    "3.6 Knative traffic block": (
        "3.6", "inferenceservice.yaml", _swap("spec:\n", "spec:\n  traffic:\n  - percent: 30\n    revisionName: v2\n"),
        "test_inference_services_match_the_pinned_kserve_crd", "belong to Knative Serving"),
    "3.7 `for` without a unit": (
        # promtool names no rule and says it twice; the check says it once, with the rule and what to write.
        "3.7", "alerts.yaml", _swap("for: 30m", "for: 30"), "test_promtool_accepts_every_rule",
        '"GPUIdle", field `for`: not a valid duration string: "30"\nFix the rule it names (`for` needs a unit'),
    "3.7 p95 summed without le": (
        "3.7", "alerts.yaml", _swap("sum by (namespace, model_name, le)", "sum by (namespace, model_name)"),
        "test_predictor_slow_fires_on_the_recent_p95_across_pods", "Keep `le` in the `sum by (...)` inside histogram_quantile"),
    "3.8 RBAC in the wrong namespace": (
        "3.8", "rbac.yaml", _swap("namespace: models", "namespace: kubeflow", 2),
        "test_rbac_lets_the_pipeline_runner_apply_inference_services_and_nothing_more", "grants only in its own namespace"),
}


def _broken(tmp_path, lab_id: str, file: str, mutate) -> registry.Lab:
    """The lab's solution copied under tmp_path (shaped like labs/), with one file changed by `mutate`."""
    lab = registry.get(lab_id)
    folder = lab.dir(tmp_path)
    shutil.copytree(lab.dir(paths.SOLUTIONS), folder)
    (folder / file).write_text(mutate((folder / file).read_text()))
    return lab


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_a_mistake_fails_its_own_checkpoint_with_a_sentence(tmp_path, mistake):
    lab_id, file, mutate, check, says = MISTAKES[mistake]
    lab = _broken(tmp_path, lab_id, file, mutate)
    only = ["-k", check] if check else []  # the whole lab when the case is only about not crashing
    result = checkrun.collect_results([lab], str(tmp_path), extra=["-m", "offline", *only])
    checks = result["labs"][lab_id]["checks"]
    errors = {name: c["message"] for name, c in checks.items() if c["message"].startswith(CRASH)}
    assert not errors, f"{mistake}: the harness must not crash on this mistake, but these errored: {errors}"
    if check is None:
        return
    failed = {name.rsplit("::", 1)[-1]: c["message"] for name, c in checks.items() if c["outcome"] == "failed"}
    assert check in failed, f"{mistake} must fail {check}; failed: {sorted(failed) or 'nothing'}"
    said = says if isinstance(says, tuple) else (says,)
    assert any(s in failed[check] for s in said), f"{mistake}: {check} should say {' or '.join(said)!r}, but says {failed[check]!r}"


def _prepend(text: str):
    return lambda body: text + body


NAMESPACE_DOC = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n---\n"
CLUSTER_ROLE_DOC = ("---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: nodes-for-alice\n"
                    "rules:\n  - apiGroups: [\"\"]\n    resources: [\"nodes\"]\n    verbs: [\"get\", \"list\"]\n")

# Mistakes that only the cluster (its API server, Kueue or object store) sees: the cluster tier must name them,
# and create nothing that lasts.
CLUSTER_MISTAKES = {
    "1.2 Parquet written with pandas, not through fs.open": (
        # A local OUTPUT_URL hides it: root is then a real folder. On S3, root is "mlpipeline/...", a relative local path.
        "1.2", "prepare.ipynb", _swap('with fs.open(f\\"{root}/trips_clean.parquet\\", \\"wb\\") as fh:\\n",\n    "    df.to_parquet(fh, index=False)',
                                      'df.to_parquet(f\\"{root}/trips_clean.parquet\\", index=False)'),
        "test_parquet_lands_in_the_mlpipeline_bucket", "write every output through `fs.open(...)`"),
    "1.3 request above its limit": (
        "1.3", "notebook-server.yaml", _swap("cpu: 500m", 'cpu: "4"'),
        "test_server_accepts_every_object_in_a_dry_run", "must be less than or equal to cpu limit"),
    "3.2 memory request above its limit": (
        "3.2", "trainjob.yaml", _swap('        cpu: "8"\n        memory: 32Gi', '        cpu: "8"\n        memory: 64Gi'),
        "test_manifest_passes_a_server_side_dry_run[TrainJob]", "must be less than or equal to memory limit"),
    "3.3 trial Job that restarts Always": (
        "3.3", "experiment.yaml", _swap("restartPolicy: Never", "restartPolicy: Always"),
        "test_experiment_passes_a_server_side_dry_run", "restartPolicy"),
    "3.4 a ClusterRole in the tenancy file": (
        "3.4", "tenancy.yaml", lambda body: body + CLUSTER_ROLE_DOC,
        "test_api_server_enforces_the_access_policy", "cluster-wide"),
    "3.5 a Namespace in the queues file": (
        "3.5", "queues.yaml", _prepend(NAMESPACE_DOC), "test_job_within_quota_is_admitted", "cluster-wide"),
    "3.5 a Job larger than the quota": (
        "3.5", "jobs.yaml", _swap("nvidia.com/gpu: 3", "nvidia.com/gpu: 5"),
        "test_job_within_quota_is_admitted", "Kueue says: couldn't assign flavors"),
    "3.6 a predictor request above its limit": (
        "3.6", "promoted.yaml", _swap("requests: {cpu: 100m, memory: 256Mi}", 'requests: {cpu: "2", memory: 256Mi}'),
        "test_both_files_pass_a_server_side_dry_run", "must be less than or equal to cpu limit"),
}


@pytest.mark.cluster
@pytest.mark.parametrize("mistake", sorted(CLUSTER_MISTAKES))
def test_a_mistake_only_the_api_server_sees_fails_the_cluster_tier_with_a_sentence(tmp_path, cluster, mistake):
    lab_id, file, mutate, check, says = CLUSTER_MISTAKES[mistake]
    lab = _broken(tmp_path, lab_id, file, mutate)
    before = {ns.metadata.name for ns in cluster.resource("v1", "Namespace").get().items}
    result = checkrun.collect_results([lab], str(tmp_path), extra=["-m", "cluster", "-k", check.split("[")[0]])
    checks = {name.rsplit("::", 1)[-1]: c for name, c in result["labs"][lab_id]["checks"].items()}
    if checks.get(check, {}).get("outcome") == "skipped":  # a prerequisite of its own, such as lab 1.2's S3 endpoint
        pytest.skip(f"{check} was skipped: {checks[check]['message']}")
    assert check in checks and checks[check]["outcome"] == "failed", f"{mistake} must fail {check}; got {checks}"
    message = checks[check]["message"]
    assert says in message and not message.startswith(CRASH), f"{mistake}: {check} should say {says!r}, but says {message!r}"
    after = {ns.metadata.name for ns in cluster.resource("v1", "Namespace").get().items}
    assert "team-a" not in after - before, f"{mistake}: a namespace from the learner's file outlived the check"
