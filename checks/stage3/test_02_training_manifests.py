"""Lab 3.2: the 16-GPU job as a TrainJob (Trainer v2.3.0) and a PyTorchJob (Training Operator v1.9.4)."""

import pytest

from kflab import manifests, registry, trainjobs
from kflab.failures import CheckFailure, expect
from kflab.learner import LabTarget

WORLD, GPUS_PER_POD = 16, 4
# Where each file states its nodes (pods) and processes per node; how torchrun counts ranks from them.
WORLD_FIELDS = {"trainjob.yaml": ("spec.trainer.numNodes", "spec.trainer.numProcPerNode"),
                "pytorchjob.yaml": ("the Master + Worker replicas", "spec.nprocPerNode")}
WORLD_WORDS = {"spec.trainer.numNodes": "how many nodes it runs (numNodes)",
               "the Master + Worker replicas": "how many pods it runs (its replicas)",
               "spec.trainer.numProcPerNode": "how many processes each node starts (numProcPerNode)",
               "spec.nprocPerNode": "how many processes each pod starts (nprocPerNode)"}
RESERVED_ENV = {"PET_NNODES", "PET_NPROC_PER_NODE", "PET_NODE_RANK", "PET_MASTER_ADDR", "PET_MASTER_PORT"}


@pytest.fixture(scope="module")
def trainjob(lab):
    return lab.yaml_doc("trainjob.yaml", "TrainJob")


@pytest.fixture(scope="module")
def pytorchjob(lab):
    return lab.yaml_doc("pytorchjob.yaml", "PyTorchJob")


@pytest.fixture(scope="module")
def jobs(trainjob, pytorchjob):
    return {"trainjob.yaml": trainjobs.trainjob(trainjob), "pytorchjob.yaml": trainjobs.pytorchjob(pytorchjob)}


@pytest.fixture(scope="module")
def train_py_parser(lab):
    """Lab 3.1's argument parser (given code): the flags train.py really accepts."""
    return LabTarget(registry.get("3.1"), lab.root).argument_parser("train.py")


def expect_schema_valid(obj, name: str, crd: str) -> None:
    manifests.expect_valid(obj, name, crd, "Fix those fields (the schema is the CRD the cluster installs, so it refuses the same ones).")


def test_trainjob_matches_the_pinned_trainer_crd(trainjob):
    """Is trainjob.yaml valid against Trainer v2.3.0's TrainJob CRD, unknown fields included?"""
    expect_schema_valid(trainjob, "trainjob.yaml", "Trainer TrainJob")


def test_pytorchjob_matches_the_pinned_training_operator_crd(pytorchjob):
    """Is pytorchjob.yaml valid against Training Operator v1.9.4's PyTorchJob CRD?"""
    expect_schema_valid(pytorchjob, "pytorchjob.yaml", "Training Operator PyTorchJob")


def test_trainjob_runs_on_the_torch_distributed_runtime(trainjob):
    """Does the TrainJob reference the ClusterTrainingRuntime `torch-distributed`?"""
    ref = manifests.as_dict(manifests.as_dict(trainjob.get("spec")).get("runtimeRef"))
    names = f"names {ref['name']!r}, not" if ref.get("name") else "is missing; add one naming"
    expect(ref.get("name") == "torch-distributed",
           f"The TrainJob's spec.runtimeRef {names} the ClusterTrainingRuntime `torch-distributed`. The runtime supplies "
           "the JobSet template and the torch policy that starts torchrun in every node.")
    expect(ref.get("kind", "ClusterTrainingRuntime") == "ClusterTrainingRuntime",
           f"spec.runtimeRef.kind is {ref.get('kind')!r}; torch-distributed is a ClusterTrainingRuntime (cluster-wide).")


def test_pytorchjob_has_one_master_and_three_workers(pytorchjob, jobs):
    """Does the PyTorchJob have Master (1 replica) and Worker (3 replicas), each with a container named pytorch?"""
    specs = manifests.as_dict(pytorchjob.get("spec")).get("pytorchReplicaSpecs") or {}
    expect(isinstance(specs, dict), "spec.pytorchReplicaSpecs should map replica types (Master, Worker) to their specs.")
    specs = {role: manifests.as_dict(spec) for role, spec in specs.items()}
    counts = {role: spec.get("replicas") for role, spec in specs.items()}
    has = " and ".join(f"{role}: {n}" if n is not None else f"{role} (no replicas)" for role, n in counts.items())
    expect(counts == {"Master": 1, "Worker": 3},
           f"spec.pytorchReplicaSpecs has {has + ' only' if len(counts) == 1 else has or 'no replica specs'}. Make it "
           "Master with `replicas: 1` and Worker with `replicas: 3` (the same container): the Master hosts rank 0 and "
           "the rendezvous (the webhook allows exactly one), and the Workers make up the rest of the 4 pods.")
    for role, spec in specs.items():
        pod = manifests.as_dict(manifests.as_dict(spec.get("template")).get("spec"))
        names = [manifests.as_dict(c).get("name") for c in manifests.as_list(pod.get("containers"))]
        expect("pytorch" in names, f"The {role} pods have no container named `pytorch` (they have {names}). "
                                   "The operator injects the rendezvous variables into the container of that name.")


