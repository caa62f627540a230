"""scripts/cluster, offline: the dry-run plan is complete and pinned, reruns reuse
the cluster, and failures end with what to try (fake tools on PATH, no Docker)."""

import os
import re
import stat
import subprocess
import sys
import tomllib

import pytest

from kflab import paths

SCRIPT = paths.REPO / "scripts" / "cluster"
PINS = tomllib.loads(paths.VERSIONS.read_text())
COMP = PINS["components"]


def plan(*args: str, env: dict | None = None) -> tuple[int, list[str], str]:
    """Run the script; return its exit code, the commands it printed (`+ ...`) and all output."""
    proc = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})
    out = proc.stdout + proc.stderr
    return proc.returncode, [line[2:] for line in proc.stdout.splitlines() if line.startswith("+ ")], out


def index(commands: list[str], *needles: str) -> int:
    """The position of the first command containing every needle."""
    for i, cmd in enumerate(commands):
        if all(n in cmd for n in needles):
            return i
    raise AssertionError(f"no command contains {needles}; the plan was:\n" + "\n".join(commands))


@pytest.fixture(scope="module")
def lite():
    code, commands, out = plan("--dry-run", "up", "--profile", "lite")
    assert code == 0, f"the lite dry run failed:\n{out}"
    return commands


@pytest.fixture(scope="module")
def full_gpu():
    code, commands, out = plan("--dry-run", "up", "--profile", "full", "--gpu")
    assert code == 0, f"the full --gpu dry run failed:\n{out}"
    return commands


def test_lite_creates_a_kind_cluster_from_the_pinned_node_image(lite):
    create = lite[index(lite, "kind create cluster")]
    assert f"--image {PINS['kind']['node_image']}" in create, f"the node image comes from versions.toml: {create}"
    assert "--name kflab" in create and "--config" in create and "--wait" in create, create


def test_kfp_installs_cluster_scoped_resources_then_waits_for_the_crd_then_platform_agnostic(lite):
    ref = COMP["kfp"]["backend"]
    first = index(lite, "apply -k", f"cluster-scoped-resources?ref={ref}")
    crd = index(lite, "wait", "condition=established", "crd/applications.app.k8s.io")
    env = index(lite, "apply -k", f"env/platform-agnostic?ref={ref}")
    assert first < crd < env, "KFP's documented order: cluster-scoped resources, CRD established, then the env"
    assert not any("env/dev" in c for c in lite), "env/dev uses :master images; the course installs platform-agnostic"


def test_katib_trainer_and_kueue_are_pinned_and_in_order(lite):
    index(lite, "apply -k", f"katib-standalone?ref={COMP['katib']['version']}")
    ref = COMP["trainer"]["version"]
    manager = index(lite, "apply --server-side -k", f"overlays/manager?ref={ref}")
    webhook = index(lite, "wait", "kubeflow-trainer-controller-manager")
    runtimes = index(lite, "apply --server-side -k", f"overlays/runtimes?ref={ref}")
    assert manager < webhook < runtimes, "Trainer's runtimes need its webhook, so they come after the manager is Available"
    operator = index(lite, "apply --server-side -k",
                     f"training-operator.git/manifests/overlays/standalone?ref={COMP['training-operator']['version']}")
    assert operator < index(lite, "wait", "deployment/training-operator"), "lab 3.2's PyTorchJob dry run needs its webhook serving"
    index(lite, "apply --server-side -f", f"kueue/releases/download/{COMP['kueue']['version']}/manifests.yaml")
    index(lite, "apply -k", f"notebook-controller/upstream/overlays/standalone?ref={COMP['manifests']['version']}")


def test_lite_profile_leaves_out_kserve_and_helm(lite):
    assert not any(c.startswith("helm") for c in lite), "lite (8 GB) installs no Helm charts"
    assert not any("kserve" in c for c in lite), "KServe belongs to the full profile"


def test_every_kubectl_and_helm_command_targets_the_course_context(lite, full_gpu):
    for cmd in lite + full_gpu:
        if cmd.startswith("kubectl"):
            assert "--context kind-kflab" in cmd, f"kubectl must never act on another context: {cmd}"
        if cmd.startswith("helm") and " repo add " not in cmd:
            assert "--kube-context kind-kflab" in cmd, f"helm must never act on another context: {cmd}"


def test_every_wait_has_a_timeout_and_every_ref_and_chart_a_version(lite, full_gpu):
    for cmd in lite + full_gpu:
        if " wait " in cmd:
            assert "--timeout=" in cmd, f"a wait without a timeout can hang forever: {cmd}"
        if "?ref=" in cmd:
            ref = cmd.split("?ref=")[1].split("'")[0]
            assert ref and ref not in ("master", "main"), f"an unpinned ref: {cmd}"
        if " upgrade --install " in cmd:
            assert "--version " in cmd, f"a chart without a version: {cmd}"


