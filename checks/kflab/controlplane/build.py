"""`scripts/controlplane build`: the control plane's binaries, built from Go modules.

Binaries go to a cache folder keyed by version and are reused; Go's own module
cache and GOCACHE stay at their defaults, so a rebuild after a version bump only
compiles what changed. Go builds use all cores (-p defaults to the CPU count), so
the components are built one after another.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from kflab import paths
from kflab.controlplane import gomod
from kflab.versions import component, pins

K8S_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
KSERVE_WEBHOOK = Path(__file__).with_name("kserve_webhook.go")
SEAWEEDFS = "github.com/seaweedfs/seaweedfs"  # KFP's object store; `weed` is its one binary


class BuildError(RuntimeError):
    """A Go command failed; the message names the step and the log file."""


def versions() -> dict[str, str]:
    cp = pins()["controlplane"]
    # The webhook server is our own source on KServe's module: a change to either rebuilds it.
    source = hashlib.sha256(KSERVE_WEBHOOK.read_bytes()).hexdigest()[:10]
    return {"kubernetes": cp["kubernetes"], "kwok": cp["kwok"], "kueue": component("kueue")["version"],
            "kserve-webhook": f"{component('kserve')['version']}-{source}", "seaweedfs": cp["seaweedfs"]}


def folders() -> dict[str, Path]:
    """Where each component's binaries live; etcd's version follows kubernetes'."""
    v = versions()
    return {name: paths.cache_dir("controlplane", f"{name}-{v[name]}") for name in v}


def binaries() -> dict[str, Path]:
    """The path each binary has (or will have) once built."""
    f = folders()
    out = {cmd: f["kubernetes"] / "bin" / cmd for cmd in (*K8S_COMMANDS, "etcd")}
    out["kwok"] = f["kwok"] / "bin" / "kwok"
    out["kueue"] = f["kueue"] / "bin" / "kueue"
    out["kserve-webhook"] = f["kserve-webhook"] / "bin" / "kserve-webhook"
    out["seaweedfs"] = f["seaweedfs"] / "bin" / "weed"
    return out


def missing() -> list[str]:
    return [name for name, path in binaries().items() if not path.exists()]


def log(msg: str) -> None:
    print(f"[controlplane build] {msg}", file=sys.stderr, flush=True)


@contextmanager
def step(what: str):
    log(f"{what} ...")
    start = time.monotonic()
    yield
    log(f"{what}: done in {time.monotonic() - start:.0f} s")


def go(args: list[str], cwd: Path, logfile: Path, **env: str) -> str:
    """Run one go command with CGO off; its output goes to `logfile`, shown on failure."""
    full_env = {**os.environ, "CGO_ENABLED": "0", **env}
    with open(logfile, "a") as fh:
        fh.write(f"\n$ go {' '.join(args)}\n")
        fh.flush()
        proc = subprocess.run(["go", *args], cwd=cwd, env=full_env, stdout=subprocess.PIPE, stderr=fh, text=True)
    if proc.returncode:
        tail = "".join(logfile.read_text().splitlines(keepends=True)[-30:])
        raise BuildError(f"`go {' '.join(args[:2])} ...` failed (exit {proc.returncode}); log {logfile}:\n{tail}")
    return proc.stdout


def module_gomod(module: str, version: str, cwd: Path, logfile: Path) -> str:
    """A module's published go.mod, through the go command (proxy settings, checksums)."""
    info = json.loads(go(["mod", "download", "-json", f"{module}@{version}"], cwd, logfile))
    return Path(info["GoMod"]).read_text()


def k8s_ldflags(version: str) -> str:
    # Kueue and kubectl read the server version, so stamp it as Kubernetes' own build does.
    major, minor = version.lstrip("v").split(".")[:2]
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {pkg}.gitVersion={version}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
            f"-X {pkg}.buildDate=1970-01-01T00:00:00Z",
        ]
    return " ".join(flags)


def _go_build(pkg: str, dest: Path, cwd: Path, logfile: Path, ldflags: str) -> None:
    part = dest.with_name(dest.name + ".part")  # a killed build leaves no half binary
    go(["build", "-trimpath", "-ldflags", ldflags, "-o", str(part), pkg], cwd, logfile)
    part.replace(dest)


