"""KServe's InferenceService webhooks outside a cluster: their ConfigMap and registrations.

KServe's controller needs a real cluster, but its admission webhooks for
InferenceServices are plain functions. kserve_webhook.go serves KServe's own
defaulter and validator at the pinned version; here their registrations come from
KServe's webhook manifests, each `service:` rewritten to `url: https://127.0.0.1:PORT/PATH`
(as kueue.py does for Kueue), and the defaulter gets the `inferenceservice-config`
ConfigMap it reads, from KServe's manifests too, with Standard as the default mode
(the course's Kind install sets the same).
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.request

import yaml

from kflab import upstream
from kflab.controlplane.api import ApiError
from kflab.controlplane.kueue import ADMISSION
from kflab.controlplane.layout import HOST, PORTS, Layout
from kflab.versions import component

NAMESPACE = "kserve"  # KServe's constants.KServeNamespace: where the defaulter reads its ConfigMap
WEBHOOK_MANIFEST = "config/webhook/manifests.yaml"
CONFIGMAP = "config/configmap/inferenceservice.yaml"
RESOURCE = ("serving.kserve.io", "inferenceservices")


def _upstream(path: str) -> str:
    pin = component("kserve")
    return upstream.module_file(pin["module"], pin["version"], path, pin.get("repo")).read_text()


def configmap() -> dict:
    """KServe's inferenceservice-config, with Standard as the default mode."""
    cm = yaml.safe_load(_upstream(CONFIGMAP))
    deploy = json.loads(cm["data"]["deploy"])
    deploy["defaultDeploymentMode"] = "Standard"
    cm["data"]["deploy"] = json.dumps(deploy)
    return cm


def rewrite(config: dict, ca_pem: bytes, port: int) -> dict:
    """One upstream registration, keeping only the hooks for InferenceServices, pointed at 127.0.0.1."""
    out = {"apiVersion": config["apiVersion"], "kind": config["kind"],
           "metadata": {"name": "kserve-" + config["metadata"]["name"]}, "webhooks": []}
    for hook in config.get("webhooks", []):
        covered = {(g, r) for rule in hook.get("rules", []) for g in rule.get("apiGroups", [])
                   for r in rule.get("resources", [])}
        if RESOURCE not in covered:
            continue  # the pod mutator and others need KServe's controller
        hook = dict(hook)
        path = hook["clientConfig"]["service"]["path"]
        hook["clientConfig"] = {"url": f"https://{HOST}:{port}{path}", "caBundle": base64.b64encode(ca_pem).decode()}
        out["webhooks"].append(hook)
    return out


def webhook_configurations(lay: Layout) -> list[dict]:
    """KServe's registrations (their `$(...)` service placeholders are replaced by URLs, so never sent)."""
    ca = (lay.pki / "ca.crt").read_bytes()
    configs = [rewrite(doc, ca, PORTS["kserve-webhook"]) for doc in yaml.safe_load_all(_upstream(WEBHOOK_MANIFEST)) if doc]
    return [c for c in configs if c["webhooks"]]


def apply(api, lay: Layout) -> list[str]:
    """The ConfigMap, then the webhook registrations; returns the registrations' names."""
    api.create_if_missing("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    cm = configmap()
    api.apply(f"/api/v1/namespaces/{NAMESPACE}/configmaps/{cm['metadata']['name']}", cm)
    names = []
    for config in webhook_configurations(lay):
        name = config["metadata"]["name"]
        api.apply(f"{ADMISSION}/{config['kind'].lower()}s/{name}", config)
        names.append(f"{config['kind']} {name}")  # upstream gives the mutating and validating ones one name
    return names


def _probe() -> dict:
    """An InferenceService that only KServe's validator refuses: a canary outside Standard mode."""
    model = {"modelFormat": {"name": "sklearn"}, "storageUri": "s3://probe/v1"}
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": "kflab-webhook-probe", "annotations": {"serving.kserve.io/deploymentMode": "Knative"}},
            "spec": {"predictor": {"model": model},
                     "canary": [{"trafficPercent": 10, "predictor": {"name": "v2", "model": {**model, "name": "kserve-container"}}}]}}


def webhook_answers(api) -> bool:
    """The apiserver calls KServe's webhooks: a dry run of the probe is refused with the validator's own words."""
    try:
        api.request("POST", f"/apis/serving.kserve.io/v1beta1/namespaces/{NAMESPACE}/inferenceservices?dryRun=All", _probe())
    except ApiError as exc:
        return "canary is only supported in Standard deployment mode" in str(exc)
    return False


def s3_credentials_config() -> dict:
    """The `s3` part of KServe's `credentials` setting (which Secret keys hold the AWS keys, and defaults)."""
    return json.loads(configmap()["data"]["credentials"])["s3"]


def s3_secret_envs(secret: dict, lay: Layout) -> list[dict]:
    """The environment KServe's controller gives a predictor's storage initializer for this S3 Secret.

    Asks kserve_webhook.go, which runs KServe's own credential builder (`s3.BuildSecretEnvs`)
    with the `s3` settings of KServe's ConfigMap.
    """
    ctx = ssl.create_default_context(cafile=str(lay.pki / "ca.crt"))
    body = json.dumps({"secret": secret, "s3Config": s3_credentials_config()}).encode()
    req = urllib.request.Request(f"https://{HOST}:{PORTS['kserve-webhook']}/s3-secret-envs", data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
        return json.loads(resp.read())
