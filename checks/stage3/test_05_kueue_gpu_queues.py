"""Lab 3.5: Kueue GPU queues: flavors, a ClusterQueue, a LocalQueue and a queued Job."""

import json

import pytest

from kflab import manifests, trainjobs
from kflab.manifests import as_dict, as_list, name_of
from kflab.controlplane.cluster_setup import GPU_TAINT  # the taint GPU node pools carry (the kwok GPU node too)
from kflab.failures import expect
from kflab.k8s import ApiRefusal, condition
from kflab.k8s_files import foreign_namespaces, unique_names

KUEUE = "kueue.x-k8s.io/v1beta2"
QUEUE_LABEL, PRIORITY_LABEL = "kueue.x-k8s.io/queue-name", "kueue.x-k8s.io/priority-class"
GPU, GPU_LABEL = "nvidia.com/gpu", "nvidia.com/gpu.present"
CLUSTER_SCOPED = ("ResourceFlavor", "ClusterQueue", "Cohort", "WorkloadPriorityClass")
WAIT_S = 20
HOME = "team-a"  # the page applies both files with `kubectl apply -n team-a`


@pytest.fixture(scope="module")
def queues(lab):
    return lab.yaml_docs("queues.yaml")


@pytest.fixture(scope="module")
def job(lab):
    return lab.yaml_doc("jobs.yaml", "Job")


def _of(docs, kind):
    return [d for d in docs if d.get("kind") == kind]


def _names(docs, kind) -> set[str]:
    return {str(n) for n in map(name_of, _of(docs, kind)) if n}


def _gpu_flavor(queues):
    """(ClusterQueue, flavor name, quota) of the flavor that covers GPUs, or Nones."""
    for cq in _of(queues, "ClusterQueue"):
        for group in map(as_dict, as_list(as_dict(cq.get("spec")).get("resourceGroups"))):
            if GPU in as_list(group.get("coveredResources")):
                for flavor in map(as_dict, as_list(group.get("flavors"))):
                    resources = map(as_dict, as_list(flavor.get("resources")))
                    quota = {r.get("name"): r.get("nominalQuota") for r in resources}.get(GPU)
                    return cq, flavor.get("name"), quota
    return None, None, None


def tolerates(toleration: dict, taint: dict) -> bool:
    """Kubernetes' rule: same key (or none, with Exists), same effect (or none), Exists or an equal value."""
    if toleration.get("key") not in (None, "", taint["key"]):
        return False
    if toleration.get("effect") not in (None, "", taint["effect"]):
        return False
    if toleration.get("operator", "Equal") == "Exists":
        return True
    return toleration.get("key") == taint["key"] and str(toleration.get("value", "")) == taint["value"]


def test_files_hold_valid_kueue_objects_and_a_job(queues, job):
    """Do queues.yaml and jobs.yaml hold valid flavors, a ClusterQueue, a LocalQueue, priority classes and a Job?"""
    for kind in ("ResourceFlavor", "ClusterQueue", "LocalQueue", "WorkloadPriorityClass"):
        expect(_of(queues, kind), f"queues.yaml holds no {kind}. Add one as the lab page shows.")
    for doc in [*queues, job]:
        problems = manifests.problems(doc)
        older = str(doc.get("apiVersion", "")).startswith("kueue.x-k8s.io/") and doc.get("apiVersion") != KUEUE
        expect(not problems, f"{doc['kind']} {name_of(doc) or '(no name)'}: {problems[0] if problems else ''}." + (
            f" It says apiVersion {doc.get('apiVersion')}; this lab writes {KUEUE}, the version the pinned Kueue stores, "
            "whose fields the page shows: set apiVersion to that." if older else ""))


def test_cluster_queue_gives_gpus_their_own_flavor(queues):
    """Does a resource group cover nvidia.com/gpu with a flavor bound to GPU nodes, tolerating their taint?"""
    cq, flavor, quota = _gpu_flavor(queues)
    expect(cq is not None, "No ClusterQueue resource group covers nvidia.com/gpu. Add one with a GPU flavor and a nominalQuota.")
    expect(str(quota) == "4", f"The GPU flavor {'has no nominalQuota' if quota is None else f'has nominalQuota {quota}'} for "
                              f"{GPU}; set it to 4, the team's share.")
    spec = next((as_dict(f.get("spec")) for f in _of(queues, "ResourceFlavor") if name_of(f) == flavor), None)
    expect(spec is not None, f"The ClusterQueue names flavor {flavor!r}, but no ResourceFlavor of that name exists.")
    expect(as_dict(spec.get("nodeLabels")).get(GPU_LABEL) == "true",
           f"ResourceFlavor {flavor} does not select GPU nodes. Give it nodeLabels {{{GPU_LABEL}: \"true\"}}.")
    tolerations = [as_dict(t) for t in as_list(spec.get("tolerations"))]
    expect(any(t.get("key") == GPU for t in tolerations),
           f"ResourceFlavor {flavor} does not tolerate the {GPU} taint that GPU nodes carry. Add a toleration.")
    expect(any(tolerates(t, GPU_TAINT) for t in tolerations),
           f"ResourceFlavor {flavor}'s {GPU} toleration does not match the GPU nodes' taint "
           f"`{GPU_TAINT['key']}={GPU_TAINT['value']}:{GPU_TAINT['effect']}`, so its pods would stay Pending. "
           f"Use `operator: Exists` and `effect: {GPU_TAINT['effect']}` (or leave effect out).")


