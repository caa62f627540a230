"""The doctor's probes of the cluster: the kube context, the API server, the course's components.

Like kflab.doctor_probes, these are pure functions of facts that
kflab.doctor_facts gathers (kubeconfig texts, the server's version, CRD names
and deployment states), so tests/test_doctor.py can feed them fabricated ones.
"""

from __future__ import annotations

import dataclasses

from kflab.doctor_probes import Finding


@dataclasses.dataclass(frozen=True)
class Component:
    """A course component: its CRD says it is installed, its deployments' Available says it is ready."""
    name: str
    key: str  # the name `scripts/cluster install` knows it by
    crd: str
    namespace: str
    deployments: tuple[str, ...]
    profile: str = "lite"


COMPONENTS = (
    Component("Kubeflow Pipelines", "kfp", "scheduledworkflows.kubeflow.org", "kubeflow",
              ("ml-pipeline", "ml-pipeline-ui", "workflow-controller", "seaweedfs", "mysql")),
    Component("Katib", "katib", "experiments.kubeflow.org", "kubeflow",
              ("katib-controller", "katib-db-manager", "katib-mysql", "katib-ui")),
    Component("Trainer", "trainer", "trainjobs.trainer.kubeflow.org", "kubeflow-system",
              ("kubeflow-trainer-controller-manager", "jobset-controller-manager")),
    Component("Training Operator", "training-operator", "pytorchjobs.kubeflow.org", "kubeflow", ("training-operator",)),
    Component("Kueue", "kueue", "clusterqueues.kueue.x-k8s.io", "kueue-system", ("kueue-controller-manager",)),
    Component("Notebook controller", "notebooks", "notebooks.kubeflow.org", "notebook-controller-system",
              ("notebook-controller-deployment",)),
    Component("KServe", "kserve", "inferenceservices.serving.kserve.io", "kserve", ("kserve-controller-manager",), "full"),
    Component("Prometheus Operator", "prometheus-operator", "prometheusrules.monitoring.coreos.com", "default",
              ("prometheus-operator",), "full"),
)


def context(kubeconfigs: list[str], where: str = "~/.kube/config") -> Finding:
    """The current kube context, merged as kubectl merges KUBECONFIG files (first current-context wins)."""
    import yaml

    current, names = None, set()
    if not kubeconfigs and where != "~/.kube/config":
        return Finding("kube context", "fail", f"KUBECONFIG names {where}, and no such file holds anything",
                       "point KUBECONFIG at your cluster's kubeconfig, or unset it (`scripts/cluster up` writes ~/.kube/config)")
    for text in kubeconfigs:
        try:
            doc = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            return Finding("kube context", "fail", f"a kubeconfig file is not valid YAML ({str(exc).splitlines()[0]})",
                           f"repair {where}, or move it aside and run `scripts/cluster up`")
        if not isinstance(doc, dict):
            continue
        current = current or doc.get("current-context") or None
        names |= {c.get("name") for c in doc.get("contexts") or [] if isinstance(c, dict)}
    if not current:
        return Finding("kube context", "fail", "no current context: kubectl does not know which cluster to use",
                       "`scripts/cluster up` creates the cluster and selects kind-kflab")
    if current not in names:
        return Finding("kube context", "fail", f"the current context {current!r} is not defined",
                       "`kubectl config get-contexts`, then `kubectl config use-context kind-kflab`")
    if not current.startswith("kind-"):
        return Finding("kube context", "warn", f"{current}: not a Kind cluster; the cluster checks would run there",
                       "`kubectl config use-context kind-kflab`")
    return Finding("kube context", "ok", current)


def api(has_context: bool, version: str | None, error: str | None, node_minor: str) -> Finding:
    """The API server of the current context answers, at the pinned minor."""
    if not has_context:
        return Finding("API server", "skip", "no context to ask")
    if not version:
        return Finding("API server", "fail", f"no answer ({error or 'unknown error'})",
                       "`docker ps` shows whether the Kind nodes run; `scripts/cluster up` starts or creates the cluster")
    minor = ".".join(version.lstrip("v").split(".")[:2])
    if minor != node_minor:
        return Finding("API server", "warn", f"Kubernetes {version}; the course pins {node_minor}",
                       "`scripts/cluster down` then `scripts/cluster up` recreates it at the pinned version")
    return Finding("API server", "ok", f"Kubernetes {version}")


def components(crds: set[str] | None, deployments: dict[str, dict] | None) -> list[Finding]:
    """Which course components are installed (their CRD) and ready (their deployments Available)."""
    if crds is None:
        return [Finding("components", "skip", "no API to ask")]
    found = []
    for comp in COMPONENTS:
        if comp.crd not in crds:
            status = "info" if comp.profile == "full" else "warn"
            found.append(Finding(comp.name, status, f"not installed ({comp.profile} profile)",
                                 f"scripts/cluster install {comp.key}"))
            continue
        states = {d: (deployments or {}).get(f"{comp.namespace}/{d}") for d in comp.deployments}
        missing = [d for d, s in states.items() if s is None]
        waiting = [d for d, s in states.items() if s is not None and s.get("available", 0) < max(1, s.get("replicas", 1))]
        if missing or waiting:
            what = ", ".join([f"{d} missing" for d in missing] + [f"{d} not Available" for d in waiting])
            found.append(Finding(comp.name, "fail", f"installed, not ready: {what}",
                                 f"kubectl get pods -n {comp.namespace}; kubectl describe pod <pod> -n {comp.namespace} "
                                 f"(Events); then `scripts/cluster install {comp.key}` again"))
        else:
            found.append(Finding(comp.name, "ok", f"ready ({len(comp.deployments)} deployments in {comp.namespace})"))
    return found