def test_full_installs_cert_manager_then_the_three_kserve_charts_in_standard_mode(full_gpu):
    kserve = COMP["kserve"]["version"]
    cm = index(full_gpu, "upgrade --install cert-manager jetstack/cert-manager", f"--version {COMP['cert-manager']['version']}")
    crd = index(full_gpu, "kserve-crd oci://ghcr.io/kserve/charts/kserve-crd", f"--version {kserve}")
    res = index(full_gpu, "kserve-resources oci://ghcr.io/kserve/charts/kserve-resources", f"--version {kserve}")
    cfg = index(full_gpu, "kserve-runtime-configs oci://ghcr.io/kserve/charts/kserve-runtime-configs", f"--version {kserve}")
    assert cm < crd < res < cfg, "cert-manager, then the CRDs, the controller, and the runtimes"
    assert "kserve.controller.deploymentMode=Standard" in full_gpu[res], "the course teaches Standard mode"


def test_full_installs_the_pinned_prometheus_operator_bundle_server_side(full_gpu, lite):
    version = COMP["prometheus-operator"]["version"]
    bundle = f"prometheus-operator/releases/download/{version}/bundle.yaml"
    at = index(full_gpu, "apply --server-side -f", bundle)
    assert at < index(full_gpu, "wait --for=condition=Available", "deployment/prometheus-operator"), \
        "apply the bundle, then wait for its operator"
    assert not any("prometheus-operator" in c for c in lite), "the Prometheus Operator belongs to the full profile"


def test_gpu_path_uses_nvkind_and_the_pinned_device_plugin(full_gpu):
    create = full_gpu[index(full_gpu, "nvkind cluster create")]
    assert f"--image {PINS['kind']['node_image']}" in create and "--config-template" in create, create
    assert not any(c.startswith("kind create") for c in full_gpu), "--gpu creates the cluster with nvkind"
    chart = COMP["nvidia-device-plugin"]["version"].lstrip("v")
    index(full_gpu, "upgrade --install nvidia-device-plugin nvdp/nvidia-device-plugin", f"--version {chart}")
    index(full_gpu, "get nodes -l nvidia.com/gpu.present=true", "allocatable")


def test_name_option_changes_cluster_and_context():
    code, commands, out = plan("--dry-run", "--name", "demo", "up")
    assert code == 0, out
    assert "--name demo" in commands[index(commands, "kind create cluster")]
    assert all("--context kind-demo" in c for c in commands if c.startswith("kubectl")), commands


@pytest.mark.parametrize("args", [["frobnicate"], ["up", "--profile", "huge"], ["install", "nosuch"], ["--bogus"],
                                  ["--name"], ["up", "--profile"], ["up", "--config"]])
def test_bad_arguments_end_with_what_to_try(args):
    code, _, out = plan("--dry-run", *args)
    assert code != 0, f"{args} should fail"
    assert out.rstrip().splitlines()[-1].startswith("Try: "), f"the last line should say what to try:\n{out}"


