"""An Experiment and a tiny trial script for the tests of `kflab tune`: trials score in milliseconds, with no torch."""

import argparse
import copy

import yaml

from kflab import tune

# A trial that scores its parameters: the best lr is 0.1; --crash makes it fail.
SCRIPT = """\
import argparse, os, sys, time
p = argparse.ArgumentParser()
p.add_argument("--lr", type=float)
p.add_argument("--width", type=int, default=1)
p.add_argument("--mode", default="ok")
a = p.parse_args()
if a.mode == "crash":
    print("starting", flush=True)
    sys.exit("RuntimeError: CUDA out of memory (pretend)")
if a.mode == "stagger":  # the first trial to start is quick, every later one takes 2 s
    try:
        os.close(os.open("first-trial", os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        time.sleep(2)
if a.mode == "silent":
    print("done, but no metric printed")
    sys.exit(0)
for epoch in range(3):
    print(f"epoch={epoch} loss={1 - epoch / 10} accuracy={(1 - abs(a.lr - 0.1)) * (epoch + 1) / 3:.4f}")
"""


EXPERIMENT = {
    "apiVersion": "kubeflow.org/v1beta1",
    "kind": "Experiment",
    "metadata": {"name": "toy"},
    "spec": {
        "objective": {"type": "maximize", "objectiveMetricName": "accuracy", "additionalMetricNames": ["loss"]},
        "algorithm": {"algorithmName": "tpe", "algorithmSettings": [{"name": "random_state", "value": "3"}]},
        "parallelTrialCount": 2, "maxTrialCount": 4, "maxFailedTrialCount": 2,
        "parameters": [
            {"name": "lr", "parameterType": "double", "feasibleSpace": {"min": "0.01", "max": "0.5", "distribution": "logUniform"}},
            {"name": "width", "parameterType": "int", "feasibleSpace": {"min": "1", "max": "3"}},
        ],
        "trialTemplate": {
            "primaryContainerName": "main",
            "trialParameters": [{"name": "learningRate", "reference": "lr"}, {"name": "width", "reference": "width"}],
            "trialSpec": {"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "main", "image": "python:3.12",
                                "command": ["python3", "score.py", "--lr=${trialParameters.learningRate}",
                                            "--width=${trialParameters.width}"]}]}}}},
        },
    },
}


def write(tmp_path, experiment=None, mode="ok"):
    """experiment.yaml (EXPERIMENT unless given) and score.py in tmp_path; `mode` is passed to score.py as --mode."""
    exp = copy.deepcopy(experiment or EXPERIMENT)
    if mode != "ok":
        exp["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]["command"].append(f"--mode={mode}")
    (tmp_path / "score.py").write_text(SCRIPT)
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(exp))
    return path


def cli(path, *flags) -> int:
    """`kflab tune PATH FLAGS...`, through the CLI's own parser; its exit status."""
    parser = argparse.ArgumentParser()
    tune.register_cli(parser.add_subparsers())
    args = parser.parse_args(["tune", str(path), *flags])
    return args.func(args)
