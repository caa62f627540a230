"""What `up` puts into the empty cluster: fake nodes for kwok and the pinned CRDs.

The nodes are plain Node objects with an annotation that tells kwok to manage
them: kwok marks them Ready, renews their leases and runs the pods scheduled
there. The GPU node advertises `nvidia.com/gpu` as a device plugin would, and
carries the taint that GPU node pools usually have, so that the Kueue lab's GPU
ResourceFlavor needs a toleration as it would on a real cluster.
"""

from __future__ import annotations

import re
from pathlib import Path

from kflab import upstream
from kflab.controlplane.api import Api, ApiError, condition, wait_for
from kflab.versions import component, crd_kinds, pins

KWOK_SELECTOR = "kwok.x-k8s.io/node=fake"
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
CPU_NODE = {"cpu": "16", "memory": "64Gi", "pods": "110", "ephemeral-storage": "200Gi"}
GPU_NODE = {"cpu": "64", "memory": "512Gi", "pods": "110", "ephemeral-storage": "1Ti", "nvidia.com/gpu": "8"}
GPU_LABELS = {
    "nvidia.com/gpu.present": "true",
    "nvidia.com/gpu.count": "8",
    "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3",
}
# kwok's own stages for pods; pod-complete is left out on purpose, so that a Job's
# pods keep running (and keep their Kueue quota) until the Job is deleted.
KWOK_POD_STAGES = ("kustomize/stage/pod/fast/pod-ready.yaml", "kustomize/stage/pod/fast/pod-delete.yaml")
# The Trainer runtime that lab 3.2's TrainJob names. No Trainer controller runs here,
# but Kueue's TrainJob integration reads the runtime to size the job's workload.
TRAINER_RUNTIME = "manifests/base/runtimes/torch_distributed.yaml"


def node(name: str, pool: str, capacity: dict[str, str], labels: dict[str, str] | None = None,
         taints: list[dict] | None = None) -> dict:
    """A Node for kwok to manage; the status is kept by kwok's node stages."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "type": "kwok",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node.kubernetes.io/instance-type": f"kwok-{pool}",
                **(labels or {}),
            },
        },
        "spec": {"taints": taints or []},
        "status": {"capacity": capacity, "allocatable": capacity},
    }


def nodes() -> list[dict]:
    return [
        node("kwok-cpu-1", "cpu", CPU_NODE),
        node("kwok-cpu-2", "cpu", CPU_NODE),
        node("kwok-gpu-1", "gpu", GPU_NODE, GPU_LABELS, [GPU_TAINT]),
    ]


def create_nodes(api: Api) -> list[str]:
    return [n["metadata"]["name"] for n in nodes() if api.create_if_missing("/api/v1/nodes", n)]


def wait_nodes_ready(api: Api, timeout_s: float) -> None:
    names = [n["metadata"]["name"] for n in nodes()]

    def ready() -> bool:
        return all(condition(api.get(f"/api/v1/nodes/{name}"), "Ready") for name in names)

    wait_for(f"kwok to mark nodes {', '.join(names)} Ready", ready, timeout_s)


def kwok_stages() -> str:
    """kwok's pod stages at the pinned kwok version, as one multi-document YAML."""
    version = pins()["controlplane"]["kwok"]
    docs = [upstream.module_file("sigs.k8s.io/kwok", version, p).read_text() for p in KWOK_POD_STAGES]
    return "\n---\n".join(d.strip().removeprefix("---").strip() for d in docs) + "\n"


def object_name(manifest: str) -> str:
    """metadata.name of a one-object YAML manifest, read without a YAML parser.

    Generated CRD files put `metadata:` at column 0 and `name:` among its
    children; the apiserver parses the real YAML, this only finds the URL.
    """
    m = re.search(r"^metadata:[ \t]*\n((?:[ \t]+.*\n|[ \t]*\n)*)", manifest, re.MULTILINE)
    if m:
        children = m.group(1)
        indent = re.match(r"([ \t]+)", children.lstrip("\n"))
        if indent:
            found = re.search(rf"^{indent.group(1)}name:[ \t]*['\"]?([^'\"\s#]+)", children, re.MULTILINE)
            if found:
                return found.group(1)
    raise ValueError("found no metadata.name in the manifest")


def single_document(text: str) -> str:
    docs = [d for d in re.split(r"^---[ \t]*$", text, flags=re.MULTILINE) if re.search(r"^kind:", d, re.M)]
    if len(docs) != 1:
        raise ValueError(f"expected one object in the manifest, found {len(docs)}")
    return docs[0].lstrip("\n")


def apply_crds(api: Api, timeout_s: float) -> list[str]:
    """Server-side apply every pinned CRD and wait until each is Established."""
    base = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    names = []
    for kind in crd_kinds():
        path: Path = upstream.crd_file(kind)
        manifest = single_document(path.read_text())
        name = object_name(manifest)
        try:
            api.apply(f"{base}/{name}", manifest)
        except ApiError as exc:
            raise ApiError(exc.status, f"applying CRD {name} from {path}: {exc}") from None
        names.append(name)
    wait_for(f"{len(names)} CRDs to be Established",
             lambda: all(condition(api.get(f"{base}/{n}"), "Established") for n in names), timeout_s)
    return names


def apply_training_runtime(api: Api) -> str:
    """Server-side apply Trainer's torch-distributed ClusterTrainingRuntime at the pinned version."""
    pin = component("trainer")
    manifest = single_document(upstream.module_file(pin["module"], pin["version"], TRAINER_RUNTIME, pin.get("repo")).read_text())
    name = object_name(manifest)
    api.apply(f"/apis/trainer.kubeflow.org/v1alpha1/clustertrainingruntimes/{name}", manifest)
    return name
