"""Certificates and kubeconfigs for the control plane, made with the openssl command.

One CA signs everything: the apiserver's and Kueue's serving certificates and one
client certificate per identity. The admin identity is in group system:masters;
the controller-manager and scheduler use the names that Kubernetes' bootstrap RBAC
already grants their permissions to, so RBAC is exercised as in a real cluster.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

DAYS = 365
# ECDSA P-256: quick to generate on a busy 2-core machine, and every component accepts it.
EC_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1")
LOCAL_SANS = ("IP:127.0.0.1", "DNS:localhost")


@dataclass(frozen=True)
class Leaf:
    name: str
    subject: str
    usage: str  # extendedKeyUsage: serverAuth or clientAuth
    sans: tuple[str, ...] = ()


LEAVES = (
    Leaf(
        "apiserver",
        "/CN=kube-apiserver",
        "serverAuth",
        LOCAL_SANS + ("IP:10.96.0.1", "DNS:kubernetes", "DNS:kubernetes.default", "DNS:kubernetes.default.svc"),
    ),
    Leaf("admin", "/O=system:masters/CN=kflab-admin", "clientAuth"),
    Leaf("kube-controller-manager", "/CN=system:kube-controller-manager", "clientAuth"),
    Leaf("kube-scheduler", "/CN=system:kube-scheduler", "clientAuth"),
    # kwok writes node and pod status for every fake node; Kueue gets admin rights
    # instead of its upstream ClusterRole, which would be one more thing to keep in sync.
    Leaf("kwok", "/O=system:masters/CN=kflab-kwok", "clientAuth"),
    Leaf("kueue", "/O=system:masters/CN=kflab-kueue", "clientAuth"),
    Leaf("kueue-webhook", "/CN=kueue-webhook", "serverAuth", LOCAL_SANS),
    Leaf("kserve", "/O=system:masters/CN=kflab-kserve", "clientAuth"),  # its defaulter reads a ConfigMap
    Leaf("kserve-webhook", "/CN=kserve-webhook", "serverAuth", LOCAL_SANS),
    # The apiserver's identity towards aggregated APIs. Without a request-header CA the
    # controller-manager and scheduler log an error every few seconds.
    Leaf("front-proxy-client", "/CN=front-proxy-client", "clientAuth"),
)


class CertError(RuntimeError):
    """openssl failed; the message carries its output."""


def _openssl(*args: str) -> None:
    proc = subprocess.run(["openssl", *args], capture_output=True, text=True)
    if proc.returncode:
        raise CertError(f"openssl {args[0]} failed: {proc.stderr.strip()}")


def extensions(leaf: Leaf) -> str:
    """The x509 v3 extensions for one leaf certificate, as an openssl extfile."""
    lines = [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature",
        f"extendedKeyUsage={leaf.usage}",
    ]
    if leaf.sans:
        lines.append("subjectAltName=" + ",".join(leaf.sans))
    return "\n".join(lines) + "\n"


def _make_leaf(pki: Path, leaf: Leaf) -> None:
    key, crt = pki / f"{leaf.name}.key", pki / f"{leaf.name}.crt"
    with tempfile.TemporaryDirectory() as tmp:
        csr, ext = Path(tmp, "req.csr"), Path(tmp, "ext.cnf")
        ext.write_text(extensions(leaf))
        _openssl("req", "-new", *EC_KEY, "-nodes", "-keyout", str(key), "-out", str(csr),
                 "-subj", leaf.subject)
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(pki / "ca.crt"), "-CAkey", str(pki / "ca.key"),
                 "-set_serial", "0x" + os.urandom(8).hex(), "-days", str(DAYS),
                 "-extfile", str(ext), "-out", str(crt))
    key.chmod(0o600)


def ensure(pki: Path) -> list[str]:
    """Create whatever is missing; a new CA re-issues every leaf. Returns what was made."""
    pki.mkdir(parents=True, exist_ok=True)
    made = []
    if not (pki / "ca.crt").exists() or not (pki / "ca.key").exists():
        _openssl("req", "-x509", *EC_KEY, "-nodes", "-keyout", str(pki / "ca.key"),
                 "-out", str(pki / "ca.crt"), "-days", str(DAYS * 10), "-subj", "/CN=kflab-controlplane-ca",
                 "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        (pki / "ca.key").chmod(0o600)
        made.append("ca")
        for leaf in LEAVES:
            (pki / f"{leaf.name}.crt").unlink(missing_ok=True)
    for leaf in LEAVES:
        if not (pki / f"{leaf.name}.crt").exists():
            _make_leaf(pki, leaf)
            made.append(leaf.name)
    if not (pki / "sa.key").exists() or not (pki / "sa.pub").exists():
        # Service-account tokens are signed with this pair, not with a certificate.
        _openssl("genrsa", "-out", str(pki / "sa.key"), "2048")
        _openssl("rsa", "-in", str(pki / "sa.key"), "-pubout", "-out", str(pki / "sa.pub"))
        (pki / "sa.key").chmod(0o600)
        made.append("service-account keys")
    return made


def kubeconfig(server: str, pki: Path, identity: str) -> str:
    """A kubeconfig for one client identity; it names files so that it stays readable."""
    return f"""apiVersion: v1
kind: Config
clusters:
- name: kflab
  cluster:
    server: {server}
    certificate-authority: {pki / 'ca.crt'}
users:
- name: {identity}
  user:
    client-certificate: {pki / f'{identity}.crt'}
    client-key: {pki / f'{identity}.key'}
contexts:
- name: kflab
  context:
    cluster: kflab
    user: {identity}
current-context: kflab
"""
