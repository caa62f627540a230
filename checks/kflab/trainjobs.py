"""What a TrainJob or a PyTorchJob will launch: its torchrun command and its world size.

The operators start torchrun in every training pod and describe the job to it in
PET_* variables, which torchrun reads as defaults for its options:

- Trainer v2.3.0 (torch plugin): PET_NNODES = spec.trainer.numNodes,
  PET_NPROC_PER_NODE = spec.trainer.numProcPerNode (default "auto": the GPUs in
  resourcesPerNode, else the CPUs), plus PET_NODE_RANK, PET_MASTER_ADDR/PORT.
- Training Operator v1.9.4: PET_NNODES = the sum of all replicas (Master + Worker),
  PET_NPROC_PER_NODE = spec.nprocPerNode (default "auto").

An option written on the torchrun command line wins over its PET_* variable. The
world size is nodes × processes per node, as torchrun computes it.
"""

from __future__ import annotations

import dataclasses

from kflab.learner import raising
from kflab.manifests import as_dict, as_list

GPU = "nvidia.com/gpu"


@dataclasses.dataclass
class Launch:
    """One training container's command, read by torchrun's own argument parser."""

    torchrun: object | None  # argparse.Namespace of torchrun's options, None if it is not torchrun
    script: str | None
    script_args: list[str]
    explicit: set[str]  # torchrun options spelled out on the command line
    error: str | None = None
    unknown: list[str] = dataclasses.field(default_factory=list)  # words before the script that torchrun does not know
    argv: list[str] = dataclasses.field(default_factory=list)  # the whole command, as written

    @property
    def is_torchrun(self) -> bool:
        """The command is torchrun (or `python -m torch.distributed.run`), whatever torchrun then makes of its options."""
        return self.argv[:1] == ["torchrun"] or self.argv[1:3] == ["-m", "torch.distributed.run"]


def parse(argv: list[str]) -> Launch:
    """Split `torchrun [options] script [args]` (or `python -m torch.distributed.run ...`) with torchrun's parser."""
    argv = [str(a) for a in as_list(argv)]
    if argv[:1] == ["torchrun"]:
        rest = argv[1:]
    elif len(argv) >= 3 and argv[0].startswith("python") and argv[1:3] == ["-m", "torch.distributed.run"]:
        rest = argv[3:]
    else:
        return Launch(None, None, [], set(), f"the command {' '.join(argv[:4]) or '(empty)'} does not start with torchrun",
                      argv=argv)
    from torch.distributed.run import get_args_parser

    parser = raising(get_args_parser())
    try:
        ns, unknown = parser.parse_known_args(rest)
    except ValueError as exc:
        return Launch(None, None, [], set(), f"torchrun refuses its options: {exc}", argv=argv)
    if unknown:  # before the script: the script's own arguments are all in training_script_args
        return Launch(None, None, [], set(), f"torchrun refuses its options: unrecognized arguments: {' '.join(unknown)}",
                      unknown=unknown, argv=argv)
    script_at = len(rest) - len(ns.training_script_args) - 1
    explicit = {a.split("=")[0].lstrip("-").replace("_", "-") for a in rest[:script_at] if a.startswith("--")}
    return Launch(ns, ns.training_script, list(ns.training_script_args), explicit, argv=argv)


def gpus(resources: dict | None) -> int:
    """GPUs a container asks for: its limit. An extended resource needs one; a request alone is refused."""
    value = as_dict(as_dict(resources).get("limits")).get(GPU, 0)
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def gpus_only_requested(resources: dict | None) -> bool:
    """GPUs under requests but not limits: the API server refuses the pod ("Limit must be set")."""
    resources = as_dict(resources)
    return GPU in as_dict(resources.get("requests")) and GPU not in as_dict(resources.get("limits"))


def _procs(value, gpu_count: int) -> int | None:
    """torchrun's --nproc-per-node: an int, or 'auto'/'gpu' (one per visible GPU). None when unknowable."""
    if value is None or value in ("auto", "gpu"):
        return gpu_count or None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _nodes(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None  # an elastic range like 1:4 has no fixed size


def _world(launch: Launch, nodes, procs) -> dict:
    if launch.torchrun is not None and "nnodes" in launch.explicit:
        nodes = _nodes(launch.torchrun.nnodes)
    if launch.torchrun is not None and "nproc-per-node" in launch.explicit:
        procs = _procs(launch.torchrun.nproc_per_node, 0)
    world = nodes * procs if nodes and procs else None
    return {"nodes": nodes, "procs_per_node": procs, "world_size": world}


def trainjob(obj: dict) -> dict:
    """Nodes, processes per node, GPUs per node, world size and launch of a TrainJob."""
    trainer = as_dict(as_dict(obj.get("spec")).get("trainer"))
    gpu = gpus(as_dict(trainer.get("resourcesPerNode")))
    launch = parse([*as_list(trainer.get("command")), *as_list(trainer.get("args"))])
    nodes = _nodes(trainer.get("numNodes", 1))  # torch-distributed's mlPolicy.numNodes is 1
    out = _world(launch, nodes, _procs(trainer.get("numProcPerNode"), gpu))
    return {**out, "gpus_per_node": gpu, "launch": launch,
            "gpus_only_requested": gpus_only_requested(trainer.get("resourcesPerNode"))}


def _pytorch_containers(replica: dict) -> list[dict]:
    """The containers named `pytorch` in one replica's pod template: the ones the operator sets up."""
    pod = as_dict(as_dict(replica.get("template")).get("spec"))
    return [c for c in as_list(pod.get("containers")) if isinstance(c, dict) and c.get("name") == "pytorch"]


def pytorchjob(obj: dict) -> dict:
    """The same for a PyTorchJob: nodes are all replicas, Master and Worker alike (each defaults to 1)."""
    spec = as_dict(obj.get("spec"))
    replicas = {k: as_dict(v) for k, v in as_dict(spec.get("pytorchReplicaSpecs")).items()}
    counts = [_nodes(r.get("replicas", 1)) for r in replicas.values()]
    nodes = sum(counts) if counts and None not in counts else None
    by_role = {role: _pytorch_containers(r) for role, r in replicas.items()}
    containers = [c for found in by_role.values() for c in found]
    gpus_by_role = {role: gpus(as_dict(found[0].get("resources"))) for role, found in by_role.items() if found}
    per_node = set(gpus_by_role.values())
    gpu = per_node.pop() if len(per_node) == 1 else 0  # a disagreement is reported from gpus_by_role
    first = containers[0] if containers else {}
    launch = parse([*as_list(first.get("command")), *as_list(first.get("args"))])
    out = _world(launch, nodes, _procs(spec.get("nprocPerNode"), gpu))
    return {**out, "gpus_per_node": gpu, "launch": launch, "containers": containers, "gpus_by_role": gpus_by_role,
            "gpus_only_requested": any(gpus_only_requested(c.get("resources")) for c in containers)}
