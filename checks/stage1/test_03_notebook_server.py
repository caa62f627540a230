"""Lab 1.3: a learner namespace, a PVC and a Kubeflow Notebook (notebook-server.yaml)."""

import copy

import pytest

from kflab import manifests
from kflab.manifests import as_dict, as_list
from kflab.failures import expect

FILE = "notebook-server.yaml"
KATIB_LABEL = ("katib.kubeflow.org/metrics-collector-injection", "enabled")
POD_SECURITY = "pod-security.kubernetes.io/enforce"
HOME = "/home/jovyan"


@pytest.fixture(scope="module")
def objects(lab) -> dict[str, dict]:
    """The Namespace, PersistentVolumeClaim and Notebook of the file, by kind."""
    docs = lab.yaml_docs(FILE)
    found = {}
    for kind in ("Namespace", "PersistentVolumeClaim", "Notebook"):
        matching = [d for d in docs if d.get("kind") == kind]
        expect(len(matching) == 1, f"{FILE} should hold exactly one {kind}, but holds {len(matching)}. "
                                   "Keep the three documents, separated by `---` lines.")
        found[kind] = matching[0]
    return found


@pytest.fixture(scope="module")
def container(objects) -> dict:
    pod = as_dict(as_dict(as_dict(objects["Notebook"].get("spec")).get("template")).get("spec"))
    containers = as_list(pod.get("containers"))
    expect(containers and isinstance(containers[0], dict),
           "The Notebook has no container under spec.template.spec.containers. Declare the Jupyter container there.")
    return containers[0]


def test_every_object_passes_its_upstream_schema(objects):
    """Does each object pass strict validation: core kinds by Kubernetes' schema, the Notebook by its pinned CRD?"""
    for kind, obj in objects.items():
        found = manifests.problems(obj)
        expect(not found, f"The {kind} would be refused: " + "; ".join(found[:2]) + ". Fix the field it names.")


def test_namespace_enables_katib_metrics_collector_injection(objects):
    """Does the namespace carry `katib.kubeflow.org/metrics-collector-injection: enabled`?"""
    labels = as_dict(as_dict(objects["Namespace"].get("metadata")).get("labels"))
    key, value = KATIB_LABEL
    expect(key not in labels or labels[key] == value,
           f"The Namespace's label `{key}` is {labels.get(key)!r}, but Katib injects its metrics collector only "
           f"when the value is exactly `{value}`. Set it to `{value}`.")
    expect(labels.get(key) == value,
           f"The Namespace lacks the label `{key}: {value}` (it has {sorted(labels) or 'none'}). Katib injects its "
           "metrics collector only into namespaces labelled so; add it under metadata.labels.")


def test_namespace_enforces_the_baseline_pod_security_standard(objects):
    """Does the namespace carry `pod-security.kubernetes.io/enforce: baseline`?"""
    level = as_dict(as_dict(objects["Namespace"].get("metadata")).get("labels")).get(POD_SECURITY)
    expect(level != "restricted", f"`{POD_SECURITY}: restricted` would refuse the Notebook's pod, which sets no "
                                  "seccomp profile, runAsNonRoot or dropped capabilities. Use `baseline`.")
    has = f"has no `{POD_SECURITY}` label" if level is None else f"labels `{POD_SECURITY}: {level}`"
    expect(level == "baseline", f"The Namespace {has}. Set it to `baseline`, so the API server refuses privileged "
                                "pods there; nothing in this course needs them.")


def test_claim_and_notebook_live_in_the_learner_namespace(objects):
    """Are the PVC and the Notebook in the namespace the file creates?"""
    name = (objects["Namespace"].get("metadata") or {}).get("name")
    for kind in ("PersistentVolumeClaim", "Notebook"):
        ns = (objects[kind].get("metadata") or {}).get("namespace")
        expect(ns == name, f"The {kind} is in namespace {ns or '(none: whatever kubectl defaults to)'}, not {name!r}. "
                           f"Set its metadata.namespace to {name!r}: a claim can be mounted only in its own namespace.")


def test_notebook_requests_cpu_and_memory(container):
    """Does the Jupyter container request CPU and memory?"""
    requests = ((container.get("resources") or {}).get("requests")) or {}
    missing = [r for r in ("cpu", "memory") if r not in requests]
    expect(not missing, f"The Notebook's container requests no {' and no '.join(missing)}. Add "
                        "resources.requests (for example cpu: 500m, memory: 1Gi) so the scheduler reserves room for it.")


