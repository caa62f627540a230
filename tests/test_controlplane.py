"""Unit tests of scripts/controlplane's pure parts (webhooks, configs, objects, the CLI); no build, no cluster, no network.

The go.mod and pid-file parts are tested in test_controlplane_build.py.
"""

from __future__ import annotations

import base64
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "checks"))

from kflab.controlplane import __main__ as cli  # noqa: E402
from kflab.controlplane import certs, cluster_setup, kserve, kueue, objectstore, run  # noqa: E402
from kflab.controlplane.layout import PORTS, Layout  # noqa: E402


# --- Kueue webhooks and nodes ----------------------------------------------------


def hook(name: str, group: str, resource: str, path: str) -> dict:
    return {
        "name": name,
        "clientConfig": {"service": {"name": "webhook-service", "namespace": "system", "path": path}},
        "rules": [{"apiGroups": [group], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": [resource]}],
        "failurePolicy": "Fail",
    }


UPSTREAM = {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "MutatingWebhookConfiguration",
    "metadata": {"name": "mutating-webhook-configuration", "creationTimestamp": None},
    "webhooks": [
        hook("mclusterqueue.kb.io", "kueue.x-k8s.io", "clusterqueues", "/mutate-kueue-x-k8s-io-v1beta2-clusterqueue"),
        hook("mjob.kb.io", "batch", "jobs", "/mutate-batch-v1-job"),
        hook("mpod.kb.io", "", "pods", "/mutate--v1-pod"),
    ],
}


def test_rewrite_points_webhooks_at_a_local_url_with_our_ca():
    out = kueue.rewrite(UPSTREAM, b"PEM", 19443)
    assert out["metadata"] == {"name": "kueue-mutating-webhook-configuration"}
    urls = {h["name"]: h["clientConfig"] for h in out["webhooks"]}
    assert urls["mjob.kb.io"] == {"url": "https://127.0.0.1:19443/mutate-batch-v1-job",
                                  "caBundle": base64.b64encode(b"PEM").decode()}
    assert UPSTREAM["webhooks"][1]["clientConfig"]["service"], "the input must not be modified"


def test_rewrite_drops_webhooks_of_integrations_that_are_off():
    names = [h["name"] for h in kueue.rewrite(UPSTREAM, b"PEM", 1)["webhooks"]]
    assert names == ["mclusterqueue.kb.io", "mjob.kb.io"]


def test_rewrite_keeps_job_webhooks_out_of_system_namespaces():
    hooks = {h["name"]: h for h in kueue.rewrite(UPSTREAM, b"PEM", 1)["webhooks"]}
    values = hooks["mjob.kb.io"]["namespaceSelector"]["matchExpressions"][0]["values"]
    assert values == ["kube-system", "kueue-system"]
    assert "namespaceSelector" not in hooks["mclusterqueue.kb.io"]


KSERVE_HOOKS = {
    "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
    "metadata": {"name": "inferenceservice.serving.kserve.io", "creationTimestamp": None},
    "webhooks": [
        {"name": "inferenceservice.kserve-webhook-server.defaulter", "failurePolicy": "Fail",
         "clientConfig": {"service": {"name": "$(webhookServiceName)", "path": "/mutate-serving-kserve-io-v1beta1-inferenceservice"}},
         "rules": [{"apiGroups": ["serving.kserve.io"], "resources": ["inferenceservices"]}]},
        {"name": "inferenceservice.kserve-webhook-server.pod-mutator",
         "clientConfig": {"service": {"name": "$(webhookServiceName)", "path": "/mutate-pods"}},
         "rules": [{"apiGroups": [""], "resources": ["pods"]}]},
    ],
}


def test_kserve_registrations_keep_only_the_inferenceservice_hooks_on_a_local_url():
    out = kserve.rewrite(KSERVE_HOOKS, b"PEM", 19444)
    assert out["metadata"] == {"name": "kserve-inferenceservice.serving.kserve.io"}
    assert [h["name"] for h in out["webhooks"]] == ["inferenceservice.kserve-webhook-server.defaulter"], (
        "the pod mutator needs KServe's controller, and a Fail policy with no server would block every pod")
    hook = out["webhooks"][0]
    assert hook["clientConfig"] == {"url": "https://127.0.0.1:19444/mutate-serving-kserve-io-v1beta1-inferenceservice",
                                    "caBundle": base64.b64encode(b"PEM").decode()}
    assert hook["failurePolicy"] == "Fail", "everything else in the hook is upstream's"
    assert KSERVE_HOOKS["webhooks"][0]["clientConfig"]["service"], "the input must not be modified"


def test_kserve_configmap_is_upstreams_with_standard_as_the_default_mode():
    import json

    cm = kserve.configmap()
    assert (cm["metadata"]["name"], cm["metadata"]["namespace"]) == ("inferenceservice-config", kserve.NAMESPACE)
    assert json.loads(cm["data"]["deploy"])["defaultDeploymentMode"] == "Standard", "the course's Kind install sets Standard"
    assert "storageInitializer" in cm["data"], "the rest is KServe's own, at the pinned version"


def test_kueue_configuration_turns_off_internal_certs_and_serves_locally(tmp_path):
    from kflab.controlplane.layout import Layout

    config = kueue.configuration(Layout(tmp_path))
    assert config["internalCertManagement"] == {"enable": False}
    assert config["webhook"]["host"] == "127.0.0.1"
    assert config["webhook"]["certDir"] == str(tmp_path / "kueue" / "certs")
    assert "batch/job" in config["integrations"]["frameworks"]


def test_documents_splits_a_multi_document_file():
    text = "---\napiVersion: v1\nkind: A\n---\n# only a comment\n---\nkind: B\n"
    assert [d.split("kind: ")[1].strip() for d in kueue.documents(text)] == ["A", "B"]


CRD = """\
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  annotations:
    controller-gen.kubebuilder.io/version: v0.16.1
  labels:
    name: not-this-one
  name: trainjobs.trainer.kubeflow.org
spec:
  names:
    kind: TrainJob
"""


def test_object_name_is_metadata_name_not_a_nested_name():
    assert cluster_setup.object_name(cluster_setup.single_document(CRD)) == "trainjobs.trainer.kubeflow.org"


def test_object_name_accepts_quotes_and_other_indents():
    text = 'apiVersion: v1\nkind: X\nmetadata:\n    name: "a.b.c"\n'
    assert cluster_setup.object_name(text) == "a.b.c"


def test_single_document_refuses_a_file_with_two_objects():
    with pytest.raises(ValueError, match="found 2"):
        cluster_setup.single_document(CRD + "---\n" + CRD)


def test_fake_gpu_node_advertises_gpus_and_is_tainted():
    gpu = [n for n in cluster_setup.nodes() if "nvidia.com/gpu" in n["status"]["capacity"]]
    assert [n["metadata"]["name"] for n in gpu] == ["kwok-gpu-1"]
    assert gpu[0]["status"]["allocatable"]["nvidia.com/gpu"] == "8"
    assert gpu[0]["metadata"]["labels"]["nvidia.com/gpu.present"] == "true"
    assert gpu[0]["spec"]["taints"] == [cluster_setup.GPU_TAINT]
    assert all(n["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake" for n in cluster_setup.nodes())


def test_leaf_extensions_carry_sans_and_usage():
    leaf = next(x for x in certs.LEAVES if x.name == "apiserver")
    ext = certs.extensions(leaf)
    assert "extendedKeyUsage=serverAuth" in ext and "IP:127.0.0.1" in ext
    admin = next(x for x in certs.LEAVES if x.name == "admin")
    assert "O=system:masters" in admin.subject and "subjectAltName" not in certs.extensions(admin)


def test_kubeconfig_names_the_identitys_files(tmp_path):
    text = certs.kubeconfig("https://127.0.0.1:1", tmp_path, "kwok")
    assert f"client-certificate: {tmp_path / 'kwok.crt'}" in text and "server: https://127.0.0.1:1" in text


@pytest.mark.parametrize("command", ["build", "up", "down", "status", "env"])
def test_every_subcommand_parses(command):
    assert cli.parser().parse_args([command]).command == command


def test_conversion_crds_follow_upstreams_uncommented_patches():
    kustomization = """\
patches:
- path: patches/webhook_in_localqueues.yaml
- path: patches/webhook_in_workloads.yaml
#- path: patches/webhook_in_resourceflavors.yaml
#- path: patches/cainjection_in_localqueues.yaml
"""
    assert kueue.conversion_crds(kustomization) == ["localqueues.kueue.x-k8s.io", "workloads.kueue.x-k8s.io"]


def test_conversion_patch_sends_reviews_to_kueue_on_localhost():
    webhook = kueue.conversion_patch(b"PEM", 19443)["spec"]["conversion"]["webhook"]
    assert webhook["clientConfig"]["url"] == "https://127.0.0.1:19443/convert"


def test_no_two_listeners_share_a_port_counting_seaweedfs_grpc_ports():
    # Each SeaweedFS server also listens on its port + 10000 for gRPC.
    ports = list(PORTS.values()) + [p + 10000 for name, p in PORTS.items() if name.startswith("seaweedfs-")]
    assert len(ports) == len(set(ports)), f"two components would listen on one port: {sorted(ports)}"


def test_seaweedfs_runs_as_kfp_runs_it_but_on_loopback_and_without_telemetry(tmp_path):
    flags = objectstore.argv_tail(Layout(tmp_path))
    assert flags[0] == "server" and {"-s3", "-filer", "-master.volumePreallocate=false"} <= set(flags)
    assert {"-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-master.telemetry=false"} <= set(flags), \
        "the object store must listen on loopback only and never report to SeaweedFS's telemetry server"
    assert f"-s3.port={PORTS['seaweedfs-s3']}" in flags and f"-dir={tmp_path / 'seaweedfs'}" in flags
    assert {"-s3.port.iceberg=0", "-s3.port.lance=0"} <= set(flags), "extra listeners on default ports could collide"


def test_the_secret_holds_the_keys_lab_1_2_reads_under_kfps_names():
    data = objectstore.secret()
    assert data["metadata"] == {"name": "mlpipeline-minio-artifact", "namespace": "kubeflow"}
    assert set(data["stringData"]) == {"accesskey", "secretkey"}


def test_env_exports_the_kubeconfig_and_the_object_store_endpoint():
    out = subprocess.run(["bash", "-c", f"eval {shlex.quote(run.env())}; echo $KFLAB_S3_ENDPOINT; echo $KUBECONFIG"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == f"http://127.0.0.1:{PORTS['seaweedfs-s3']}" and out[1].endswith("kubeconfig")


def test_kserve_reads_s3_keys_under_the_names_its_configmap_gives():
    cfg = kserve.s3_credentials_config()
    assert (cfg["s3AccessKeyIDName"], cfg["s3SecretAccessKeyName"]) == ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"), (
        "lab 3.6's page puts the keys in its Secret under AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; KServe's ConfigMap changed")
