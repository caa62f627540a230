"""Lab 3.5's "Going further" steps, checked against a real Kueue.

- Preemption: a `production` Job that does not fit evicts an `experiment` one.
- Lab 3.2's jobs in the queue: Kueue's TrainJob integration (and its PyTorchJob
  one, once enabled) suspends the job and sizes one Workload for all of its pods.
  The 16-GPU job never fits the team's 4-GPU queue, so it waits with Kueue's
  reason; the same job on one pod of 4 GPUs is admitted and unsuspended.

Runs where a Kubernetes API with Kueue and Trainer's torch-distributed runtime
answers (the CI control plane, or Kind with `trainer` and `kueue`); skips
elsewhere, and fails under KFLAB_REQUIRE_CLUSTER=1.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import pytest

from kflab import paths, registry
from kflab.k8s import ApiRefusal, condition
from kflab.k8s_files import unique_names
from kflab.learner import LabTarget

pytestmark = pytest.mark.cluster  # uses the plugin's `cluster` fixture; tests/conftest.py: no skip in CI

KUEUE = "kueue.x-k8s.io/v1beta2"
TRAINER = "trainer.kubeflow.org/v1alpha1"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
PRIORITY_LABEL = "kueue.x-k8s.io/priority-class"
GPU = "nvidia.com/gpu"
CLUSTER_SCOPED = ("ResourceFlavor", "ClusterQueue", "Cohort", "WorkloadPriorityClass")
WAIT_S = 30


@pytest.fixture(scope="module")
def trainer_runtime(cluster) -> None:
    """Kueue sizes a TrainJob's workload from its runtime: skip where the cluster has none."""
    try:
        cluster.get(TRAINER, "ClusterTrainingRuntime", "torch-distributed")
    except Exception as exc:  # no Trainer CRDs, or no runtime: either way nothing to queue
        pytest.skip(f"this cluster has no torch-distributed ClusterTrainingRuntime ({exc}); "
                    "install Trainer with `scripts/cluster up` (Kind) or use `scripts/controlplane up`")


def _solution_docs(lab_id: str, name: str) -> list[dict]:
    return LabTarget(registry.get(lab_id), paths.SOLUTIONS).yaml_docs(name)


@dataclass
class Queues:
    namespace: str
    local_queue: str
    names: dict[str, str]  # solution name -> the name used in this test


@pytest.fixture
def queue(cluster):
    """Lab 3.5's solution queues in a namespace of their own, fresh for each test.

    Cluster-wide names get the namespace's suffix, so runs never share quota.
    """
    ns = cluster.new_namespace("kflab-kueue-further")
    docs, names = unique_names(_solution_docs("3.5", "queues.yaml"), CLUSTER_SCOPED, ns.rsplit("-", 1)[-1])
    created = []
    for doc in docs:
        created.append(cluster.into_namespace(doc, ns))
        cluster.create(created[-1], ns)
    yield Queues(ns, next(d["metadata"]["name"] for d in docs if d["kind"] == "LocalQueue"), names)
    cluster.delete("v1", "Namespace", ns)
    for obj in reversed(created):
        if obj["kind"] in CLUSTER_SCOPED:
            cluster.delete(obj["apiVersion"], obj["kind"], obj["metadata"]["name"])


def _trainjob_on_one_node(job: dict) -> None:
    job["spec"]["trainer"]["numNodes"] = 1


def _pytorchjob_master_only(job: dict) -> None:
    del job["spec"]["pytorchReplicaSpecs"]["Worker"]


# kind: (apiVersion, lab 3.2's file, where the job keeps `suspend`, how to shrink it to 4 GPUs)
JOBS = {
    "TrainJob": (TRAINER, "trainjob.yaml", ("spec",), _trainjob_on_one_node),
    "PyTorchJob": ("kubeflow.org/v1", "pytorchjob.yaml", ("spec", "runPolicy"), _pytorchjob_master_only),
}


def _labelled(job: dict, queue: Queues, name: str, priority: str | None = None) -> dict:
    """`job` renamed and labelled for the test's LocalQueue (and priority class)."""
    job = copy.deepcopy(job)
    job["metadata"]["name"] = name
    labels = job["metadata"].setdefault("labels", {})
    labels[QUEUE_LABEL] = queue.local_queue
    if priority:
        labels[PRIORITY_LABEL] = queue.names[priority]
    else:
        labels.pop(PRIORITY_LABEL, None)
    return job


def _workload_of(w: dict, name: str) -> bool:
    return any(r.get("name") == name for r in w["metadata"].get("ownerReferences", []))