def fake_tools(tmp_path, failing_wait: bool = False):
    """docker, kind and kubectl stand-ins that log their calls; kind says the cluster exists."""
    log = tmp_path / "calls.log"
    scripts = {
        "docker": "exit 0",
        "kind": 'case "$1" in version) echo "kind v0.31.0 go1.25 linux/amd64";; get) echo kflab;; esac',
        "kubectl": 'case " $* " in *" wait "*) exit 1;; esac' if failing_wait else "exit 0",
    }
    for name, body in scripts.items():
        tool = tmp_path / name
        tool.write_text(f'#!/usr/bin/env bash\necho "{name} $*" >> "{log}"\n{body}\n')
        tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    return {"PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}, log


def test_up_reuses_an_existing_cluster(tmp_path):
    env, log = fake_tools(tmp_path)
    code, _, out = plan("up", env=env)
    calls = log.read_text()
    assert code == 0, out
    assert "kind create" not in calls and "exists; reusing it" in out, "a second `up` must not recreate the cluster"
    assert "kubectl --context kind-kflab apply -k" in calls, "it still applies the components (idempotent)"


def test_up_with_a_config_on_an_existing_cluster_says_the_config_is_not_applied(tmp_path):
    env, log = fake_tools(tmp_path)
    config = tmp_path / "kind-config.yaml"
    config.write_text("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n")
    code, _, out = plan("up", "--config", str(config), env=env)
    assert code == 0 and "kind create" not in log.read_text(), out
    assert f"to create it from {config}, run `scripts/cluster down` first" in out, out


def test_a_failed_wait_names_what_it_waited_for_and_what_to_try(tmp_path):
    env, _ = fake_tools(tmp_path, failing_wait=True)
    code, _, out = plan("install", "kueue", env=env)
    lines = out.rstrip().splitlines()
    assert code != 0, out
    assert any("waiting for the Kueue controller" in line for line in lines), out
    assert lines[-1].startswith("Try: ") and "kueue-system" in lines[-1], f"the fix should be specific:\n{out}"


def test_arrays_that_start_empty_expand_safely_under_macos_bash_3_2():
    """Before bash 4.4, "${a[@]}" of an empty array is an unbound variable under `set -u`."""
    text = SCRIPT.read_text()
    empty = set(re.findall(r"\b(\w+)=\(\)", text)) - {"out"}  # shown() always gets a command
    for name in empty:
        bare = [line for line in text.splitlines() if f'"${{{name}[@]}}"' in line and f"${{{name}[@]+" not in line]
        assert not bare, f"{name} may be empty; expand it as ${{{name}[@]+\"${{{name}[@]}}\"}}: {bare}"


def _tools_without(tmp_path, missing: str, stub: str | None = None, also_missing: tuple[str, ...] = ()) -> str:
    """A PATH like the system's, minus one tool (or with a stub in its place), and minus `also_missing`."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for entry in os.environ["PATH"].split(os.pathsep):
        for tool in (os.listdir(entry) if os.path.isdir(entry) else []):
            if tool not in (missing, *also_missing) and not (folder / tool).exists():
                (folder / tool).symlink_to(os.path.join(entry, tool))
    if stub:
        (folder / missing).write_text(stub)
        (folder / missing).chmod(0o755)
    return str(folder)


def _python_that_reports(version: tuple[int, int]) -> str:
    """A python3 stub: this machine's Python, but with sys.version_info of another release."""
    fake = f'({version[0]}, {version[1]}, 0, "final", 0)'
    return (f"#!/bin/sh\nexec {sys.executable} -c 'import sys; sys.version_info = {fake}; code = sys.argv[1]; "
            "sys.argv = sys.argv[:1]; exec(code)' \"$2\"\n")


def _bootstrap(path: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHON"}
    return subprocess.run([str(paths.REPO / "scripts" / "bootstrap")], capture_output=True, text=True, timeout=600,
                          env={**env, "PATH": path})


def test_bootstrap_refuses_a_python_too_new_for_kserve_with_the_way_to_get_one(tmp_path):
    """Homebrew and recent Linux releases ship 3.13 or 3.14, where KServe 0.20's package does not install."""
    path = _tools_without(tmp_path, "python3", _python_that_reports((3, 14)), also_missing=("python3.11", "python3.12"))
    proc = _bootstrap(path)
    assert proc.returncode == 1, f"bootstrap went on with Python 3.14:\n{proc.stdout}{proc.stderr}"
    for words in ("kflab needs Python 3.11 to 3.12", "python3 is 3.14", "brew install python@3.12", "uv python install 3.12"):
        assert words in proc.stderr, f"bootstrap's refusal lacks {words!r}:\n{proc.stderr}"


def test_bootstrap_passes_over_a_too_new_python3_for_a_python3_n_that_fits(tmp_path):
    path = _tools_without(tmp_path, "python3", _python_that_reports((3, 14)))
    proc = _bootstrap(path)
    assert proc.returncode == 0 and "needs Python" not in proc.stderr, (
        f"bootstrap did not fall back from python3 (3.14) to a python3.N in range:\n{proc.stdout}{proc.stderr}")


def test_a_python3_too_old_for_tomllib_is_passed_over_for_the_course_venv(tmp_path):
    """macOS's own python3 is 3.9; once scripts/start has made .venv, the script uses that."""
    if not (paths.REPO / ".venv" / "bin" / "python").exists():
        pytest.skip("no .venv yet: scripts/start makes it")
    old = "#!/bin/sh\necho 'ModuleNotFoundError: No module named tomllib' >&2\nexit 1\n"
    code, commands, out = plan("--dry-run", "up", env={"PATH": _tools_without(tmp_path, "python3", old), "PYTHON": ""})
    assert code == 0 and any("kind create cluster" in c for c in commands), f"the plan needs only .venv's Python:\n{out}"


def test_bootstrap_needs_no_sha256sum(tmp_path):
    """macOS has shasum, not sha256sum: the install stamp is hashed with Python."""
    proc = _bootstrap(_tools_without(tmp_path, "sha256sum"))
    assert proc.returncode == 0, f"bootstrap failed without sha256sum:\n{proc.stdout}{proc.stderr}"


def test_the_script_is_shellcheck_clean():
    import shutil

    if not shutil.which("shellcheck"):
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    proc = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout
