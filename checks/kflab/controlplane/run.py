"""`up`, `down`, `status` and `env`: the control plane's processes and their order.

`up` is idempotent: a component whose pid file names a live process is left
alone, and every step after it (nodes, CRDs, webhooks) is an apply. Each wait
names what it waits for; a failure shows the component's log tail and what to try.
"""

from __future__ import annotations

import shlex
import shutil
import ssl
import sys
import time
import urllib.request

from kflab.controlplane import build, certs, cluster_setup, kserve, kueue, objectstore, procs
from kflab.controlplane.api import Api, WaitTimeout, wait_for
from kflab.controlplane.layout import COMPONENTS, HOST, PORTS, Layout, layout, server


class UpError(RuntimeError):
    """`up` failed; the message already holds the log tail and a hint."""


def log(msg: str) -> None:
    print(f"[controlplane up] {msg}", flush=True)


def argv(name: str, lay: Layout) -> list[str]:
    """The command line of one component."""
    bins, pki, h, p = build.binaries(), lay.pki, HOST, PORTS
    kubeconfig = str(lay.kubeconfig_for(name))
    secure = [f"--kubeconfig={kubeconfig}", f"--authentication-kubeconfig={kubeconfig}",
              f"--authorization-kubeconfig={kubeconfig}", f"--bind-address={h}", "--leader-elect=false",
              f"--cert-dir={lay.root / 'serving' / name}"]
    table = {
        "etcd": ["--name=kflab", f"--data-dir={lay.etcd_data}",
                 f"--listen-client-urls=http://{h}:{p['etcd']}", f"--advertise-client-urls=http://{h}:{p['etcd']}",
                 f"--listen-peer-urls=http://{h}:{p['etcd-peer']}",
                 f"--initial-advertise-peer-urls=http://{h}:{p['etcd-peer']}",
                 f"--initial-cluster=kflab=http://{h}:{p['etcd-peer']}",
                 # A throwaway CI cluster: speed over durability.
                 "--unsafe-no-fsync", "--log-level=warn"],
        "kube-apiserver": [f"--etcd-servers=http://{h}:{p['etcd']}", f"--bind-address={h}",
                           f"--advertise-address={h}", f"--secure-port={p['kube-apiserver']}",
                           f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
                           f"--client-ca-file={pki / 'ca.crt'}",
                           "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                           f"--service-account-key-file={pki / 'sa.pub'}",
                           f"--service-account-signing-key-file={pki / 'sa.key'}",
                           f"--requestheader-client-ca-file={pki / 'ca.crt'}",
                           "--requestheader-allowed-names=front-proxy-client",
                           "--requestheader-username-headers=X-Remote-User",
                           "--requestheader-group-headers=X-Remote-Group",
                           "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                           f"--proxy-client-cert-file={pki / 'front-proxy-client.crt'}",
                           f"--proxy-client-key-file={pki / 'front-proxy-client.key'}",
                           "--service-cluster-ip-range=10.96.0.0/16", "--authorization-mode=Node,RBAC",
                           "--enable-admission-plugins=NodeRestriction,ResourceQuota",
                           # Endpoints may not hold a loopback address; nothing here needs them.
                           "--endpoint-reconciler-type=none", "--allow-privileged=true", "--profiling=false"],
        "kube-controller-manager": secure + [f"--secure-port={p['kube-controller-manager']}",
                                             "--use-service-account-credentials=true",
                                             f"--service-account-private-key-file={pki / 'sa.key'}",
                                             f"--root-ca-file={pki / 'ca.crt'}", "--controllers=*"],
        "kube-scheduler": secure + [f"--secure-port={p['kube-scheduler']}"],
        "kwok": [f"--kubeconfig={kubeconfig}", f"--config={lay.root / 'kwok-stages.yaml'}",
                 "--manage-all-nodes=false",
                 f"--manage-nodes-with-annotation-selector={cluster_setup.KWOK_SELECTOR}",
                 "--cidr=10.244.0.1/16", "--node-lease-duration-seconds=40",
                 f"--server-address={h}:{p['kwok']}"],
        "kueue": [f"--config={lay.kueue_dir / 'config.yaml'}", f"--kubeconfig={kubeconfig}"],
        "kserve-webhook": [f"--addr={h}:{p['kserve-webhook']}", f"--cert={pki / 'kserve-webhook.crt'}",
                           f"--key={pki / 'kserve-webhook.key'}", f"--kubeconfig={lay.kubeconfig_for('kserve')}"],
        "seaweedfs": objectstore.argv_tail(lay),
    }
    return [str(bins[name]), *table[name]]


