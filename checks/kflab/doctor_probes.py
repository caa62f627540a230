"""The doctor's probes of this machine: pure functions from facts (command outputs, file contents) to findings.

Nothing here runs a command or reads a file, so tests/test_doctor.py feeds each
probe fabricated facts; kflab.doctor_facts gathers the real ones. The probes of
the cluster (context, API server, components) are in kflab.doctor_cluster.
"""

from __future__ import annotations

import dataclasses
import json
import re

GIB = 1024 ** 3
INOTIFY = {"max_user_instances": 512, "max_user_watches": 524288}  # Kind's known-issues values
INOTIFY_FIX = ("sudo sysctl fs.inotify.max_user_instances=512 fs.inotify.max_user_watches=524288; keep them with "
               "/etc/sysctl.d/99-kind.conf (docs/troubleshooting.md#too-many-open-files)")
HELM_MIN = (3, 8)  # OCI charts (KServe's) need Helm 3.8


@dataclasses.dataclass(frozen=True)
class Command:
    """What one command did: exit code, standard output, standard error."""
    rc: int
    out: str = ""
    err: str = ""


@dataclasses.dataclass(frozen=True)
class Finding:
    """One row of the doctor's table: what was probed, how it stands, and the fix when it is not ok."""
    check: str
    status: str  # ok | info | warn | fail | skip
    detail: str
    fix: str = ""


def version_tuple(text: str) -> tuple[int, ...] | None:
    """(0, 31, 0) from 'v0.31.0', 'kind v0.31.0 go1.25', '1.35+'; None when there is none."""
    match = re.search(r"v?(\d+)\.(\d+)(?:\.(\d+))?", text or "")
    return tuple(int(g) for g in match.groups() if g is not None) if match else None


def shown(version: tuple[int, ...]) -> str:
    return "v" + ".".join(map(str, version))


def docker(cmd: Command | None, platform: str) -> Finding:
    """Docker answers, and how much memory and CPU it gives the Kind nodes."""
    start = "`sudo systemctl start docker` (and `sudo usermod -aG docker $USER`)" if platform == "linux" \
        else "start Docker Desktop and wait until it says it is running"
    if cmd is None:
        return Finding("Docker", "fail", "not installed", "install Docker Desktop (macOS, WSL2) or Docker Engine (Linux): docs/install.md")
    try:
        info = json.loads(cmd.out.strip().splitlines()[0]) if cmd.out.strip() else {}
    except (ValueError, IndexError):
        info = {}
    if cmd.rc != 0 or not info.get("ServerVersion"):
        reason = (cmd.err.strip().splitlines() or ["no answer"])[0]
        return Finding("Docker", "fail", f"the Docker daemon does not answer ({reason})", start)
    mem, cpus = info.get("MemTotal", 0) / GIB, info.get("NCPU", 0)
    detail = f"Docker {info['ServerVersion']}: {cpus} CPUs, {mem:.1f} GiB for containers"
    resources = "raise it in Docker Desktop, Settings → Resources (WSL2: memory= in %UserProfile%\\.wslconfig)"
    if mem < 7.5:
        return Finding("Docker", "fail", detail + "; the lite profile needs 8 GB", resources)
    if mem < 15:
        return Finding("Docker", "ok", detail + " (enough for lite; full needs 16 GB)")
    return Finding("Docker", "ok", detail)


def kind(cmd: Command | None, pinned: str) -> Finding:
    """kind is installed, at the pinned version or newer."""
    install = f"go install sigs.k8s.io/kind@{pinned}, or the release binary (docs/install.md)"
    if cmd is None:
        return Finding("kind", "fail", "not installed", install)
    found, want = version_tuple(cmd.out), version_tuple(pinned)
    if cmd.rc != 0 or found is None:
        return Finding("kind", "warn", f"`kind version` said: {(cmd.out or cmd.err).strip()[:80]}", install)
    if found < want:
        return Finding("kind", "fail", f"{shown(found)} is older than the pinned {pinned}, whose node image the course uses", install)
    return Finding("kind", "ok", shown(found) + ("" if found == want else f" (pinned: {pinned})"))


def kubectl(cmd: Command | None, node_minor: str) -> Finding:
    """kubectl is within one minor version of the pinned Kubernetes (the supported skew)."""
    install = f"install kubectl {node_minor} (docs/install.md); `which -a kubectl` shows which one runs"
    if cmd is None:
        return Finding("kubectl", "fail", "not installed", install)
    try:
        client = json.loads(cmd.out)["clientVersion"]
        found = (int(client["major"]), int(re.sub(r"\D", "", client["minor"])))
    except (ValueError, KeyError, TypeError):
        return Finding("kubectl", "warn", "could not read `kubectl version --client -o json`", install)
    want = version_tuple(node_minor)[:2]
    skew = abs(found[1] - want[1]) if found[0] == want[0] else 99
    detail = f"{client.get('gitVersion', shown(found))}; the cluster runs {node_minor}"
    if skew > 1:
        return Finding("kubectl", "fail", detail + f", {skew} minor versions apart (supported: one)", install)
    return Finding("kubectl", "ok", detail)