def test_local_queue_feeds_the_cluster_queue(queues, job):
    """Does the LocalQueue point at a ClusterQueue defined in queues.yaml, in the namespace the Job is submitted to?"""
    names = _names(queues, "ClusterQueue")
    lqs = _of(queues, "LocalQueue")
    expect(lqs, "queues.yaml has no LocalQueue. Users submit to a LocalQueue in their namespace; add one.")
    elsewhere = foreign_namespaces([*queues, job], HOME)
    expect(not elsewhere, f"{'; '.join(elsewhere)}. Both files are applied with `kubectl apply -n {HOME}`, which refuses "
                          "an object of another namespace, and a Job finds its LocalQueue only in its own namespace: "
                          "leave metadata.namespace out.")
    target = as_dict(lqs[0].get("spec")).get("clusterQueue")
    expect(target in names, f"LocalQueue {name_of(lqs[0])} {'has no spec.clusterQueue' if target is None else f'points at {target!r}'}. "
                            f"Set spec.clusterQueue to a ClusterQueue of the file ({', '.join(sorted(names)) or 'none yet'}).")


def test_job_is_queued_suspended_with_a_priority_and_gpu_limits(queues, job):
    """Is the Job labelled for the LocalQueue and a priority class, created suspended, and asking for GPUs?"""
    labels = as_dict(as_dict(job.get("metadata")).get("labels"))
    lqs = _names(queues, "LocalQueue")
    expect(QUEUE_LABEL in labels, f"The Job has no {QUEUE_LABEL} label, so Kueue never sees it. Add it under "
                                  "metadata.labels, set to your LocalQueue's name.")
    expect(labels.get(QUEUE_LABEL) in lqs, f"The Job's {QUEUE_LABEL} label is {labels.get(QUEUE_LABEL)!r}; set it to your LocalQueue's name.")
    classes = _names(queues, "WorkloadPriorityClass")
    expect(labels.get(PRIORITY_LABEL) in classes, f"The Job's {PRIORITY_LABEL} label should name one of {sorted(classes) or 'your WorkloadPriorityClasses'}.")
    expect(as_dict(job.get("spec")).get("suspend") is True, "Create the Job with spec.suspend: true; Kueue unsuspends it on admission.")
    pod = as_dict(as_dict(as_dict(job.get("spec")).get("template")).get("spec"))
    containers = [as_dict(c) for c in as_list(pod.get("containers"))] or [{}]
    resources = as_dict(containers[0].get("resources"))
    requested = as_dict(resources.get("requests")).get(GPU)
    expect(not trainjobs.gpus_only_requested(resources),
           f"The container requests {GPU} but sets no limit; Kubernetes takes GPUs only from limits. "
           f"Move `{GPU}: {requested}` under resources.limits.")
    expect(GPU in as_dict(resources.get("limits")),
           f"The Job's container sets no {GPU} limit, so it never asks the GPU flavor for anything. Add "
           f"`{GPU}: 3` under resources.limits.")