def _get(url: str) -> bool:
    """An HTTP(S) GET answered 200; local self-signed serving certs are not verified."""
    ctx = ssl._create_unverified_context()  # health endpoints only, on 127.0.0.1
    with urllib.request.urlopen(url, context=ctx, timeout=5) as resp:
        return resp.status == 200


def health_url(name: str) -> str | None:
    p = PORTS
    return {
        "etcd": f"http://{HOST}:{p['etcd']}/health",
        "kube-controller-manager": f"https://{HOST}:{p['kube-controller-manager']}/healthz",
        "kube-scheduler": f"https://{HOST}:{p['kube-scheduler']}/healthz",
        "kueue": f"http://{HOST}:{p['kueue-health']}/readyz",
        "kserve-webhook": f"https://{HOST}:{p['kserve-webhook']}/healthz",
    }.get(name)


def _fail(lay: Layout, name: str, why: str, hint: str) -> UpError:
    logfile = lay.logfile(name)
    return UpError(f"{why}\n--- last lines of {logfile} ---\n{procs.log_tail(logfile)}---\n"
                   f"Try: {hint}")


def wait_component(lay: Layout, name: str, ready, timeout_s: float, what: str) -> None:
    """Wait for `ready()`, failing at once if the process dies."""
    def check():
        if procs.state(lay.pidfile(name)) != "running":
            raise _fail(lay, name, f"{name} exited while starting.",
                        "read the log above (a port taken by another program shows as 'address already in use'); "
                        "`scripts/controlplane down --purge` then `up` starts afresh.")
        return ready()
    try:
        wait_for(what, check, timeout_s)
    except WaitTimeout as exc:
        raise _fail(lay, name, str(exc), f"`scripts/controlplane status`; the full log is {lay.logfile(name)}.")


def ensure_started(lay: Layout, name: str) -> bool:
    """Start `name` unless it runs already; True if it was started now."""
    pidfile = lay.pidfile(name)
    current = procs.state(pidfile)
    if current == "running":
        record = procs.read(pidfile)
        log(f"{name}: already running (pid {record.pid}), left alone")
        if record.argv and list(record.argv) != argv(name, lay):
            log(f"{name}: note: it runs with other flags than this version of `up` would use; "
                "`scripts/controlplane down` then `up` restarts it with the new ones")
        return False
    if current == "dead":
        log(f"{name}: its last process has exited; starting it again (log {lay.logfile(name)})")
    record = procs.start(name, argv(name, lay), pidfile, lay.logfile(name))
    log(f"{name}: started (pid {record.pid}, log {lay.logfile(name)})")
    return True