def test_every_pod_has_four_gpus_one_per_process(jobs):
    """Does every training pod set an nvidia.com/gpu limit equal to its processes per node?"""
    for name, job in jobs.items():
        by_role = job.get("gpus_by_role") or {}
        expect(len(set(by_role.values())) <= 1,
               f"{name}: the pods ask for different GPU counts ({', '.join(f'{role}: {n}' for role, n in by_role.items())}). "
               f"Every pod starts the same number of processes, one per GPU: give the Master and the Worker containers "
               f"the same limit, `nvidia.com/gpu: {GPUS_PER_POD}` each.")
        expect(not job["gpus_only_requested"],
               f"{name} puts nvidia.com/gpu under requests only, and the API server refuses such a pod: an extended "
               f"resource must have a limit. Move `nvidia.com/gpu: {GPUS_PER_POD}` to limits (a request, if you keep one, must equal it).")
        expect(job["gpus_per_node"] == GPUS_PER_POD,
               f"{name}: each training pod asks for {job['gpus_per_node'] or 'no'} GPUs. Set `nvidia.com/gpu: {GPUS_PER_POD}` "
               "under limits (resourcesPerNode in a TrainJob, every replica's resources in a PyTorchJob).")
        expect(job["procs_per_node"] == job["gpus_per_node"],
               f"{name} starts {job['procs_per_node']} processes per pod on {job['gpus_per_node']} GPUs. NCCL gives each "
               "process its own GPU: make the processes per node equal the GPUs per pod.")


def test_both_jobs_describe_a_world_of_16_processes(jobs):
    """Do the TrainJob (numNodes × numProcPerNode) and the PyTorchJob (replicas × nprocPerNode) both make 16 ranks?"""
    for name, job in jobs.items():
        nodes_field, procs_field = WORLD_FIELDS[name]
        unknown = [f for f, n in ((nodes_field, job["nodes"]), (procs_field, job["procs_per_node"])) if not n]
        expect(not unknown, f"{name} does not say {' or '.join(WORLD_WORDS[f] for f in unknown)}, so its world size is "
                            f"unknown. Set {nodes_field} and {procs_field} to 4 each, for 4 × 4 = {WORLD} ranks.")
        expect(job["world_size"] == WORLD,
               f"{name} launches {job['nodes']} nodes × {job['procs_per_node']} processes = {job['world_size']} ranks, "
               f"not {WORLD}. Set {nodes_field} and {procs_field} to 4 each (one process per GPU).")


def test_commands_launch_train_py_with_torchrun(jobs, train_py_parser):
    """Does every container run `torchrun ... train.py` with options torchrun and train.py both accept?"""
    for name, job in jobs.items():
        launch = job["launch"]
        expect(launch.error is None, f"{name}: {launch.error}. {launch_advice(launch, train_py_parser)}")
        expect(launch.script and launch.script.endswith("train.py"),
               f"{name}: torchrun runs {launch.script!r}, not train.py. Put the script's path right after torchrun's options.")
        try:
            train_py_parser.parse_args(launch.script_args)
        except ValueError as exc:
            raise CheckFailure(f"{name}: train.py refuses its arguments {launch.script_args}: {exc}. Use only the flags "
                               "train.py defines (python train.py --help lists them).") from None
    for container in jobs["pytorchjob.yaml"]["containers"]:
        other = trainjobs.parse([*manifests.as_list(container.get("command")), *manifests.as_list(container.get("args"))])
        expect(other.script_args == jobs["pytorchjob.yaml"]["launch"].script_args and other.script == jobs["pytorchjob.yaml"]["launch"].script,
               "pytorchjob.yaml: the Master and the Workers run different commands. Every rank must run the same script "
               "with the same arguments, or the collectives will not match.")


