"""KFP's object store answers as the labs expect.

- Lab 1.2: the Secret's keys write to `mlpipeline`, and other keys are refused (so the
  checkpoint really used the keys it read from the cluster, as on Kind).
- Lab 3.6's page: KServe's storage initializer fetches a model from the store with the
  environment that KServe's own credential builder derives from the page's `models-s3`
  Secret (CI control plane only: its KServe webhook server runs that builder).

Runs where a cluster answers and KFLAB_S3_ENDPOINT names its object store: the CI
control plane (`scripts/controlplane env` exports it), or Kind with the port-forward
of lab 1.2's page.
"""

from __future__ import annotations

import base64
import os
import re
import uuid
from urllib.parse import urlparse

import pytest
import yaml

from kflab import kserve_runtime, paths

pytestmark = pytest.mark.cluster  # tests/conftest.py: no skip under KFLAB_REQUIRE_CLUSTER=1

SECRET, NAMESPACE, BUCKET = "mlpipeline-minio-artifact", "kubeflow", "mlpipeline"


@pytest.fixture
def store(cluster):
    """(endpoint, access key, secret key) of the cluster's object store."""
    endpoint = os.environ.get("KFLAB_S3_ENDPOINT")
    if not endpoint:
        pytest.skip("no KFLAB_S3_ENDPOINT: run `eval \"$(scripts/controlplane env)\"`, or port-forward minio-service on Kind")
    keys = cluster.secret_data(SECRET, NAMESPACE)
    assert {"accesskey", "secretkey"} <= set(keys), f"Secret {NAMESPACE}/{SECRET} lacks accesskey/secretkey: {sorted(keys)}"
    return endpoint, keys["accesskey"], keys["secretkey"]


def _fs(endpoint: str, key: str, secret: str):
    import s3fs
    return s3fs.S3FileSystem(endpoint_url=endpoint, key=key, secret=secret, skip_instance_cache=True)


def test_the_secrets_keys_write_read_and_delete_in_the_bucket(store):
    fs = _fs(*store)
    path = f"{BUCKET}/kflab-tests/{uuid.uuid4().hex[:8]}/probe.txt"
    fs.pipe(path, b"written by tests/test_object_store.py")
    try:
        assert fs.cat(path) == b"written by tests/test_object_store.py", "the object read back differs from the one written"
    finally:
        fs.rm(path)
    assert not fs.exists(path), f"{path} still exists after rm"


def test_wrong_keys_are_refused(store):
    endpoint, key, _ = store
    with pytest.raises(PermissionError):
        _fs(endpoint, key, "not-the-secret-key").ls(BUCKET)


def _page_secret() -> dict:
    """The `models-s3` Secret that lab 3.6's page tells learners to apply."""
    text = (paths.DOCS / "stage3" / "kserve-serving.md").read_text(encoding="utf-8")
    for block in re.findall(r"```yaml\n(.*?)```", text, re.S):
        for doc in yaml.safe_load_all(block):
            if isinstance(doc, dict) and doc.get("kind") == "Secret" and doc["metadata"]["name"] == "models-s3":
                return doc
    raise AssertionError("lab 3.6's page no longer shows the Secret models-s3; update this test")


def _resolve(envs: list[dict], data: dict) -> dict:
    """Env values as the kubelet would set them: a secretKeyRef reads the Secret's data."""
    out = {}
    for e in envs:
        ref = (e.get("valueFrom") or {}).get("secretKeyRef")
        out[e["name"]] = data[ref["key"]] if ref else e.get("value", "")
    return out


def test_storage_initializer_fetches_a_model_with_the_pages_models_reader_secret(store, tmp_path):
    from kflab.controlplane import kserve
    from kflab.controlplane.layout import layout

    if not (layout().pki / "ca.crt").exists():
        pytest.skip("KServe's credential builder runs in the CI control plane's webhook server: scripts/controlplane up")
    endpoint, key, secret_key = store
    page = _page_secret()
    annotations = dict(page["metadata"]["annotations"])
    assert annotations["serving.kserve.io/s3-endpoint"] == "minio-service.kubeflow:9000", (
        "the page's endpoint should be KFP's store inside the cluster, minio-service in kubeflow, port 9000")
    annotations["serving.kserve.io/s3-endpoint"] = urlparse(endpoint).netloc  # the same store, reached from here
    cfg = kserve.s3_credentials_config()
    names = (cfg["s3AccessKeyIDName"], cfg["s3SecretAccessKeyName"])
    assert set(page["stringData"]) == set(names), (
        f"the page's Secret holds {sorted(page['stringData'])}, but KServe's ConfigMap reads the keys from {names}")
    data = dict(zip(names, (key, secret_key)))
    secret = {"metadata": {"name": "models-s3", "annotations": annotations},
              "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}
    env = _resolve(kserve.s3_secret_envs(secret, layout()), data)
    assert env.get("AWS_ACCESS_KEY_ID") == key and env.get("S3_USE_HTTPS") == "0", (
        f"KServe's credential builder did not take the keys and the plain-HTTP setting from the page's Secret: {env}")

    fs = _fs(endpoint, key, secret_key)
    prefix = f"{BUCKET}/kflab-tests/{uuid.uuid4().hex[:8]}/model"
    payload = os.urandom(64)
    fs.pipe(f"{prefix}/model.joblib", payload)
    try:
        models = tmp_path / "mnt" / "models"
        kserve_runtime.initialize(f"s3://{prefix}/", models, env={**env, "HOME": str(tmp_path)})
        fetched = models / "model.joblib"
        assert fetched.is_file() and fetched.read_bytes() == payload, (
            f"the storage initializer put {sorted(p.name for p in models.iterdir())} in /mnt/models, not the model")
    finally:
        fs.rm(prefix, recursive=True)
