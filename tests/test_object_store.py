"""KFP's object store answers as lab 1.2 expects: the Secret's keys write to `mlpipeline`, other keys are refused.

Runs where a cluster answers and KFLAB_S3_ENDPOINT names its object store: the CI
control plane (`scripts/controlplane env` exports it), or Kind with the port-forward
of lab 1.2's page. A refusal of wrong keys proves that lab 1.2's checkpoint really
used the keys it read from the cluster, as on Kind.
"""

from __future__ import annotations

import base64
import os
import uuid

import pytest

pytestmark = pytest.mark.cluster  # tests/conftest.py: no skip under KFLAB_REQUIRE_CLUSTER=1

SECRET, NAMESPACE, BUCKET = "mlpipeline-minio-artifact", "kubeflow", "mlpipeline"


@pytest.fixture
def store(cluster):
    """(endpoint, access key, secret key) of the cluster's object store."""
    endpoint = os.environ.get("KFLAB_S3_ENDPOINT")
    if not endpoint:
        pytest.skip("no KFLAB_S3_ENDPOINT: run `eval \"$(scripts/controlplane env)\"`, or port-forward minio-service on Kind")
    data = cluster.get("v1", "Secret", SECRET, NAMESPACE).to_dict().get("data") or {}
    keys = {k: base64.b64decode(v).decode() for k, v in data.items()}
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