def _submit(cluster, queue, job: dict) -> dict:
    """Create `job`; return its Workload once Kueue has admitted it or held it on quota."""
    kind, name = job["kind"], job["metadata"]["name"]
    try:
        cluster.create(job, queue.namespace)
    except ApiRefusal as exc:
        pytest.fail(f"the API server or Kueue's webhook refused {kind} {name}: {exc.reason}")

    def decided(w) -> bool:
        conds = {c["type"]: c["status"] for c in (w.get("status") or {}).get("conditions") or []}
        return _workload_of(w, name) and (conds.get("Admitted") == "True" or conds.get("QuotaReserved") == "False")

    try:
        return cluster.wait(KUEUE, "Workload", None, queue.namespace, predicate=decided, timeout_s=WAIT_S,
                            what=f"Kueue to admit or hold {kind} {name}")
    except TimeoutError:
        pytest.fail(f"Kueue decided nothing about {kind} {name} within {WAIT_S}s. Is its integration "
                    "among Kueue's integrations.frameworks?")


def _training_job(kind: str, queue, name: str, shrink: bool = False) -> dict:
    """Lab 3.2's solution job of `kind`, labelled for the queue, optionally cut to one pod."""
    _, file, _, shrink_it = JOBS[kind]
    job = _labelled(next(d for d in _solution_docs("3.2", file) if d["kind"] == kind), queue, name)
    if shrink:
        shrink_it(job)
    return job


def _suspended(cluster, queue, kind: str, name: str) -> bool | None:
    api_version, _, where, _ = JOBS[kind]
    value = cluster.get(api_version, kind, name, queue.namespace).to_dict()
    for key in where:
        value = value.get(key) or {}
    return value.get("suspend")


@pytest.mark.parametrize("kind", JOBS)
def test_the_16_gpu_job_is_one_workload_that_waits_for_quota(request, cluster, queue, kind):
    if kind == "TrainJob":
        request.getfixturevalue("trainer_runtime")
    name = f"{kind.lower()}-16"
    workload = _submit(cluster, queue, _training_job(kind, queue, name))
    requests = [r["resources"] for r in workload["status"].get("resourceRequests", [])]
    gpus = sum(int(r.get(GPU, 0)) for r in requests)
    assert gpus == 16, f"all 4 pods x 4 GPUs belong to one workload, so it asks for 16 GPUs; got {requests}"
    held = condition(workload, "QuotaReserved")
    assert held.get("status") == "False" and "insufficient quota" in held.get("message", ""), (
        f"the job is over the ClusterQueue's quota and must wait with Kueue's reason, got {held}")
    assert _suspended(cluster, queue, kind, name) is True, f"a waiting {kind} stays suspended"


@pytest.mark.parametrize("kind", JOBS)
def test_the_same_job_on_one_pod_is_admitted_and_unsuspended(request, cluster, queue, kind):
    if kind == "TrainJob":
        request.getfixturevalue("trainer_runtime")
    name = f"{kind.lower()}-4"
    workload = _submit(cluster, queue, _training_job(kind, queue, name, shrink=True))
    assert condition(workload, "Admitted").get("status") == "True", (
        f"one pod of 4 GPUs fits the queue's 4 GPUs and should be admitted, got {workload['status'].get('conditions')}")
    flavors = workload["status"]["admission"]["podSetAssignments"][0]["flavors"]
    assert flavors[GPU].startswith("gpu-nodes-"), f"the GPUs should come from the GPU flavor, got {flavors}"
    assert cluster.eventually(lambda: _suspended(cluster, queue, kind, name) is False), (
        f"Kueue unsuspends an admitted {kind}")


def test_a_production_job_that_does_not_fit_evicts_an_experiment(cluster, queue):
    job = next(d for d in _solution_docs("3.5", "jobs.yaml") if d["kind"] == "Job")
    experiment = _submit(cluster, queue, _labelled(job, queue, "experiment", "experiment"))
    assert condition(experiment, "Admitted").get("status") == "True", (
        f"the experiment (3 of 4 GPUs) should be admitted first, got {experiment['status'].get('conditions')}")
    _submit(cluster, queue, _labelled(job, queue, "production", "production"))

    def evicted(w) -> bool:
        return _workload_of(w, "experiment") and condition(w, "Evicted").get("status") == "True"

    def admitted(w) -> bool:
        return _workload_of(w, "production") and condition(w, "Admitted").get("status") == "True"

    try:
        gone = cluster.wait(KUEUE, "Workload", None, queue.namespace, predicate=evicted, timeout_s=WAIT_S, what="Evicted")
        cluster.wait(KUEUE, "Workload", None, queue.namespace, predicate=admitted, timeout_s=WAIT_S, what="Admitted")
    except TimeoutError as exc:
        pytest.fail(f"withinClusterQueue: LowerPriority should evict the experiment for the production job: {exc}")
    assert condition(gone, "Evicted").get("reason") == "Preempted", f"evicted for preemption, got {condition(gone, 'Evicted')}"
