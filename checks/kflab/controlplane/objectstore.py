"""KFP's object store beside the control plane: SeaweedFS's S3 gateway, set up as KFP sets it up.

Kubeflow Pipelines' manifests run `weed server -s3 -filer` in namespace `kubeflow`,
behind the Service `minio-service`. The pod's postStart hook makes the bucket
`mlpipeline` and gives the keys of the Secret `mlpipeline-minio-artifact`
(`accesskey`, `secretkey`) an Admin identity, both through `weed shell`. Here the
same binary runs as a process on 127.0.0.1, the same two shell commands set it up,
and the same Secret goes into the API server. Lab 1.2's S3 checkpoint reaches it at
KFLAB_S3_ENDPOINT (which `env` exports) instead of through a port-forward.
"""

from __future__ import annotations

import subprocess
import urllib.error
import urllib.request

from kflab.controlplane import build
from kflab.controlplane.api import Api
from kflab.controlplane.layout import HOST, PORTS, Layout

NAMESPACE = "kubeflow"
SECRET = "mlpipeline-minio-artifact"
BUCKET = "mlpipeline"
USER = "kubeflow-admin"
# The keys KFP's manifests put in that Secret; a Kind install has the same ones.
KEYS = {"accesskey": "minio", "secretkey": "minio123"}


def endpoint() -> str:
    return f"http://{HOST}:{PORTS['seaweedfs-s3']}"


def argv_tail(lay: Layout) -> list[str]:
    """`weed server`'s flags: KFP's (-s3 -filer, no preallocation), on loopback ports, with no phoning home."""
    p = PORTS
    return ["server", f"-dir={lay.seaweedfs_dir}", f"-ip={HOST}", f"-ip.bind={HOST}",
            "-filer", "-s3", "-master.volumePreallocate=false",
            f"-master.port={p['seaweedfs-master']}", f"-volume.port={p['seaweedfs-volume']}",
            f"-filer.port={p['seaweedfs-filer']}", f"-s3.port={p['seaweedfs-s3']}",
            # Small volumes on a CI disk; the Iceberg and Lance endpoints are not needed.
            "-master.volumeSizeLimitMB=64", "-volume.max=0",
            "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false"]


def answers() -> bool:
    """The S3 gateway's /status answers 200 (KFP's readiness probe)."""
    try:
        with urllib.request.urlopen(f"{endpoint()}/status", timeout=5) as resp:
            return resp.status == 200
    except OSError:
        return False


def shell(command: str, timeout_s: float = 60) -> str:
    """One `weed shell` command against this master and filer; its output."""
    argv = [str(build.binaries()["seaweedfs"]), "shell", f"-master={HOST}:{PORTS['seaweedfs-master']}",
            f"-filer={HOST}:{PORTS['seaweedfs-filer']}"]
    proc = subprocess.run(argv, input=command + "\n", capture_output=True, text=True, timeout=timeout_s)
    return proc.stdout + proc.stderr


def anonymous_is_refused() -> bool:
    """Once an identity exists, SeaweedFS checks signatures: an unsigned listing gets 403."""
    try:
        with urllib.request.urlopen(f"{endpoint()}/{BUCKET}", timeout=5):
            return False
    except urllib.error.HTTPError as exc:
        return exc.code == 403
    except OSError:
        return False


def secret() -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": SECRET, "namespace": NAMESPACE},
            "stringData": KEYS}


def configure(api: Api) -> list[str]:
    """The bucket, the Admin identity and the Secret, as KFP's manifests make them; what was done."""
    done = []
    if BUCKET not in shell("s3.bucket.list"):
        shell(f"s3.bucket.create -name {BUCKET}")
        done.append(f"bucket {BUCKET}")
    if USER not in shell("s3.configure"):
        shell(f"s3.configure -user {USER} -access_key {KEYS['accesskey']} -secret_key {KEYS['secretkey']} "
              "-actions Admin -apply")
        done.append(f"identity {USER} (Admin)")
    api.create_if_missing("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                 "metadata": {"name": NAMESPACE}})
    if api.create_if_missing(f"/api/v1/namespaces/{NAMESPACE}/secrets", secret()):
        done.append(f"Secret {NAMESPACE}/{SECRET}")
    return done


def ready() -> bool:
    """The bucket exists and the gateway enforces the identity."""
    return BUCKET in shell("s3.bucket.list") and anonymous_is_refused()
