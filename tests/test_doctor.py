"""kflab doctor, offline: every probe judged on fabricated facts, and the report on a whole machine."""

import json
import subprocess

import pytest

from kflab import doctor, doctor_facts, paths
from kflab import doctor_cluster as cluster_probes
from kflab import doctor_probes as probes
from kflab.doctor_facts import Facts
from kflab.doctor_probes import Command

GIB = probes.GIB


def docker_info(mem_gib: float, cpus: int = 4) -> Command:
    return Command(0, json.dumps({"ServerVersion": "28.2.2", "MemTotal": int(mem_gib * GIB), "NCPU": cpus}) + "\n")


KUBECONFIG = """
apiVersion: v1
kind: Config
current-context: {current}
contexts:
- name: kind-kflab
  context: {{cluster: kind-kflab, user: kind-kflab}}
- name: gke_prod
  context: {{cluster: gke_prod, user: gke_prod}}
"""


@pytest.mark.parametrize("cmd, status, words", [
    (None, "fail", "not installed"),
    (Command(1, '{"ServerVersion":""}\n', "Cannot connect to the Docker daemon at unix:///var/run/docker.sock."),
     "fail", "does not answer (Cannot connect"),
    (docker_info(3.8), "fail", "needs 8 GB"),
    (docker_info(7.7), "ok", "full needs 16 GB"),
    (docker_info(31.2, 12), "ok", "12 CPUs, 31.2 GiB"),
])
def test_docker_probe_reads_docker_info(cmd, status, words):
    found = probes.docker(cmd, "darwin")
    assert found.status == status and words in found.detail, found
    if status == "fail":
        assert found.fix, "every failing probe says what to do"


def test_docker_fix_depends_on_the_platform():
    down = Command(1, "", "Cannot connect")
    assert "systemctl start docker" in probes.docker(down, "linux").fix
    assert "Docker Desktop" in probes.docker(down, "darwin").fix


@pytest.mark.parametrize("out, status", [
    ("kind v0.31.0 go1.25.5 linux/amd64", "ok"),
    ("kind v0.32.1 go1.26 darwin/arm64", "ok"),
    ("kind v0.24.0 go1.22.6 linux/amd64", "fail"),
    ("garbage", "warn"),
])
def test_kind_probe_compares_with_the_pin(out, status):
    found = probes.kind(Command(0, out), "v0.31.0")
    assert found.status == status, found
    assert found.status == "ok" or "kind@v0.31.0" in found.fix, "the fix installs the pinned version"


def test_missing_tools_fail_with_an_install_line():
    for found in (probes.kind(None, "v0.31.0"), probes.kubectl(None, "1.35")):
        assert found.status == "fail" and "install" in found.fix, found
    assert probes.helm(None).status == "warn", "helm is optional for the lite profile"


@pytest.mark.parametrize("minor, status", [("35", "ok"), ("34", "ok"), ("36", "ok"), ("32+", "fail"), ("33", "fail")])
def test_kubectl_probe_allows_one_minor_of_skew(minor, status):
    out = json.dumps({"clientVersion": {"major": "1", "minor": minor, "gitVersion": f"v1.{minor.strip('+')}.0"}})
    assert probes.kubectl(Command(0, out), "1.35").status == status


def test_kubectl_probe_survives_unreadable_output():
    assert probes.kubectl(Command(0, "Client Version: v1.35.0"), "1.35").status == "warn"


@pytest.mark.parametrize("out, status", [("v3.19.0+g3d8990f", "ok"), ("v4.0.1+gabc", "ok"), ("v3.7.2+g663a896", "fail")])
def test_helm_probe_needs_oci_support(out, status):
    assert probes.helm(Command(0, out)).status == status


def test_promtool_probe_warns_with_the_install_command_when_it_is_missing():
    missing = probes.promtool(None, "v3.16.0")
    assert missing.status == "warn" and "python -m kflab.promtool" in missing.fix and "3.7" in missing.detail
    assert probes.promtool("/cache/promtool", "v3.16.0").status == "ok"


