"""Lab 2.3: control flow: try several learning rates in parallel, keep the best, deploy only if it is good enough.

Check your work with `kflab check 2.3`; run it yourself with `python pipeline.py`.
"""

from typing import List, NamedTuple

from kfp import dsl
from kfp.dsl import Dataset, Input, Output

IMAGE = "ghcr.io/kubeflow/kubeflow/notebook-servers/jupyter-scipy:v1.10.0"


# --8<-- [start:components]
@dsl.component(base_image=IMAGE)
def prepare_data(train: Output[Dataset], test: Output[Dataset], seed: int = 42):
    """Split the bundled breast-cancer table and standardise it with train statistics."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    df = load_breast_cancer(as_frame=True).frame
    train_df, test_df = train_test_split(df, test_size=0.25, random_state=seed, stratify=df["target"])
    features = [c for c in df.columns if c != "target"]
    scaler = StandardScaler().fit(train_df[features])  # test rows are scaled with train statistics
    for part, out in ((train_df.copy(), train), (test_df.copy(), test)):
        part[features] = scaler.transform(part[features])
        part.to_csv(out.path, index=False)


@dsl.component(base_image=IMAGE)
def train_and_score(train: Input[Dataset], test: Input[Dataset], learning_rate: float, epochs: int = 5) -> dict:
    """Train with one learning rate; return it with the test accuracy it reached."""
    import pandas as pd
    from sklearn.linear_model import SGDClassifier

    tr, te = pd.read_csv(train.path), pd.read_csv(test.path)
    clf = SGDClassifier(loss="hinge", learning_rate="constant", eta0=learning_rate, max_iter=epochs, tol=None, random_state=0)
    clf.fit(tr.drop(columns="target"), tr["target"])
    return {"learning_rate": learning_rate, "accuracy": float(clf.score(te.drop(columns="target"), te["target"]))}


@dsl.component(base_image=IMAGE)
def pick_best(results: List[dict]) -> NamedTuple("Best", learning_rate=float, accuracy=float):
    """The result with the highest accuracy (the first one on a tie)."""
    from collections import namedtuple

    best = max(results, key=lambda r: r["accuracy"])
    return namedtuple("Best", ["learning_rate", "accuracy"])(float(best["learning_rate"]), float(best["accuracy"]))


@dsl.component(base_image=IMAGE)
def deploy_model(learning_rate: float, accuracy: float) -> str:
    """Stand-in for a deployment step (Stage 3 serves models with KServe)."""
    message = f"deploying the model trained with learning_rate={learning_rate} (accuracy {accuracy:.3f})"
    print(message)
    return message


@dsl.component(base_image=IMAGE)
def report_rejection(accuracy: float, threshold: float) -> str:
    """What happens instead of a deployment: say why, loudly."""
    message = f"not deploying: best accuracy {accuracy:.3f} is below the gate {threshold}"
    print(message)
    return message
# --8<-- [end:components]


# --8<-- [start:pipeline]
@dsl.pipeline(name="learning-rate-sweep")
def sweep_pipeline(
    learning_rates: List[float] = [0.00001, 0.001, 0.1],
    accuracy_threshold: float = 0.9,
) -> float:
    """Train once per learning rate in parallel, pick the best, and gate the deployment on it."""
    data = prepare_data()
    with dsl.ParallelFor(items=learning_rates, parallelism=3) as lr:
        scored = train_and_score(train=data.outputs["train"], test=data.outputs["test"], learning_rate=lr)
    best = pick_best(results=dsl.Collected(scored.output))
    with dsl.If(best.outputs["accuracy"] >= accuracy_threshold, name="good-enough"):
        deploy_model(learning_rate=best.outputs["learning_rate"], accuracy=best.outputs["accuracy"])
    with dsl.Else(name="not-good-enough"):
        report_rejection(accuracy=best.outputs["accuracy"], threshold=accuracy_threshold)
    return best.outputs["learning_rate"]
# --8<-- [end:pipeline]


if __name__ == "__main__":
    from kfp import local

    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root="local_outputs")
    print("best learning rate:", sweep_pipeline().output)