def helm(cmd: Command | None) -> Finding:
    """Helm 3.8+ is there (only the full profile and the GPU path need it)."""
    install = "install Helm 3.8 or newer (docs/install.md)"
    if cmd is None:
        return Finding("helm", "warn", "not installed; only the full profile and --gpu need it", install)
    found = version_tuple(cmd.out)
    if found is None:
        return Finding("helm", "warn", f"`helm version` said: {(cmd.out or cmd.err).strip()[:80]}", install)
    if found[:2] < HELM_MIN:
        return Finding("helm", "fail", f"{shown(found)} cannot install OCI charts (KServe's)", install)
    return Finding("helm", "ok", shown(found))


def promtool(path: str | None, pinned: str) -> Finding:
    """Prometheus's promtool at the pinned version, which lab 3.7's checks run."""
    if path is None:
        return Finding("promtool", "warn", f"{pinned} not installed; lab 3.7's checks need it",
                       ".venv/bin/python -m kflab.promtool (scripts/start does it too)")
    return Finding("promtool", "ok", f"{pinned} ({path})")


def packages(installed: dict[str, str | None]) -> Finding:
    """Each of pyproject.toml's requirements against the version this Python has (None: not installed)."""
    from packaging.requirements import Requirement  # pytest's own dependency

    reqs = {spec: Requirement(spec) for spec in installed}
    missing = [f"{reqs[spec].name} is missing" for spec, version in installed.items() if version is None]
    old = [f"{reqs[spec].name} {version} (the course needs {reqs[spec].specifier})" for spec, version in installed.items()
           if version is not None and not reqs[spec].specifier.contains(version, prereleases=True)]
    if missing or old:
        return Finding("Python packages", "fail" if missing else "warn", "; ".join(missing + old),
                       "scripts/bootstrap (it reinstalls .venv to match pyproject.toml)")
    return Finding("Python packages", "ok", f"all {len(installed)} at the versions pyproject.toml asks for")


def cpus(count: int | None) -> Finding:
    if not count:
        return Finding("CPUs", "warn", "unknown", "")
    if count < 2:
        return Finding("CPUs", "fail", f"{count} CPU; Kind needs at least 2", "use a machine with 4 or more CPUs")
    if count < 4:
        return Finding("CPUs", "warn", f"{count} CPUs; the lite profile wants 4", "close other work, or give Docker 4 CPUs")
    return Finding("CPUs", "ok", f"{count} CPUs" + ("" if count >= 8 else " (the full profile wants 8)"))


def memory(total: int | None) -> Finding:
    if not total:
        return Finding("Memory", "warn", "unknown", "")
    gib = total / GIB
    if gib < 7.5:
        return Finding("Memory", "fail", f"{gib:.1f} GiB; the lite profile needs 8 GB", "use a machine with 8 GB or more")
    return Finding("Memory", "ok", f"{gib:.1f} GiB" + ("" if gib >= 15 else " (the full profile needs 16 GB)"))


def inotify(platform: str, instances: str | None, watches: str | None) -> Finding:
    """The kernel's inotify limits, which all Kind nodes share (Linux and WSL2 only)."""
    if platform != "linux":
        return Finding("inotify limits", "skip", "not on Linux: Docker Desktop's virtual machine sets its own")
    try:
        have = {"max_user_instances": int(instances), "max_user_watches": int(watches)}
    except (TypeError, ValueError):
        return Finding("inotify limits", "skip", "not readable from /proc/sys/fs/inotify")
    low = [f"{k}={have[k]} (wants {v})" for k, v in INOTIFY.items() if have[k] < v]
    if low:
        return Finding("inotify limits", "fail", ", ".join(low) + ": pods fail with \"too many open files\"", INOTIFY_FIX)
    return Finding("inotify limits", "ok", ", ".join(f"{k}={v}" for k, v in have.items()))


def open_files(soft: int | None) -> Finding:
    """`ulimit -n` of this shell (port-forwards and notebooks hold many descriptors)."""
    if soft is None:
        return Finding("ulimit -n", "skip", "unknown")
    if 0 <= soft < 1024:
        return Finding("ulimit -n", "warn", f"{soft} open files per process",
                       "`ulimit -n 4096` in your shell profile (~/.bashrc or ~/.zshrc)")
    return Finding("ulimit -n", "ok", "unlimited" if soft < 0 else str(soft))


def wsl_location(proc_version: str | None, repo: str) -> Finding:
    """On WSL2, the course must live in the Linux filesystem, not under /mnt/c."""
    if "microsoft" not in (proc_version or "").lower():
        return Finding("WSL2 location", "skip", "not WSL")
    if repo.startswith("/mnt/"):
        return Finding("WSL2 location", "fail", f"the course is under {repo}, on the Windows drive: slow, and no file watching",
                       "clone it into your Linux home (`cd ~ && git clone ...`) and work there (docs/troubleshooting.md#slow-wsl2-filesystem)")
    return Finding("WSL2 location", "ok", f"{repo} is in the Linux filesystem")