def build_kubernetes(version: str, folder: Path, logfile: Path) -> None:
    wrapper = folder / "wrapper"
    wrapper.mkdir(exist_ok=True)
    (folder / "bin").mkdir(exist_ok=True)
    bins = binaries()
    if all(bins[c].exists() for c in (*K8S_COMMANDS, "etcd")):
        return
    resolved = wrapper / ".resolved"
    if not resolved.exists():
        with step(f"resolve k8s.io/kubernetes {version} (wrapper module, staging replaces)"):
            k8s_mod = module_gomod("k8s.io/kubernetes", version, wrapper, logfile)
            text, etcd = gomod.kubernetes_wrapper(k8s_mod, version)
            (wrapper / "go.mod").write_text(text)
            (wrapper / "go.sum").unlink(missing_ok=True)
            pkgs = [f"k8s.io/kubernetes/cmd/{c}@{version}" for c in K8S_COMMANDS]
            go(["get", *pkgs, f"go.etcd.io/etcd/server/v3@{etcd}"], wrapper, logfile)
            resolved.write_text(etcd + "\n")
    etcd = resolved.read_text().strip()
    for cmd in K8S_COMMANDS:
        if not bins[cmd].exists():
            with step(f"build {cmd} {version}"):
                _go_build(f"k8s.io/kubernetes/cmd/{cmd}", bins[cmd], wrapper, logfile, k8s_ldflags(version))
    if not bins["etcd"].exists():
        with step(f"build etcd {etcd} (the version kubernetes {version} requires)"):
            _go_build("go.etcd.io/etcd/server/v3", bins["etcd"], wrapper, logfile, "-s -w")


def build_tool(module: str, cmd: str, version: str, folder: Path, logfile: Path, ldflags: str) -> None:
    """`go install module/cmd@version`, or a wrapper module when upstream has replaces."""
    dest = folder / "bin" / Path(cmd).name
    if dest.exists():
        return
    dest.parent.mkdir(exist_ok=True)
    with step(f"build {module}/{cmd} {version}"):
        upstream = module_gomod(module, version, folder, logfile)
        if not gomod.replaces(upstream):
            # go install pkg@version ignores any go.mod around it, so cwd does not matter.
            tmp_bin = folder / "gobin.part"
            tmp_bin.mkdir(exist_ok=True)
            go(["install", "-trimpath", "-ldflags", ldflags, f"{module}/{cmd}@{version}"], folder, logfile,
               GOBIN=str(tmp_bin))
            (tmp_bin / dest.name).replace(dest)
            return
        # go install refuses modules with replace directives: copy them into a wrapper.
        wrapper = folder / "wrapper"
        wrapper.mkdir(exist_ok=True)
        text = gomod.wrapper("kflab.invalid/wrapper", upstream, {module: version}, gomod.module_replaces(upstream))
        (wrapper / "go.mod").write_text(text)
        go(["get", f"{module}/{cmd}@{version}"], wrapper, logfile)
        _go_build(f"{module}/{cmd}", dest, wrapper, logfile, ldflags)


def build_kserve_webhook(folder: Path, logfile: Path) -> None:
    """kserve_webhook.go in a wrapper module that requires KServe at its pin, with KServe's replaces."""
    dest = folder / "bin" / "kserve-webhook"
    if dest.exists():
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    pin = component("kserve")
    with step(f"build KServe {pin['version']}'s InferenceService webhooks (kserve_webhook.go)"):
        upstream = module_gomod(pin["module"], pin["version"], folder, logfile)
        wrapper = folder / "wrapper"
        wrapper.mkdir(exist_ok=True)
        (wrapper / "go.mod").write_text(gomod.wrapper("kflab.invalid/kservewebhook", upstream,
                                                      {pin["module"]: pin["version"]}, gomod.module_replaces(upstream)))
        (wrapper / "main.go").write_bytes(KSERVE_WEBHOOK.read_bytes())
        go(["mod", "tidy"], wrapper, logfile)
        _go_build(".", dest, wrapper, logfile, "-s -w")


def build() -> dict[str, Path]:
    """Build whatever binary is missing; return every binary's path."""
    v, f = versions(), folders()
    start = time.monotonic()
    todo = missing()
    if not todo:
        log(f"all binaries cached under {paths.cache_dir('controlplane')}")
        return binaries()
    log(f"building {', '.join(todo)}; Go logs in each component's build.log")
    build_kubernetes(v["kubernetes"], f["kubernetes"], f["kubernetes"] / "build.log")
    build_tool("sigs.k8s.io/kwok", "cmd/kwok", v["kwok"], f["kwok"], f["kwok"] / "build.log",
               f"-s -w -X sigs.k8s.io/kwok/pkg/consts.Version={v['kwok']}")
    build_tool("sigs.k8s.io/kueue", "cmd/kueue", v["kueue"], f["kueue"], f["kueue"] / "build.log",
               f"-s -w -X sigs.k8s.io/kueue/pkg/version.GitVersion={v['kueue']}")
    build_kserve_webhook(f["kserve-webhook"], f["kserve-webhook"] / "build.log")
    build_tool(SEAWEEDFS, "weed", v["seaweedfs"], f["seaweedfs"], f["seaweedfs"] / "build.log", "-s -w")
    log(f"built in {time.monotonic() - start:.0f} s total")
    return binaries()
