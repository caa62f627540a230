"""The thin layer that gathers the doctor's facts from this machine.

Every gatherer answers within a few seconds and never raises: a missing tool,
file or cluster is a fact like any other, for the probes to judge.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

from kflab import paths, promtool, tomlfile
from kflab.doctor_cluster import COMPONENTS
from kflab.doctor_probes import Command

TIMEOUT_S = 10


@dataclasses.dataclass
class Facts:
    platform: str
    repo: str
    proc_version: str | None = None
    docker: Command | None = None
    kind: Command | None = None
    kubectl: Command | None = None
    helm: Command | None = None
    promtool: str | None = None
    packages: dict[str, str | None] = dataclasses.field(default_factory=dict)  # requirement -> installed version
    cpus: int | None = None
    memory: int | None = None
    inotify_instances: str | None = None
    inotify_watches: str | None = None
    nofile: int | None = None
    kubeconfigs: list[str] = dataclasses.field(default_factory=list)
    kubeconfig_source: str = "~/.kube/config"  # what KUBECONFIG names, when it is set
    api_version: str | None = None
    api_error: str | None = None
    crds: set[str] | None = None
    deployments: dict[str, dict] | None = None


def command(*argv: str) -> Command | None:
    """Run a tool; None when it is not installed."""
    if not shutil.which(argv[0]):
        return None
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return Command(124, "", f"{argv[0]} did not answer within {TIMEOUT_S}s")
    except OSError as exc:
        return Command(126, "", str(exc))
    return Command(proc.returncode, proc.stdout, proc.stderr)


def read(path: str) -> str | None:
    try:
        return Path(path).read_text(errors="replace").strip()
    except OSError:
        return None


def memory_bytes() -> int | None:
    if sys.platform == "darwin":
        out = command("sysctl", "-n", "hw.memsize")
        return int(out.out) if out and out.out.strip().isdigit() else None
    for line in (read("/proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return None


def open_files_limit() -> int | None:
    try:
        import resource
    except ImportError:  # Windows without WSL
        return None
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return -1 if soft == resource.RLIM_INFINITY else soft


def installed_packages() -> dict[str, str | None]:
    """pyproject.toml's requirements, each with the version of it that this Python has, or None."""
    from packaging.requirements import Requirement

    found = {}
    for spec in tomlfile.load(paths.REPO / "pyproject.toml")["project"]["dependencies"]:
        try:
            found[spec] = importlib.metadata.version(Requirement(spec).name)
        except importlib.metadata.PackageNotFoundError:
            found[spec] = None
    return found


def kubeconfig_texts() -> list[str]:
    files = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    return [t for t in (read(f) for f in files.split(os.pathsep) if f) if t]


def cluster(facts: Facts) -> None:
    """The API's version, the CRDs and the course's deployments, through the kubernetes client."""
    from kflab import k8s

    api = k8s.api_client()
    if api is None:
        facts.api_error = "no usable kubeconfig"
        return
    from kubernetes import client

    try:
        facts.api_version = client.VersionApi(api).get_code(_request_timeout=5).git_version
    except Exception as exc:  # connection refused, TLS, timeouts: all mean "no answer"
        facts.api_error = str(getattr(exc, "reason", None) or exc).splitlines()[0][:160]
        return
    try:
        crds = client.ApiextensionsV1Api(api).list_custom_resource_definition(_request_timeout=10)
        facts.crds = {c.metadata.name for c in crds.items}
        apps, facts.deployments = client.AppsV1Api(api), {}
        for ns in sorted({c.namespace for c in COMPONENTS}):
            for d in apps.list_namespaced_deployment(ns, _request_timeout=10).items:
                facts.deployments[f"{ns}/{d.metadata.name}"] = {
                    "replicas": d.spec.replicas or 0, "available": (d.status.available_replicas or 0)}
    except Exception as exc:
        facts.api_error = f"listing CRDs and deployments failed: {str(exc).splitlines()[0][:160]}"
        facts.crds = facts.deployments = None


def gather(with_cluster: bool = True) -> Facts:
    facts = Facts(platform=sys.platform, repo=str(paths.REPO), proc_version=read("/proc/version"))
    facts.docker = command("docker", "info", "--format", "{{json .}}")
    facts.kind = command("kind", "version")
    facts.kubectl = command("kubectl", "version", "--client", "-o", "json")
    facts.helm = command("helm", "version", "--short")
    facts.promtool = str(promtool.binary()) if promtool.binary().exists() else None
    facts.packages = installed_packages()
    facts.cpus, facts.memory = os.cpu_count(), memory_bytes()
    facts.inotify_instances = read("/proc/sys/fs/inotify/max_user_instances")
    facts.inotify_watches = read("/proc/sys/fs/inotify/max_user_watches")
    facts.nofile = open_files_limit()
    facts.kubeconfigs = kubeconfig_texts()
    facts.kubeconfig_source = os.environ.get("KUBECONFIG") or facts.kubeconfig_source
    if with_cluster and (facts.kubeconfigs or os.environ.get("KUBERNETES_SERVICE_HOST")):
        cluster(facts)
    return facts