def test_packages_probe_sends_an_old_or_missing_package_to_bootstrap():
    old_torch = probes.packages({"torch>=2.15,<3": "2.14.1+cu130", "optuna>=4,<6": "4.5.0"})
    assert old_torch.status == "warn" and "torch 2.14.1+cu130" in old_torch.detail and "<3,>=2.15" in old_torch.detail
    assert "scripts/bootstrap" in old_torch.fix
    missing = probes.packages({"optuna>=4,<6": None})
    assert missing.status == "fail" and "optuna is missing" in missing.detail
    assert probes.packages({"torch>=2.15,<3": "2.15.0+cu132"}).status == "ok", "a local build tag (+cu132) still matches"


def test_doctor_reads_every_pyproject_requirement_with_its_installed_version():
    found = doctor_facts.installed_packages()
    assert any(spec.startswith("torch>=") for spec in found) and len(found) >= 10, found
    assert all(found.values()), f"The course's venv lacks some of its own requirements: {found}"


@pytest.mark.parametrize("count, status", [(1, "fail"), (2, "warn"), (4, "ok"), (16, "ok"), (None, "warn")])
def test_cpu_probe(count, status):
    assert probes.cpus(count).status == status


@pytest.mark.parametrize("gib, status", [(4, "fail"), (7.6, "ok"), (64, "ok")])
def test_memory_probe(gib, status):
    assert probes.memory(int(gib * GIB)).status == status


def test_inotify_probe_wants_kinds_values_on_linux_only():
    low = probes.inotify("linux", "128", "8192")
    assert low.status == "fail" and "max_user_instances=128" in low.detail and "sysctl" in low.fix
    assert probes.inotify("linux", "512", "524288").status == "ok"
    assert probes.inotify("darwin", None, None).status == "skip"
    assert probes.inotify("linux", None, None).status == "skip", "unreadable /proc is not a failure"


def test_open_files_probe():
    assert probes.open_files(256).status == "warn" and "ulimit -n" in probes.open_files(256).fix
    assert probes.open_files(65536).status == "ok"
    assert probes.open_files(-1).detail == "unlimited"


def test_wsl_probe_flags_the_windows_drive():
    wsl = "Linux version 6.6.87.2-microsoft-standard-WSL2 (root@439a258ad544) (gcc (GCC) 11.2.0)"
    assert probes.wsl_location(wsl, "/mnt/c/Users/ana/kubeflow-course").status == "fail"
    assert probes.wsl_location(wsl, "/home/ana/kubeflow-course").status == "ok"
    assert probes.wsl_location("Linux version 6.8.0-45-generic", "/mnt/data/course").status == "skip"


def test_context_probe_merges_kubeconfigs_like_kubectl():
    assert cluster_probes.context([KUBECONFIG.format(current="kind-kflab")]).status == "ok"
    other = cluster_probes.context([KUBECONFIG.format(current="gke_prod")])
    assert other.status == "warn" and "use-context kind-kflab" in other.fix
    assert cluster_probes.context([]).status == "fail"
    assert cluster_probes.context([KUBECONFIG.format(current="nowhere")]).status == "fail"
    first_wins = cluster_probes.context([KUBECONFIG.format(current="kind-kflab"), KUBECONFIG.format(current="gke_prod")])
    assert first_wins.detail == "kind-kflab", "the first file that sets current-context wins"
    assert cluster_probes.context(["current-context: [unclosed"]).status == "fail"
    broken = cluster_probes.context(["current-context: [unclosed"], "/home/ana/kc.yaml")
    assert "repair /home/ana/kc.yaml" in broken.fix, "the fix names the file KUBECONFIG points at, not ~/.kube/config"
    missing = cluster_probes.context([], "/home/ana/missing.yaml")
    assert missing.status == "fail" and "KUBECONFIG names /home/ana/missing.yaml" in missing.detail, missing


def test_api_probe():
    assert cluster_probes.api(False, None, None, "1.35").status == "skip"
    down = cluster_probes.api(True, None, "connection refused", "1.35")
    assert down.status == "fail" and "connection refused" in down.detail and "docker ps" in down.fix
    assert cluster_probes.api(True, "v1.35.0", None, "1.35").status == "ok"
    assert cluster_probes.api(True, "v1.33.1", None, "1.35").status == "warn"


