"""Lab 3.2's mistakes with the launch command, the GPUs and the env: each is one true sentence, never a traceback."""

import shutil

import pytest

from kflab import checkrun, paths, registry, trainjobs

CRASH = "The check could not finish"  # what the plugin records when a check raised something other than a sentence
RAW = ("Traceback", "AttributeError", "TypeError", "object has no attribute")


def _swap(old: str, new: str):
    def mutate(text: str) -> str:
        assert old in text, f"the solution no longer contains {old!r}; update this case"
        return text.replace(old, new, 1)
    return mutate


def _swap_last(old: str, new: str):
    def mutate(text: str) -> str:
        assert text.count(old) == 2, f"the solution should hold {old!r} twice (Master, Worker); update this case"
        head, _, tail = text.rpartition(old)
        return head + new + tail
    return mutate


# id: (file, mutation, checkpoint that must fail, words its message must hold, words it must not hold)
CASES = {
    "env as a mapping": (
        "trainjob.yaml", _swap("    numNodes: 4", "    env:\n      NCCL_DEBUG: INFO\n    numNodes: 4"),
        "test_nccl_timeout_is_set_in_code_not_by_a_flag", "`- name: NCCL_DEBUG` with `value: INFO`", None),
    "Worker with fewer GPUs": (
        "pytorchjob.yaml", _swap_last("nvidia.com/gpu: 4", "nvidia.com/gpu: 2"),  # the Worker's, after the Master's
        "test_every_pod_has_four_gpus_one_per_process", "(Master: 4, Worker: 2)", "no GPUs"),
    "train.py's flag before the script": (
        "trainjob.yaml", _swap("      - torchrun\n", "      - torchrun\n      - --timeout-s=600\n"),
        "test_commands_launch_train_py_with_torchrun",
        "--timeout-s=600 is train.py's, so put it after the path, as in `torchrun /workspace/train.py --timeout-s=600`",
        "deprecated launcher"),
    "the deprecated launcher": (
        "trainjob.yaml", _swap("      - torchrun\n", "      - python\n      - -m\n      - torch.distributed.launch\n"),
        "test_commands_launch_train_py_with_torchrun", "`python -m torch.distributed.launch` is the deprecated launcher", None),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_lab_3_2_mistake_fails_its_checkpoint_with_a_true_sentence(tmp_path, case):
    file, mutate, check, says, never = CASES[case]
    lab = registry.get("3.2")
    folder = lab.dir(tmp_path)
    shutil.copytree(lab.dir(paths.SOLUTIONS), folder)
    shutil.copytree(registry.get("3.1").dir(paths.SOLUTIONS), registry.get("3.1").dir(tmp_path))  # train.py's flags
    (folder / file).write_text(mutate((folder / file).read_text()))
    checks = checkrun.collect_results([lab], str(tmp_path), extra=["-m", "offline"])["labs"]["3.2"]["checks"]
    raw = {n: c["message"] for n, c in checks.items() if c["message"].startswith(CRASH) or any(w in c["message"] for w in RAW)}
    assert not raw, f"{case}: every check must answer with a sentence, but these did not: {raw}"
    failed = {n.rsplit("::", 1)[-1]: c["message"] for n, c in checks.items() if c["outcome"] == "failed"}
    assert check in failed and says in failed[check], f"{case}: {check} should say {says!r}; failed: {failed}"
    assert never is None or never not in failed[check], f"{case}: {check} should not say {never!r}: {failed[check]}"


def test_options_torchrun_does_not_know_are_kept_apart_from_its_refusals():
    launch = trainjobs.parse(["torchrun", "--timeout-s=600", "/workspace/train.py", "--epochs=1"])
    assert launch.is_torchrun and launch.unknown == ["--timeout-s=600"] and launch.script is None
    assert launch.error == "torchrun refuses its options: unrecognized arguments: --timeout-s=600"
    ok = trainjobs.parse(["torchrun", "--nnodes=4", "/workspace/train.py", "--timeout-s=600"])
    assert ok.error is None and ok.script_args == ["--timeout-s=600"] and ok.explicit == {"nnodes"}
    assert not trainjobs.parse(["python", "-m", "torch.distributed.launch", "train.py"]).is_torchrun


def test_gpus_are_counted_per_role():
    def replica(n):
        return {"replicas": 1, "template": {"spec": {"containers": [
            {"name": "pytorch", "command": ["torchrun", "train.py"], "resources": {"limits": {"nvidia.com/gpu": n}}}]}}}
    job = trainjobs.pytorchjob({"spec": {"pytorchReplicaSpecs": {"Master": replica(4), "Worker": replica(2)}}})
    assert job["gpus_by_role"] == {"Master": 4, "Worker": 2} and job["gpus_per_node"] == 0
    same = trainjobs.pytorchjob({"spec": {"pytorchReplicaSpecs": {"Master": replica(4), "Worker": replica(4)}}})
    assert same["gpus_by_role"] == {"Master": 4, "Worker": 4} and same["gpus_per_node"] == 4