@pytest.fixture(scope="module")
def admission(cluster, lab, queues, job):
    """Queues applied, the Job submitted twice: what Kueue decided for each copy."""
    broken = manifests.first_problem([*queues, job])
    expect(broken is None, f"queues.yaml or jobs.yaml does not pass its schema yet ({broken}). Fix that first: "
                           "the cluster checks apply the files as they are.")
    cluster.expect_namespaced([*queues, job], "queues.yaml or jobs.yaml", renamed=CLUSTER_SCOPED)
    ns = cluster.new_namespace(f"kflab-{lab.id.replace('.', '-')}")
    suffix = ns.rsplit("-", 1)[-1]
    objs, _ = unique_names([*queues, job], CLUSTER_SCOPED, suffix)
    created, outcome = [], {"suffix": suffix}
    try:
        for obj in objs[:-1]:
            created.append(cluster.into_namespace(obj, ns))
            cluster.create(created[-1], ns)
        first = objs[-1]
        second = json.loads(json.dumps(first))
        second["metadata"]["name"] = first["metadata"]["name"] + "-2"
        for key, copy in (("first", first), ("second", second)):
            cluster.create(copy, ns)
            owned = lambda w, n=copy["metadata"]["name"]: any(r.get("name") == n for r in w["metadata"].get("ownerReferences", []))  # noqa: E731
            wanted = "Admitted" if key == "first" else "QuotaReserved=False"
            if isinstance(outcome.get("first"), Exception):  # nothing was admitted; don't wait twice in vain
                outcome[key] = outcome["first"]
                continue
            try:
                outcome[key] = cluster.wait(KUEUE, "Workload", None, ns, timeout_s=WAIT_S, what=wanted, predicate=lambda w, o=owned, k=key: o(w) and (
                    condition(w, "Admitted").get("status") == "True" if k == "first"
                    else condition(w, "QuotaReserved").get("status") == "False"))
            except TimeoutError as exc:
                outcome[key] = exc
                outcome[f"{key}_why"] = _pending_reason(cluster, ns, owned)  # read now: the namespace goes at teardown
        outcome["job"] = cluster.get("batch/v1", "Job", first["metadata"]["name"], ns).to_dict()
    except ApiRefusal as exc:
        outcome["refused"] = exc.reason
    yield outcome
    cluster.delete("v1", "Namespace", ns)
    for obj in reversed(created):
        if obj["kind"] in CLUSTER_SCOPED:
            cluster.delete(obj["apiVersion"], obj["kind"], obj["metadata"]["name"])


def _pending_reason(cluster, ns, owned) -> str:
    """Kueue's own word on why a Job's workload waits (its QuotaReserved condition), or why there is none."""
    items = cluster.resource(KUEUE, "Workload").get(namespace=ns).to_dict().get("items", [])
    found = [condition(w, "QuotaReserved").get("message", "") for w in items if owned(w)]
    return found[0] if found else "no Workload was created for it: check its queue-name label and the LocalQueue"


def _decided(admission, key):
    expect("refused" not in admission, f"The API server (with Kueue's webhooks) refused your objects: {admission.get('refused')}. "
                                       "Fix the object it names and run the check again.")
    return admission[key]


@pytest.mark.cluster
def test_job_within_quota_is_admitted(admission):
    """Does Kueue admit the first Job (3 GPUs of 4) and unsuspend it?"""
    got = _decided(admission, "first")
    expect(not isinstance(got, Exception), f"Kueue did not admit the Job within {WAIT_S}s. Kueue says: "
                                           f"{admission.get('first_why') or 'nothing'}. Fix what it names in queues.yaml "
                                           "or jobs.yaml (labels, the LocalQueue, the ClusterQueue's quota and selector).")
    expect(admission["job"]["spec"].get("suspend") is False, "The Job's workload was admitted but the Job is still suspended.")


@pytest.mark.cluster
def test_job_over_quota_waits_in_the_queue(admission):
    """Does a second identical Job stay pending, because 3 + 3 GPUs exceed the quota of 4?"""
    got = _decided(admission, "second")
    expect(not isinstance(admission["first"], Exception), "Not judged yet: the first Job was never admitted, so the "
                                                          "second has nothing to wait behind. Fix the admission first.")
    expect(not isinstance(got, Exception), "The second Job's workload never showed as pending on quota. "
                                           "It should queue (QuotaReserved=False) while the first holds 3 of the 4 GPUs.")


@pytest.mark.cluster
def test_admitted_job_runs_on_the_gpu_flavor(admission, queues):
    """Was the first Job's GPU request assigned the GPU flavor, and its pods steered to GPU nodes?"""
    got = _decided(admission, "first")
    expect(not isinstance(got, Exception), "The Job was never admitted, so it has no flavor yet. Fix the admission first.")
    flavors = {}
    for podset in got.get("status", {}).get("admission", {}).get("podSetAssignments", []):
        flavors.update(podset.get("flavors", {}))
    wanted = f"{_gpu_flavor(queues)[1]}-{admission['suffix']}"
    expect(flavors.get(GPU) == wanted, f"The Job's GPUs were assigned flavor {flavors.get(GPU)!r}, not your GPU flavor.")
    selector = admission["job"]["spec"]["template"]["spec"].get("nodeSelector", {})
    expect(selector.get(GPU_LABEL) == "true",
           f"After admission the Job's pods select nodes {selector or 'anywhere'}; the GPU flavor's nodeLabels should steer them to GPU nodes.")
