"""Whether this machine can run the cluster and gpu tiers, asked once per run.

When it cannot, the answer is the one line a learner sees as the skip reason.
"""

from __future__ import annotations

import functools
import os

NO_CLUSTER = (
    "no Kubernetes API answers (KUBECONFIG={kc}). Start one with `scripts/cluster up` (Kind, on a laptop), or "
    "without Docker `scripts/controlplane build && scripts/controlplane up && eval \"$(scripts/controlplane env)\"`, "
    "then rerun."
)
NO_GPU = "no CUDA GPU here. These checks run on a machine with an NVIDIA GPU (see docs/stage3/gpu-training.md)."


@functools.cache
def cluster_problem() -> str | None:
    from kflab import k8s

    if k8s.api_version() is None:
        return NO_CLUSTER.format(kc=os.environ.get("KUBECONFIG", "~/.kube/config"))
    return None


@functools.cache
def gpu_problem() -> str | None:
    try:
        import torch
    except ImportError:
        return NO_GPU
    return None if torch.cuda.is_available() else NO_GPU


def unavailable(tier: str) -> str | None:
    """The skip line for `tier` on this machine, or None when it can run."""
    if tier == "cluster":
        return cluster_problem()
    if tier == "gpu":
        return gpu_problem()
    return None
