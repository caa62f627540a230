"""What scripts/cluster needs from Python: the pins, the course's ports, a Kind config.

Standard library only, because the script runs it with the system python3 before
any virtualenv exists:

    python3 -m kflab.cluster_plan env                   # KEY=value lines to eval
    python3 -m kflab.cluster_plan kind-config [--gpu]   # the default cluster's config

Lab 1.1's checks import the same constants, so the port the script exposes and
the port the lab asks for cannot drift apart.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from kflab import versions

CLUSTER_NAME = "kflab"
# The pipelines UI is exposed on the Kind node as a NodePort (scripts/cluster
# creates the Service), and the node's port is published on the host.
UI_NODE_PORT = 30080
UI_HOST_PORT = 8080
GPU_LABEL = ("nvidia.com/gpu.present", "true")  # what NVIDIA's device plugin chart selects on
WORKERS = 2  # one for CPU work, one labelled for the GPU path


def env() -> dict[str, str]:
    """Every value scripts/cluster uses, by shell variable name."""
    pins = versions.pins()
    comp = pins["components"]
    return {
        "KIND_VERSION": pins["kind"]["version"],
        "NODE_IMAGE": pins["kind"]["node_image"],
        "KFP_VERSION": comp["kfp"]["backend"],
        "KATIB_VERSION": comp["katib"]["version"],
        "TRAINER_VERSION": comp["trainer"]["version"],
        "TRAINING_OPERATOR_VERSION": comp["training-operator"]["version"],
        "KUEUE_VERSION": comp["kueue"]["version"],
        "KSERVE_VERSION": comp["kserve"]["version"],
        "CERT_MANAGER_VERSION": comp["cert-manager"]["version"],
        "PROMETHEUS_OPERATOR_VERSION": comp["prometheus-operator"]["version"],
        "MANIFESTS_VERSION": comp["manifests"]["version"],
        "DEVICE_PLUGIN_VERSION": comp["nvidia-device-plugin"]["version"],
        "DEFAULT_CLUSTER_NAME": CLUSTER_NAME,
        "UI_NODE_PORT": str(UI_NODE_PORT),
        "UI_HOST_PORT": str(UI_HOST_PORT),
        "GPU_LABEL_KEY": GPU_LABEL[0],
        "GPU_LABEL_VALUE": GPU_LABEL[1],
    }


def node_minor() -> str:
    """`1.35`: the Kubernetes minor of the pinned Kind node image."""
    tag = versions.pins()["kind"]["node_image"].split("@")[0].rsplit(":", 1)[1]  # kindest/node:TAG@sha256:DIGEST
    return ".".join(tag.lstrip("v").split(".")[:2])


def kind_config(gpu: bool = False, workers: int = WORKERS) -> str:
    """The default cluster: a control plane that publishes the UI port, and workers.

    With `gpu`, the labelled worker also gets the mount that nvkind's templates
    use to hand every GPU of the host to that node (docs/gpu-on-kind.md).
    """
    key, value = GPU_LABEL
    lines = [
        "# Written by scripts/cluster (python3 -m kflab.cluster_plan kind-config).",
        "kind: Cluster",
        "apiVersion: kind.x-k8s.io/v1alpha4",
        "nodes:",
        "- role: control-plane",
        "  extraPortMappings:",
        f"  - containerPort: {UI_NODE_PORT}",
        f"    hostPort: {UI_HOST_PORT}",
        '    listenAddress: "127.0.0.1"',
        "    protocol: TCP",
    ]
    for index in range(workers):
        lines.append("- role: worker")
        if index == workers - 1:
            lines += ["  labels:", f'    {key}: "{value}"']
            if gpu:
                lines += ["  extraMounts:", "  - hostPath: /dev/null",
                          "    containerPath: /var/run/nvidia-container-devices/all"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m kflab.cluster_plan")
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("env", help="shell assignments for scripts/cluster")
    p = sub.add_parser("kind-config", help="the default Kind config")
    p.add_argument("--gpu", action="store_true")
    args = parser.parse_args(argv)
    if args.what == "env":
        print("\n".join(f"{k}={shlex.quote(v)}" for k, v in env().items()))
    else:
        sys.stdout.write(kind_config(gpu=args.gpu))
    return 0


if __name__ == "__main__":
    sys.exit(main())