def ready(*names, ns="kubeflow", available=1):
    return {f"{ns}/{n}": {"replicas": 1, "available": available} for n in names}


def test_components_probe_tells_missing_from_not_ready_from_ready():
    kfp, katib = cluster_probes.COMPONENTS[0], cluster_probes.COMPONENTS[1]
    deployments = {**ready(*kfp.deployments), **ready("katib-controller", "katib-db-manager", "katib-ui"),
                   **ready("katib-mysql", available=0)}
    found = {f.check: f for f in cluster_probes.components({kfp.crd, katib.crd}, deployments)}
    assert found["Kubeflow Pipelines"].status == "ok"
    assert found["Katib"].status == "fail" and "katib-mysql not Available" in found["Katib"].detail
    assert "kubectl get pods -n kubeflow" in found["Katib"].fix
    assert found["Trainer"].status == "warn" and found["Trainer"].fix == "scripts/cluster install trainer"
    assert found["KServe"].status == "info", "KServe belongs to the full profile; its absence is no problem"
    assert cluster_probes.components(None, None)[0].status == "skip"


def test_components_match_what_scripts_cluster_waits_for():
    """Does the doctor look at every deployment that scripts/cluster waits on, in the same namespace?"""
    proc = subprocess.run([str(paths.REPO / "scripts" / "cluster"), "--dry-run", "up", "--profile", "full"],
                          capture_output=True, text=True, timeout=60)
    waited = set()
    for line in proc.stdout.splitlines():
        if " wait " in line and " -n " in line:
            ns = line.split(" -n ")[1].split()[0]
            waited |= {f"{ns}/{w.split('/', 1)[1]}" for w in line.split() if w.startswith("deployment/")}
    known = {f"{c.namespace}/{d}" for c in cluster_probes.COMPONENTS for d in c.deployments}
    assert waited, proc.stdout
    assert waited - {"cert-manager/cert-manager", "cert-manager/cert-manager-webhook", "cert-manager/cert-manager-cainjector"} <= known


def test_a_bare_machine_gets_a_plain_report_with_a_fix_per_problem():
    """This machine's case: no Docker daemon, no kind, an old kubectl, no kubeconfig."""
    facts = Facts(platform="linux", repo="/home/ana/course", proc_version="Linux version 6.8.0",
                  docker=Command(1, "", "Cannot connect to the Docker daemon"), kind=None,
                  kubectl=Command(0, json.dumps({"clientVersion": {"major": "1", "minor": "32+"}})), helm=None,
                  cpus=2, memory=24 * GIB, inotify_instances="128", inotify_watches="192536", nofile=20000)
    findings = doctor.diagnose(facts)
    text = doctor.report(findings)
    assert "\x1b[" not in text, "plain text when not on a terminal"
    fails = [f for f in findings if f.status == "fail"]
    assert {f.check for f in fails} == {"Docker", "kind", "kubectl", "inotify limits", "kube context"}
    assert all(f"{f.check}: {f.fix}" in text for f in fails), "every failing probe prints its fix"
    assert "5 problem(s)" in text


def test_report_is_coloured_on_a_terminal(monkeypatch):
    monkeypatch.setattr("kflab.console.is_tty", lambda stream=None: True)
    text = doctor.report([probes.Finding("kind", "fail", "not installed", "install it"), probes.Finding("CPUs", "ok", "8 CPUs")])
    assert "\x1b[31m" in text and "\x1b[32m" in text, "red for failures, green for passes"


def test_kflab_doctor_runs_on_this_machine_without_crashing():
    proc = subprocess.run([str(paths.REPO / ".venv" / "bin" / "kflab"), "doctor", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode in (0, 1), proc.stderr
    findings = json.loads(proc.stdout)
    assert {"Docker", "kind", "kubectl", "kube context"} <= {f["check"] for f in findings}, findings
