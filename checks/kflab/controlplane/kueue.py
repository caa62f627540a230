"""Kueue outside a cluster: its Configuration, serving certificate and webhooks.

In a cluster Kueue's webhooks are reached through a Service and their certificate
comes from Kueue's internal cert manager. Here Kueue is a local process, so the
webhook configurations come from Kueue's own manifests at the pinned version,
with each `service:` rewritten to `url: https://127.0.0.1:PORT/PATH` and our CA
as caBundle, and Kueue serves the certificate that certs.py issued.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
from pathlib import Path

from kflab import upstream
from kflab.controlplane.layout import HOST, PORTS, Layout
from kflab.versions import component

WEBHOOK_MANIFEST = "config/components/webhook/manifests.yaml"
CRD_KUSTOMIZATION = "config/components/crd/kustomization.yaml"
NAMESPACE = "kueue-system"
# Kueue builds in integrations for many job kinds. Only kinds whose CRDs exist here
# are enabled (TrainJob's integration also needs the JobSet and runtime CRDs).
FRAMEWORKS = {"batch/job": ("batch", "jobs"), "kubeflow.org/pytorchjob": ("kubeflow.org", "pytorchjobs"),
              "trainer.kubeflow.org/trainjob": ("trainer.kubeflow.org", "trainjobs")}
# Kueue 0.19 reads its metrics certificate from this fixed path when its internal
# cert manager is off; there is no setting to move it.
METRICS_CERT_DIR = Path("/etc/kueue/metrics/certs")
ADMISSION = "/apis/admissionregistration.k8s.io/v1"


def configuration(lay: Layout) -> dict:
    """Kueue's Configuration (config.kueue.x-k8s.io/v1beta2); JSON is valid YAML."""
    return {
        "apiVersion": "config.kueue.x-k8s.io/v1beta2",
        "kind": "Configuration",
        "namespace": NAMESPACE,
        "health": {"healthProbeBindAddress": f"{HOST}:{PORTS['kueue-health']}"},
        "metrics": {"bindAddress": f"{HOST}:{PORTS['kueue-metrics']}"},
        "webhook": {"host": HOST, "port": PORTS["kueue-webhook"], "certDir": str(lay.kueue_dir / "certs")},
        "leaderElection": {"leaderElect": False},
        "internalCertManagement": {"enable": False},
        "manageJobsWithoutQueueName": False,
        "integrations": {"frameworks": list(FRAMEWORKS)},
        # The on-demand visibility API is an aggregated apiserver on its own port; the
        # course does not use it and it would need an APIService and a Service.
        "featureGates": {"VisibilityOnDemand": False},
    }


def write_files(lay: Layout) -> Path:
    """The config file and the webhook serving cert (as tls.crt/tls.key) under the state dir."""
    certs = lay.kueue_dir / "certs"
    certs.mkdir(parents=True, exist_ok=True)
    for src, dst in (("kueue-webhook.crt", "tls.crt"), ("kueue-webhook.key", "tls.key")):
        data = (lay.pki / src).read_bytes()
        if (certs / dst).exists() and (certs / dst).read_bytes() == data:
            continue  # a running Kueue watches these files: rewrite only on change
        tmp = certs / (dst + ".tmp")
        tmp.write_bytes(data)
        tmp.chmod(0o600)
        tmp.replace(certs / dst)
    config = lay.kueue_dir / "config.yaml"
    config.write_text(json.dumps(configuration(lay), indent=2) + "\n")
    return config


def ensure_metrics_cert(lay: Layout) -> str | None:
    """Point Kueue's fixed metrics-cert path at our cert dir; None if done, else what to run."""
    target = lay.kueue_dir / "certs"
    if (METRICS_CERT_DIR / "tls.crt").exists():
        return None
    try:
        METRICS_CERT_DIR.parent.mkdir(parents=True, exist_ok=True)
        if METRICS_CERT_DIR.is_symlink():
            METRICS_CERT_DIR.unlink()  # a dangling link from an earlier state dir
        METRICS_CERT_DIR.symlink_to(target)
        return None
    except OSError:
        return f"sudo mkdir -p {METRICS_CERT_DIR.parent} && sudo ln -sfn {target} {METRICS_CERT_DIR}"


def remove_metrics_cert_link(lay: Layout) -> None:
    """Remove the link ensure_metrics_cert made, only if it still points into our state dir."""
    try:
        if METRICS_CERT_DIR.is_symlink() and Path(os.readlink(METRICS_CERT_DIR)) == lay.kueue_dir / "certs":
            METRICS_CERT_DIR.unlink()
    except OSError:
        pass


def documents(text: str) -> list[str]:
    """The YAML documents of a multi-document file that hold an object."""
    return [d.strip() + "\n" for d in re.split(r"^---[ \t]*$", text, flags=re.M) if re.search(r"^kind:", d, re.M)]


