"""Lab 1.1: a Kind cluster config (kind-config.yaml), and the cluster made from it."""

import pytest
import yaml

from kflab import cluster_plan, k8s, kindconfig, upstream, versions
from kflab.failures import CheckFailure, expect

CONFIG = "kind-config.yaml"
GPU_KEY, GPU_VALUE = cluster_plan.GPU_LABEL
NODE_IMAGE = versions.pins()["kind"]["node_image"]


@pytest.fixture(scope="module")
def config(lab) -> dict:
    docs = lab.yaml_docs(CONFIG)
    expect(len(docs) == 1, f"{CONFIG} should hold one Kind config, but holds {len(docs)} YAML documents. "
                           "Remove the extra `---` separators.")
    return docs[0]


@pytest.fixture(scope="module")
def as_written(lab, config) -> dict:
    """The config with every scalar kept as the text written: Kind's decoder (yaml.v3) reads `yes` or `True`
    into a label as that text, where PyYAML would make both the boolean true."""
    return yaml.load(lab.file(CONFIG).read_text(), Loader=yaml.BaseLoader)


@pytest.fixture(scope="module")
def kind_problems(config) -> list[str]:
    try:
        return kindconfig.problems(config)
    except upstream.FetchError as exc:
        raise CheckFailure(f"The checks could not fetch Kind's config types to compare against ({exc}).") from None


def nodes(config, role: str | None = None) -> list[dict]:
    found = [n for n in config.get("nodes") or [] if isinstance(n, dict)]
    return [n for n in found if role is None or n.get("role", "control-plane") == role]


def shape_problems(config) -> list[str]:
    """A control plane, at least one worker, and the pinned node image (or none)."""
    found = []
    if not nodes(config, "control-plane"):
        found.append("The config declares no control-plane node. Add `- role: control-plane` under `nodes:`.")
    if not nodes(config, "worker"):
        found.append("The config declares no worker. Add at least one `- role: worker` under `nodes:`, "
                     "so that workloads run apart from the control plane.")
    for node in nodes(config):
        if node.get("image") not in (None, NODE_IMAGE):
            found.append(f"A {node.get('role', 'control-plane')} node asks for image {node['image']!r}; the course pins "
                         f"{NODE_IMAGE}. Remove `image:` (scripts/cluster passes the pinned one) or use that one.")
    return found


LOOPBACK = ("127.0.0.1", "::1")


def mapping_problems(mapping: dict) -> list[str]:
    """A fixed host port, on the loopback address only."""
    port, host = cluster_plan.UI_NODE_PORT, mapping.get("hostPort")
    if host is None:
        return [f"The mapping of containerPort {port} has no hostPort, so Kind picks a random one. "
                f"Set `hostPort: {cluster_plan.UI_HOST_PORT}`."]
    if isinstance(host, bool) or not isinstance(host, int) or not 0 < host < 65536:
        return [f"The mapping of containerPort {port} has hostPort {host!r}, which is not a port number. "
                f"Write it as a bare number: `hostPort: {cluster_plan.UI_HOST_PORT}` (no quotes)."]
    if mapping.get("listenAddress") not in LOOPBACK:
        where = mapping.get("listenAddress") or "0.0.0.0, Kind's default"
        return [f"The mapping of containerPort {port} listens on {where}, so anyone on your network can reach the "
                'pipelines UI, which has no login. Add `listenAddress: "127.0.0.1"` to it.']
    return []


def port_problems(config) -> list[str]:
    """Is the UI's NodePort published on the host, and only to this machine?"""
    for node in nodes(config):
        for mapping in node.get("extraPortMappings") or []:
            if isinstance(mapping, dict) and mapping.get("containerPort") == cluster_plan.UI_NODE_PORT:
                return mapping_problems(mapping)
    return [f"No node maps containerPort {cluster_plan.UI_NODE_PORT} (the pipelines UI's NodePort) to the host. "
            f"Add it under the control plane's `extraPortMappings` with `hostPort: {cluster_plan.UI_HOST_PORT}`."]


def labels(node: dict) -> dict:
    """A node's labels; a malformed `labels:` counts as none (Kind's own check names it)."""
    found = node.get("labels")
    return found if isinstance(found, dict) else {}


