"""Lab 2.2: a four-step training pipeline: clean -> features -> train -> evaluate.

Check your work with `kflab check 2.2`; run it yourself with `python pipeline.py`.
"""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

IMAGE = "ghcr.io/kubeflow/kubeflow/notebook-servers/jupyter-scipy:v1.10.0"


# --8<-- [start:components]
@dsl.component(base_image=IMAGE)
def clean_data(cleaned: Output[Dataset]):
    """Load the bundled breast-cancer table and drop duplicate and incomplete rows."""
    from sklearn.datasets import load_breast_cancer

    df = load_breast_cancer(as_frame=True).frame
    df = df.drop_duplicates().dropna()
    df.to_csv(cleaned.path, index=False)


@dsl.component(base_image=IMAGE)
def engineer_features(
    cleaned: Input[Dataset],
    train: Output[Dataset],
    test: Output[Dataset],
    test_size: float = 0.2,
    seed: int = 42,
):
    """Split, then standardise every feature with statistics of the train split only."""
    import pandas as pd
    from sklearn.model_selection import train_test_split

    df = pd.read_csv(cleaned.path)
    train_df, test_df = train_test_split(df, test_size=test_size, random_state=seed, stratify=df["target"])
    features = [c for c in df.columns if c != "target"]
    mean, std = train_df[features].mean(), train_df[features].std()
    for part, out in ((train_df, train), (test_df, test)):
        part = part.copy()
        part[features] = (part[features] - mean) / std
        part.to_csv(out.path, index=False)


@dsl.component(base_image=IMAGE)
def train_model(train: Input[Dataset], model: Output[Model], learning_rate: float, epochs: int, seed: int = 42):
    """Fit a logistic-regression model with plain SGD: `learning_rate` and `epochs` matter."""
    import joblib
    import pandas as pd
    from sklearn.linear_model import SGDClassifier

    df = pd.read_csv(train.path)
    clf = SGDClassifier(loss="log_loss", learning_rate="constant", eta0=learning_rate,
                        max_iter=epochs, tol=None, random_state=seed)
    clf.fit(df.drop(columns="target"), df["target"])
    joblib.dump(clf, model.path)  # write *to* model.path
    model.metadata["framework"] = "scikit-learn"


@dsl.component(base_image=IMAGE)
def evaluate_model(test: Input[Dataset], model: Input[Model], metrics: Output[Metrics]) -> float:
    """Score the model on the held-out split; log and return its accuracy."""
    import joblib
    import pandas as pd

    df = pd.read_csv(test.path)
    accuracy = float(joblib.load(model.path).score(df.drop(columns="target"), df["target"]))
    metrics.log_metric("accuracy", accuracy)
    return accuracy
# --8<-- [end:components]


# --8<-- [start:pipeline]
@dsl.pipeline(name="four-step-training")
def training_pipeline(learning_rate: float = 0.01, epochs: int = 20) -> float:
    """Clean, engineer features, train and evaluate; returns the test accuracy."""
    cleaned = clean_data()
    features = engineer_features(cleaned=cleaned.outputs["cleaned"])
    trained = train_model(train=features.outputs["train"], learning_rate=learning_rate, epochs=epochs)
    evaluated = evaluate_model(test=features.outputs["test"], model=trained.outputs["model"])
    return evaluated.outputs["Output"]
# --8<-- [end:pipeline]


if __name__ == "__main__":
    from kfp import local

    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root="local_outputs")
    run = training_pipeline(learning_rate=0.01, epochs=20)
    print(f"accuracy: {run.output:.3f}")