def _resources(webhook: dict) -> set[tuple[str, str]]:
    return {(g, r) for rule in webhook.get("rules", []) for g in rule.get("apiGroups", [])
            for r in rule.get("resources", [])}


def rewrite(config: dict, ca_pem: bytes, port: int, enabled: dict[str, tuple[str, str]] = FRAMEWORKS) -> dict:
    """One upstream webhook configuration, pointed at Kueue on 127.0.0.1.

    Webhooks for Kueue's own kinds are kept; those for job kinds are kept only if
    their integration is enabled, since Kueue registers no handler for the others
    and their failurePolicy is Fail. Job webhooks skip kube-system and Kueue's
    namespace, as upstream's kustomization arranges.
    """
    out = copy.deepcopy(config)
    for key in ("creationTimestamp", "generation", "managedFields", "resourceVersion", "uid"):
        out["metadata"].pop(key, None)
    out["metadata"]["name"] = "kueue-" + out["metadata"]["name"]
    wanted = set(enabled.values())
    kept = []
    for hook in out.get("webhooks", []):
        resources = _resources(hook)
        own = all(g == "kueue.x-k8s.io" for g, _ in resources)
        if not own and not resources & wanted:
            continue
        path = hook["clientConfig"].get("service", {}).get("path", "/")
        hook["clientConfig"] = {"url": f"https://{HOST}:{port}{path}",
                                "caBundle": base64.b64encode(ca_pem).decode()}
        if not own:
            hook["namespaceSelector"] = {"matchExpressions": [
                {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system", NAMESPACE]}]}
        kept.append(hook)
    out["webhooks"] = kept
    return out


def webhook_configurations(api, lay: Layout) -> list[dict]:
    """Kueue's upstream webhook configurations, parsed by the apiserver, then rewritten."""
    pin = component("kueue")
    text = upstream.module_file(pin["module"], pin["version"], WEBHOOK_MANIFEST, pin.get("repo")).read_text()
    ca = (lay.pki / "ca.crt").read_bytes()
    out = []
    for doc in documents(text):
        kind = re.search(r"^kind:\s*(\S+)", doc, re.M).group(1)
        collection = f"{ADMISSION}/{kind.lower()}s"
        out.append(rewrite(api.yaml_to_json(collection, doc), ca, PORTS["kueue-webhook"]))
    return out


def apply_webhooks(api, lay: Layout) -> list[str]:
    names = []
    for config in webhook_configurations(api, lay):
        name = config["metadata"]["name"]
        api.apply(f"{ADMISSION}/{config['kind'].lower()}s/{name}", config)
        names.append(name)
    return names


def conversion_crds(kustomization: str) -> list[str]:
    """The CRDs that upstream's kustomization gives a conversion webhook (v1beta1 <-> v1beta2)."""
    found = re.findall(r"^\s*-\s*path:\s*patches/webhook_in_(\w+)\.yaml", kustomization, re.M)
    return [f"{plural}.kueue.x-k8s.io" for plural in found]


def conversion_patch(ca_pem: bytes, port: int) -> dict:
    return {"spec": {"conversion": {"strategy": "Webhook", "webhook": {
        "conversionReviewVersions": ["v1"],
        "clientConfig": {"url": f"https://{HOST}:{port}/convert", "caBundle": base64.b64encode(ca_pem).decode()}}}}}


def enable_conversion(api, lay: Layout) -> list[str]:
    """Send conversions between Kueue's API versions to Kueue, as upstream's install does.

    The CRDs are applied with upstream's `strategy: None` before Kueue can start
    (it needs them); once Kueue serves /convert, the listed ones switch to it.
    """
    pin = component("kueue")
    text = upstream.module_file(pin["module"], pin["version"], CRD_KUSTOMIZATION, pin.get("repo")).read_text()
    patch = conversion_patch((lay.pki / "ca.crt").read_bytes(), PORTS["kueue-webhook"])
    names = conversion_crds(text)
    for name in names:
        api.request("PATCH", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}", patch,
                    "application/merge-patch+json")
    return names


def api_version(api) -> str:
    """kueue.x-k8s.io/v1beta2 if the installed CRDs serve it, else v1beta1."""
    crd = api.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/resourceflavors.kueue.x-k8s.io")
    served = [v["name"] for v in crd["spec"]["versions"] if v.get("served")]
    return "v1beta2" if "v1beta2" in served else served[-1]


def webhook_answers(api) -> bool:
    """A dry-run ResourceFlavor create passes through Kueue's webhooks end to end."""
    version = api_version(api)
    flavor = {"apiVersion": f"kueue.x-k8s.io/{version}", "kind": "ResourceFlavor",
              "metadata": {"name": "kflab-webhook-probe"}}
    api.request("POST", f"/apis/kueue.x-k8s.io/{version}/resourceflavors?dryRun=All", flavor)
    return True
