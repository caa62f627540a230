"""Lab 2.4: production settings: resources, caching, retries, secrets, pinned packages, pipeline root.

Check your work with `kflab check 2.4` (it compiles the pipeline; nothing runs).
Compile it yourself with `kfp dsl compile --py pipeline.py --output pipeline.yaml`.
"""

from kfp import dsl, kubernetes
from kfp.dsl import Dataset, Input, Model, Output

# Pin everything a task installs: the same code then gets the same libraries on
# every run, this month and next year.
BASE_IMAGE = "python:3.11.11-slim"
PACKAGES = ["pandas", "scikit-learn"]  # TODO: pin exact versions (pandas==2.2.3, scikit-learn==1.5.2)


# --8<-- [start:components]
@dsl.component(base_image=BASE_IMAGE, packages_to_install=PACKAGES)
def fetch_data(raw: Output[Dataset]):
    """Fetch the latest data (here: the bundled table). Credentials arrive as env vars."""
    import os

    from sklearn.datasets import load_breast_cancer

    # On a cluster these come from the `s3-credentials` Secret; locally they may be unset.
    print("fetching with access key", "set" if os.environ.get("AWS_ACCESS_KEY_ID") else "unset")
    load_breast_cancer(as_frame=True).frame.to_csv(raw.path, index=False)


@dsl.component(base_image=BASE_IMAGE, packages_to_install=PACKAGES + ["joblib"])
def train_forest(raw: Input[Dataset], model: Output[Model], n_estimators: int = 100):
    """Fit a random forest: the step that needs real CPU and memory."""
    import joblib
    import pandas as pd
    from sklearn.ensemble import RandomForestClassifier

    df = pd.read_csv(raw.path)
    clf = RandomForestClassifier(n_estimators=n_estimators, random_state=0, n_jobs=2)
    joblib.dump(clf.fit(df.drop(columns="target"), df["target"]), model.path)
# --8<-- [end:components]


# --8<-- [start:pipeline]
@dsl.pipeline(name="production-settings")  # TODO: store artifacts in the cluster's store: pipeline_root="minio://mlpipeline/v2/artifacts"
def production_pipeline(n_estimators: int = 100):
    """Fetch fresh data (never cached), then train with resources and retries."""
    fetch = fetch_data()
    # TODO: never serve fetch_data from the cache: it must fetch the latest data every run.
    # TODO: expose the `s3-credentials` Secret's keys `accesskey` and `secretkey` as the env
    #       vars AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY with kfp.kubernetes.use_secret_as_env.

    train = train_forest(raw=fetch.outputs["raw"], n_estimators=n_estimators)
    # TODO: request 1 CPU and 2Gi of memory for training, with limits of 2 CPUs and 4Gi.
    # TODO: retry training 3 times, 30s apart at first, doubling each time.
# --8<-- [end:pipeline]