def test_notebook_image_is_pinned(container):
    """Is the image pinned to a release tag or a digest, not `:latest` or no tag?"""
    image = str(container.get("image") or "")
    last = image.rsplit("/", 1)[-1]  # a registry's port (host:5000/...) is not a tag
    tag = last.partition(":")[2].split("@")[0]
    expect("@sha256:" in image or tag not in ("", "latest"),
           f"The image {image or '(none)'} is not pinned. Use a release tag such as "
           "ghcr.io/kubeflow/kubeflow/notebook-servers/jupyter-scipy:v1.10.0, so the server is the same every time.")


def test_workspace_claim_is_mounted_at_home_jovyan(objects, container):
    """Is the PVC a volume of the Notebook, mounted at /home/jovyan?"""
    claim = (objects["PersistentVolumeClaim"].get("metadata") or {}).get("name")
    pod = as_dict(as_dict(as_dict(objects["Notebook"].get("spec")).get("template")).get("spec"))
    volumes = [as_dict(v) for v in as_list(pod.get("volumes"))]
    names = [v.get("name") for v in volumes if as_dict(v.get("persistentVolumeClaim")).get("claimName") == claim]
    expect(names, f"No volume of the Notebook refers to the claim {claim!r}. Add a volume with "
                  f"`persistentVolumeClaim: {{claimName: {claim}}}` under spec.template.spec.volumes "
                  "(a list of volumes, each a mapping).")
    mounts = {m.get("name"): m.get("mountPath") for m in map(as_dict, as_list(container.get("volumeMounts")))}
    expect(any(str(mounts.get(n) or "").rstrip("/") == HOME for n in names),
           f"The claim's volume is not mounted at {HOME} (mounts: {mounts or 'none'}). Add a volumeMount "
           f"with name {names[0]!r} and mountPath {HOME}, where Jupyter keeps your files.")


@pytest.mark.cluster
def test_server_accepts_every_object_in_a_dry_run(objects, cluster, namespace):
    """Does the API server accept each object, and the Notebook's pod template as a pod (server-side dry run, strict fields)?"""
    ns_obj = copy.deepcopy(objects["Namespace"])
    ns_obj.setdefault("metadata", {})["name"] = f"{namespace}-ns"[:63]
    refusals = []
    for kind, obj in (("Namespace", ns_obj), ("PersistentVolumeClaim", objects["PersistentVolumeClaim"]),
                      ("Notebook", objects["Notebook"])):
        body = copy.deepcopy(obj)
        if kind != "Namespace":
            body.setdefault("metadata", {})["namespace"] = namespace  # the check's own namespace
        reason = cluster.dry_run(body, namespace)
        if reason:
            refusals.append(f"the {kind}: {reason}")
    # The Notebook's CRD checks the template's shape only; the pod it becomes meets the API server's own rules.
    template = as_dict(as_dict(as_dict(objects["Notebook"].get("spec")).get("template")).get("spec"))
    reason = cluster.dry_run_pod(template, namespace, "notebook-pod")
    if reason:
        refusals.append(f"the Notebook's pod template (as the pod the controller makes from it): {reason}")
    expect(not refusals, "The API server refused " + "; ".join(refusals) + ". Fix what it names.")


@pytest.mark.cluster
def test_api_server_refuses_a_privileged_pod_in_the_namespace(objects, cluster):
    """In a namespace with the file's labels, is a privileged pod refused and a plain one admitted?"""
    labels = as_dict(as_dict(objects["Namespace"].get("metadata")).get("labels"))
    ns = cluster.new_namespace("kflab-1-3-pss", labels={k: str(v) for k, v in labels.items()})
    try:
        def pod(privileged: bool) -> dict:
            return {"containers": [{"name": "main", "image": "busybox:1.36", "securityContext": {"privileged": privileged}}]}

        refused = cluster.dry_run_pod(pod(True), ns)
        expect(refused and "PodSecurity" in refused,
               "The API server admitted a privileged pod in a namespace with your labels. Label the namespace "
               f"`{POD_SECURITY}: baseline`, so Pod Security admission refuses it.")
        plain = cluster.dry_run_pod(pod(False), ns)
        expect(plain is None, f"The API server refused even a plain pod in a namespace with your labels: {plain}. "
                              "Use the level `baseline`, which such pods pass.")
    finally:
        cluster.delete("v1", "Namespace", ns)