def up(timeout_s: float = 120) -> Api:
    start = time.monotonic()
    if missing := build.missing():
        raise UpError(f"not built yet: {', '.join(missing)}.\nTry: scripts/controlplane build")
    lay = layout()
    lay.mkdirs()
    if made := certs.ensure(lay.pki):
        log(f"certificates issued: {', '.join(made)}")
    for identity in ("admin", "kube-controller-manager", "kube-scheduler", "kwok", "kueue", "kserve"):
        lay.kubeconfig_for(identity).write_text(certs.kubeconfig(server(), lay.pki, identity))
    shutil.copyfile(lay.kubeconfig_for("admin"), lay.kubeconfig)
    api = Api(server(), lay.pki)

    ensure_started(lay, "etcd")
    wait_component(lay, "etcd", lambda: _get(health_url("etcd")), timeout_s, "etcd /health")
    ensure_started(lay, "kube-apiserver")
    wait_component(lay, "kube-apiserver", api.answers, timeout_s, "kube-apiserver /readyz")
    for name in ("kube-controller-manager", "kube-scheduler"):
        ensure_started(lay, name)
    for name in ("kube-controller-manager", "kube-scheduler"):
        wait_component(lay, name, lambda n=name: _get(health_url(n)), timeout_s, f"{name} /healthz")

    (lay.root / "kwok-stages.yaml").write_text(cluster_setup.kwok_stages())
    if created := cluster_setup.create_nodes(api):
        log(f"nodes created: {', '.join(created)}")
    ensure_started(lay, "kwok")
    try:
        cluster_setup.wait_nodes_ready(api, timeout_s)
    except WaitTimeout as exc:
        raise _fail(lay, "kwok", str(exc), "`scripts/controlplane status`; kwok's log is shown above.")

    crds = cluster_setup.apply_crds(api, timeout_s)
    log(f"{len(crds)} pinned CRDs applied and Established")
    log(f"ClusterTrainingRuntime {cluster_setup.apply_training_runtime(api)} applied")

    api.create_if_missing("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                 "metadata": {"name": kueue.NAMESPACE}})
    kueue.write_files(lay)
    if todo := kueue.ensure_metrics_cert(lay):
        raise UpError(f"Kueue reads its metrics certificate from {kueue.METRICS_CERT_DIR}, which we cannot "
                      f"create as this user.\nTry: {todo}")
    ensure_started(lay, "kueue")
    wait_component(lay, "kueue", lambda: _get(health_url("kueue")), timeout_s, "Kueue /readyz")
    hooks = kueue.apply_webhooks(api, lay)
    log(f"webhook configurations applied: {', '.join(hooks)}")
    converted = kueue.enable_conversion(api, lay)
    log(f"conversion webhook set on: {', '.join(converted)}")
    wait_component(lay, "kueue", lambda: kueue.webhook_answers(api), timeout_s,
                   "Kueue's webhooks to answer the apiserver (a dry-run ResourceFlavor)")

    ensure_started(lay, "kserve-webhook")
    wait_component(lay, "kserve-webhook", lambda: _get(health_url("kserve-webhook")), timeout_s,
                   "KServe's webhook server /healthz")
    log(f"KServe's webhooks registered: {', '.join(kserve.apply(api, lay))}")
    wait_component(lay, "kserve-webhook", lambda: kserve.webhook_answers(api), timeout_s,
                   "KServe's webhooks to answer the apiserver (a dry-run InferenceService)")
    ensure_started(lay, "seaweedfs")
    wait_component(lay, "seaweedfs", objectstore.answers, timeout_s, "SeaweedFS's S3 gateway /status")
    if made := objectstore.configure(api):
        log(f"object store (KFP's, SeaweedFS): {', '.join(made)}")
    wait_component(lay, "seaweedfs", objectstore.ready, timeout_s,
                   f"the bucket {objectstore.BUCKET} and S3 signature checks on SeaweedFS")
    log(f"control plane ready in {time.monotonic() - start:.0f} s; "
        f'now run: eval "$(scripts/controlplane env)"')
    return api


def down(purge: bool = False) -> None:
    lay = layout()
    for name in reversed(COMPONENTS):
        print(f"[controlplane down] {name}: {procs.stop(lay.pidfile(name))}", flush=True)
    kueue.remove_metrics_cert_link(lay)
    if purge and lay.root.exists():
        shutil.rmtree(lay.root)
        print(f"[controlplane down] removed {lay.root}", flush=True)


def status() -> int:
    """Print each component's state; non-zero when one has died."""
    lay = layout()
    dead = 0
    for name in COMPONENTS:
        state = procs.state(lay.pidfile(name))
        extra = ""
        if state == "running":
            extra = f" (pid {procs.read(lay.pidfile(name)).pid})"
        elif state == "dead":
            dead += 1
            extra = f" (log: {lay.logfile(name)})"
        print(f"{name:<24} {state}{extra}")
    answers = (lay.pki / "admin.crt").exists() and Api(server(), lay.pki).answers()
    print(f"{'API ' + server():<24} {'answers' if answers else 'does not answer'}")
    return 1 if dead else 0


def env() -> str:
    return (f"export KUBECONFIG={shlex.quote(str(layout().kubeconfig))}\n"
            f"export KFLAB_S3_ENDPOINT={shlex.quote(objectstore.endpoint())}")


def print_error(exc: Exception | str) -> None:
    print(f"[controlplane] {exc}", file=sys.stderr, flush=True)

