"""Lab 3.8 (capstone): train a model, gate it on its accuracy, and deploy it with KServe from the pipeline.

Check your work with `kflab check 3.8`; run it yourself with `python pipeline.py`.
"""

from kfp import dsl
from kfp.dsl import Artifact, Input, Model, Output

IMAGE = "ghcr.io/kubeflow/kubeflow/notebook-servers/jupyter-scipy:v1.10.0"
KUBECTL = "registry.k8s.io/kubectl:v1.35.0"


# --8<-- [start:train]
@dsl.component(base_image=IMAGE)
def train_model(model: Output[Model], learning_rate: float = 0.01, epochs: int = 20, seed: int = 42) -> float:
    """Fit scaler + classifier as one sklearn Pipeline; save it where KServe's sklearn runtime looks; return test accuracy."""
    import os

    import joblib
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import SGDClassifier
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features, target = load_breast_cancer(return_X_y=True, as_frame=True)
    x_train, x_test, y_train, y_test = train_test_split(features, target, test_size=0.2, random_state=seed, stratify=target)
    clf = make_pipeline(StandardScaler(), SGDClassifier(loss="log_loss", learning_rate="constant", eta0=learning_rate,
                                                        max_iter=epochs, tol=None, random_state=seed))
    clf.fit(x_train, y_train)
    # KServe downloads storageUri into /mnt/models and loads the one model.joblib it finds there:
    # so the artifact is a folder, with the model inside under that name.
    os.makedirs(model.path, exist_ok=True)
    joblib.dump(clf, os.path.join(model.path, "model.joblib"))
    model.metadata["framework"] = "scikit-learn"
    return float(clf.score(x_test, y_test))
# --8<-- [end:train]


# --8<-- [start:build]
@dsl.component(base_image=IMAGE)
def build_inference_service(model: Input[Model], manifest: Output[Artifact], name: str, namespace: str,
                            service_account: str = "models-reader"):
    """Write the InferenceService that serves `model` from the object store, as JSON (which kubectl reads)."""
    import json

    uri = model.uri
    if uri.startswith("minio://"):  # KFP's name for its own object store; KServe speaks S3 to it
        uri = "s3://" + uri[len("minio://"):]
    uri = uri.rstrip("/") + "/"  # a folder: without the slash, a sibling such as .../model_card would match too
    isvc = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": name, "namespace": namespace,
                     "annotations": {"serving.kserve.io/deploymentMode": "Standard"}},
        "spec": {"predictor": {
            "serviceAccountName": service_account,  # its Secret holds the S3 keys and endpoint (lab 3.6)
            "model": {"modelFormat": {"name": "sklearn"}, "storageUri": uri},
        }},
    }
    with open(manifest.path, "w") as out:
        json.dump(isvc, out, indent=2)
# --8<-- [end:build]


# --8<-- [start:apply]
@dsl.container_component
def apply_manifest(manifest: Input[Artifact]):
    """`kubectl apply` the manifest from inside the cluster, as the pipeline's service account."""
    return dsl.ContainerSpec(image=KUBECTL, command=["/bin/kubectl", "apply", "-f"], args=[manifest.path])
# --8<-- [end:apply]


# --8<-- [start:pipeline]
@dsl.pipeline(name="train-gate-deploy")
def train_and_deploy(
    learning_rate: float = 0.01,
    min_accuracy: float = 0.95,
    model_name: str = "cancer-classifier",
    namespace: str = "models",
    deploy: bool = False,
) -> float:
    """Train; if the model is good enough, write its InferenceService, and apply it when `deploy` is true."""
    trained = train_model(learning_rate=learning_rate)
    with dsl.If(trained.outputs["Output"] >= min_accuracy, name="good-enough"):
        built = build_inference_service(model=trained.outputs["model"], name=model_name, namespace=namespace)
        with dsl.If(deploy == True, name="deploy-requested"):  # noqa: E712 (KFP builds the condition from ==)
            applied = apply_manifest(manifest=built.outputs["manifest"])
            applied.set_caching_options(False)  # a step with side effects runs every time it is asked to
    return trained.outputs["Output"]
# --8<-- [end:pipeline]


if __name__ == "__main__":
    from kfp import local

    # Locally, deploy stays false: kfp.local's SubprocessRunner cannot run the kubectl container.
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root="local_outputs")
    print(f"test accuracy: {train_and_deploy().output:.3f}; the InferenceService is under local_outputs/")
