"""Where the running control plane keeps its state, and which local ports it uses.

The ports sit away from the usual ones (6443, 2379, 9443, 8080...) so that the
control plane can run beside a Kind cluster or a developer's own services.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kflab import paths

HOST = "127.0.0.1"
PORTS = {
    "etcd": 12379,
    "etcd-peer": 12380,
    "kube-apiserver": 16443,
    "kube-controller-manager": 20257,
    "kube-scheduler": 20259,
    "kwok": 20247,
    "kueue-webhook": 19443,
    "kueue-health": 18081,
    "kueue-metrics": 18443,
    "kserve-webhook": 19444,
    # SeaweedFS: each server also listens on its port + 10000 for gRPC.
    "seaweedfs-master": 17333,
    "seaweedfs-volume": 17080,
    "seaweedfs-filer": 17888,
    "seaweedfs-s3": 17833,
}
# The order in which `up` starts components; `down` stops them in reverse.
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kueue", "kserve-webhook",
              "seaweedfs")


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd"

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig that `env` exports."""
        return self.root / "kubeconfig"

    def kubeconfig_for(self, identity: str) -> Path:
        return self.root / "kubeconfigs" / f"{identity}.kubeconfig"

    def pidfile(self, component: str) -> Path:
        return self.root / "run" / f"{component}.pid"

    def logfile(self, component: str) -> Path:
        return self.root / "logs" / f"{component}.log"

    @property
    def kueue_dir(self) -> Path:
        return self.root / "kueue"

    @property
    def seaweedfs_dir(self) -> Path:
        """SeaweedFS's volumes and metadata (the object store's data)."""
        return self.root / "seaweedfs"

    def mkdirs(self) -> None:
        for sub in ("run", "logs", "kubeconfigs", "kueue", "seaweedfs"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.etcd_data.mkdir(mode=0o700, exist_ok=True)


def layout() -> Layout:
    return Layout(paths.state_dir() / "controlplane")


def server() -> str:
    return f"https://{HOST}:{PORTS['kube-apiserver']}"