def gpu_problems(config) -> list[str]:
    """Does a worker carry the label NVIDIA's device plugin selects? `config` holds scalars as written (`as_written`)."""
    for node in nodes(config, "worker"):
        if labels(node).get(GPU_KEY) == GPU_VALUE:
            return []
    close = [labels(n)[GPU_KEY] for n in nodes(config, "worker") if isinstance(labels(n).get(GPU_KEY), str)]
    if close:
        return [f'A worker\'s label {GPU_KEY} is {close[0]!r}. Kind keeps the text as written, and the GPU path '
                f'selects exactly "{GPU_VALUE}": write `{GPU_KEY}: "{GPU_VALUE}"`.']
    if any(not isinstance(n.get("labels"), (dict, type(None))) for n in nodes(config, "worker")):
        return [f'A worker\'s `labels:` is not a mapping. Write it as `labels: {{{GPU_KEY}: "{GPU_VALUE}"}}` '
                "or as an indented `key: value` line under `labels:`."]
    if any(GPU_KEY in labels(n) for n in nodes(config, "control-plane")):
        return [f"The label {GPU_KEY} sits on the control plane; put it on a worker, where GPU work runs."]
    return [f'No worker carries the label `{GPU_KEY}: "{GPU_VALUE}"`. Add `labels:` with it to one worker: '
            "the GPU path (nvkind and NVIDIA's device plugin) schedules onto that node."]


def test_kind_accepts_every_field_of_the_config(kind_problems):
    """Would Kind's strict decoder accept every field, as the Go types of the pinned Kind declare them?"""
    expect(not kind_problems, "Kind would refuse this config: " + "; ".join(kind_problems[:3]) + ". "
                              "Fix the field names and types (they are case-sensitive).")


def test_cluster_has_a_control_plane_and_workers(config):
    """Does the config declare a control plane and at least one worker, on the pinned node image?"""
    found = shape_problems(config)
    expect(not found, " ".join(found[:2]))


def test_pipelines_ui_port_is_published_to_this_machine_only(config):
    """Does a node map the UI's NodePort (30080) to a fixed port on your machine, on 127.0.0.1 only?"""
    found = port_problems(config)
    expect(not found, found and found[0])


def test_a_worker_carries_the_gpu_node_label(as_written):
    """Does a worker carry `nvidia.com/gpu.present: "true"` for the GPU path?"""
    found = gpu_problems(as_written)
    expect(not found, found and found[0])


@pytest.fixture(scope="module")
def declared(config, as_written, kind_problems) -> dict:
    """The config, once it passes every offline rule: the cluster checks compare against it."""
    found = kind_problems + shape_problems(config) + port_problems(config) + gpu_problems(as_written)
    expect(not found, f"Your {CONFIG} does not pass its offline checks yet ({found[0] if found else ''}). "
                      "Fix those first, then create the cluster from it with `scripts/cluster up --config ...`.")
    return config


@pytest.mark.cluster
def test_every_node_the_config_declares_is_ready(declared, cluster):
    """Are there as many Ready nodes as the config declares, with the GPU label on one of them?"""
    items = cluster.resource("v1", "Node").get().to_dict()["items"]

    def ready(node):
        return any(c["type"] == "Ready" and c["status"] == "True" for c in node.get("status", {}).get("conditions") or [])

    up = [n for n in items if ready(n)]
    expect(len(up) >= len(nodes(declared)),
           f"The cluster has {len(up)} Ready node(s) of {len(items)}, but your config declares {len(nodes(declared))}. "
           "Run `kubectl describe nodes` and read each node's Conditions; `scripts/cluster down` then `up` starts afresh.")
    labelled = [n["metadata"]["name"] for n in up if (n["metadata"].get("labels") or {}).get(GPU_KEY) == GPU_VALUE]
    expect(labelled, f"No Ready node carries {GPU_KEY}={GPU_VALUE}. Was the cluster created from your config? "
                     "`scripts/cluster up --config labs/stage1/01_kind_cluster/kind-config.yaml` (after `down`).")


@pytest.mark.cluster
def test_server_runs_the_pinned_kubernetes_minor(declared, cluster):
    """Does the API server run the Kubernetes minor of the pinned node image?"""
    version = k8s.api_version() or ""
    got = ".".join(version.lstrip("v").split(".")[:2])
    expect(got == cluster_plan.node_minor(),
           f"The API server runs Kubernetes {version or 'of an unknown version'}, but the course pins {NODE_IMAGE}. "
           "Recreate the cluster with `scripts/cluster down` and `scripts/cluster up`, which pass the pinned image.")