def launch_advice(launch: trainjobs.Launch, train_py_parser) -> str:
    """What to write instead of a command that torchrun would not run as meant."""
    if not launch.is_torchrun:
        if "torch.distributed.launch" in launch.argv:
            return "Launch with `torchrun /workspace/train.py ...`; `python -m torch.distributed.launch` is the deprecated launcher."
        return ("Make torchrun the command itself, with the script and its flags as the next entries: "
                "`[torchrun, /workspace/train.py, --epochs=20, ...]`.")
    order = "torchrun reads every option before the script path as its own, and passes those after it to train.py"
    if launch.unknown:
        try:
            _, extra = train_py_parser.parse_known_args(launch.unknown)
        except ValueError:
            extra = launch.unknown
        if not extra:
            words = " ".join(spelled_out(w, train_py_parser) for w in launch.unknown)
            whose = "is train.py's, so put it" if len(launch.unknown) == 1 else "are train.py's, so put them"
            return f"{order}: {words} {whose} after the path, as in `torchrun /workspace/train.py {words}`."
    return f"{order}. Keep only torchrun's options (`torchrun --help`) before /workspace/train.py."


def spelled_out(word: str, parser) -> str:
    """`--timeout=300` as `--timeout-s=300`: the full name of the option that argparse matched by its prefix."""
    flag, eq, value = word.partition("=")
    names = [o for action in parser._actions for o in action.option_strings if o.startswith(flag)] if flag.startswith("--") else []
    return f"{names[0]}{eq}{value}" if len(names) == 1 and flag not in names else word


def command_words(obj) -> list[str]:
    """Every command and args entry anywhere in a manifest."""
    words, stack = [], [obj]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("command", "args") and isinstance(value, list):
                    words += [str(v) for v in value]
                else:
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return words


def test_nccl_timeout_is_set_in_code_not_by_a_flag(trainjob, pytorchjob):
    """Is there no made-up `--nccl-timeout` flag, and are torchrun's PET_* variables left to the operators?"""
    for name, obj in (("trainjob.yaml", trainjob), ("pytorchjob.yaml", pytorchjob)):
        made_up = sorted({w for w in command_words(obj) if "nccl" in w.lower()})
        expect(not made_up, f"{name} passes {made_up}: no such flag exists in torchrun or train.py. The NCCL timeout is the "
                            "`timeout=` of dist.init_process_group in train.py; pass --timeout-s to change it.")
    env = manifests.as_dict(manifests.as_dict(trainjob.get("spec")).get("trainer")).get("env")
    expect(env is None or isinstance(env, list),
           f"trainjob.yaml's spec.trainer.env is {env!r:.60}, not a list. Write each variable as a list entry, "
           "`- name: NCCL_DEBUG` with `value: INFO` on the line below, as in a container's env.")
    env = {n for n in (manifests.as_dict(e).get("name") for e in env or []) if isinstance(n, str)}
    expect(not env & RESERVED_ENV, f"trainjob.yaml sets {sorted(env & RESERVED_ENV)} by hand. Trainer reserves these "
                                   "torchrun variables and rejects the TrainJob; numNodes and numProcPerNode set them.")


@pytest.mark.cluster
@pytest.mark.parametrize("kind", ["TrainJob", "PyTorchJob"])
def test_manifest_passes_a_server_side_dry_run(kind, trainjob, pytorchjob, cluster, namespace):
    """Does the API server (with the Trainer and Training Operator CRDs) accept the manifest, and its pods, in a dry run?"""
    obj = trainjob if kind == "TrainJob" else pytorchjob
    reason = cluster.dry_run(obj, namespace)
    expect(reason is None, f"The API server refused the {kind}: {reason}. Fix the field it names in {kind.lower()}.yaml "
                              "and run the check again.")
    # The CRDs check only the shape of the pod parts; the pods the operator makes must meet the API server's rules.
    for where, spec in training_pods(kind, obj):
        reason = cluster.dry_run_pod(spec, namespace, "training-pod")
        expect(reason is None, f"The API server would refuse the pods of {where} in {kind.lower()}.yaml: {reason}. "
                               "Fix what it names (a request above its limit, for example).")


def training_pods(kind: str, obj: dict) -> list[tuple[str, dict]]:
    """(where, pod spec) of each pod the job makes, as far as the manifest states it."""
    spec = manifests.as_dict(obj.get("spec"))
    if kind == "PyTorchJob":
        return [(f"the {role} replicas", manifests.as_dict(manifests.as_dict(manifests.as_dict(r).get("template")).get("spec")))
                for role, r in manifests.as_dict(spec.get("pytorchReplicaSpecs")).items()]
    trainer = manifests.as_dict(spec.get("trainer"))
    fields = {"command": "command", "args": "args", "env": "env", "resources": "resourcesPerNode"}  # container: trainer
    container = {"name": "node", "image": trainer.get("image") or "pytorch/pytorch",
                 **{key: trainer[field] for key, field in fields.items() if trainer.get(field) is not None}}
    return [("the trainer (its image, command, env and resourcesPerNode)", {"containers": [container]})]
