"""Lab 2.1: a lightweight component that splits a dataset into train and test.

Check your work with `kflab check 2.1`; run it yourself with `python components.py`.
"""

from kfp import dsl
from kfp.dsl import Dataset, Input, Output

# An image that already has pandas and scikit-learn, pinned by tag, so a cluster run
# installs neither (only KFP's own kfp package). Locally, kfp.local runs the code in your environment.
IMAGE = "ghcr.io/kubeflow/kubeflow/notebook-servers/jupyter-scipy:v1.10.0"


# --8<-- [start:component]
@dsl.component(base_image=IMAGE)
def data_preprocessing(
    input_data: Input[Dataset],
    train_data: Output[Dataset],
    test_data: Output[Dataset],
    test_size: float = 0.2,
    random_state: int = 42,
):
    """Split a CSV with a `target` column into stratified train and test CSVs."""
    import pandas as pd
    from sklearn.model_selection import train_test_split

    df = pd.read_csv(input_data.path)
    train_df, test_df = train_test_split(
        df, test_size=test_size, random_state=random_state, stratify=df["target"]
    )
    # Write *to* the paths KFP gives us; never assign to `.path`.
    train_df.to_csv(train_data.path, index=False)
    test_df.to_csv(test_data.path, index=False)
# --8<-- [end:component]


@dsl.pipeline(name="split-demo")
def split_demo(data_uri: str, test_size: float = 0.2):
    """Import a CSV by URI and split it: the smallest pipeline around the component."""
    raw = dsl.importer(artifact_uri=data_uri, artifact_class=Dataset, reimport=False)
    data_preprocessing(input_data=raw.output, test_size=test_size)


if __name__ == "__main__":
    import tempfile
    from pathlib import Path

    from kfp import local
    from sklearn.datasets import load_breast_cancer

    workdir = Path(tempfile.mkdtemp(prefix="lab21-"))
    csv = workdir / "breast_cancer.csv"
    load_breast_cancer(as_frame=True).frame.to_csv(csv, index=False)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(workdir / "outputs"))
    split_demo(data_uri=str(csv))
    print(f"Outputs are under {workdir / 'outputs'}")
