"""promtool, Prometheus's own rule checker and rule unit tester, at the pinned version.

Lab 3.7's checks run the learner's alerting rules through it. It is cached under the
user's cache folder by version. Where Go is installed it is built from the Go module
proxy (as CI does: `go install`, about 4 minutes on 2 cores the first time);
otherwise it comes from Prometheus's release archive on GitHub.
`python -m kflab.promtool` installs it ahead of time (scripts/bootstrap does).
"""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
from pathlib import Path

from kflab import paths, upstream
from kflab.versions import component

RELEASES = "https://github.com/prometheus/prometheus/releases/download"


class ToolError(RuntimeError):
    """promtool could not be installed; the message says what to do."""


def pin() -> dict:
    return component("prometheus")


def binary() -> Path:
    """Where the pinned promtool lives once installed."""
    return paths.cache_dir("tools", f"prometheus-{pin()['version']}") / "bin" / "promtool"


def release_url(system: str | None = None, machine: str | None = None) -> str:
    """The release archive that holds promtool for this OS and CPU."""
    system = (system or platform.system()).lower()
    machine = (machine or platform.machine()).lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    version = pin()["version"].lstrip("v")
    return f"{RELEASES}/v{version}/prometheus-{version}.{system}-{arch}.tar.gz"


def _build(dest: Path) -> None:
    from kflab.controlplane.build import build_tool  # Go is only needed on this path

    p = pin()
    folder = dest.parent.parent
    build_tool(p["module"], "cmd/promtool", p["module_version"], folder, folder / "build.log",
               f"-s -w -X github.com/prometheus/common/version.Version={p['version'].lstrip('v')}")


def _download(dest: Path, url: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "prometheus.tar.gz"
        upstream.download(url, archive)
        with tarfile.open(archive) as tar:
            member = next((m for m in tar.getmembers() if m.isfile() and Path(m.name).name == "promtool"), None)
            if member is None:
                raise ToolError(f"{url} holds no promtool")
            with tar.extractfile(member) as src, open(Path(tmp) / "promtool", "wb") as out:
                shutil.copyfileobj(src, out)
        part = Path(tmp) / "promtool"
        part.chmod(0o755)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(part), dest)


def ensure(url: str | None = None) -> Path:
    """The pinned promtool: cached, else built with Go, else downloaded from the release."""
    dest = binary()
    if dest.exists():
        return dest
    errors = []
    if shutil.which("go"):
        try:
            _build(dest)
            return dest
        except Exception as exc:  # noqa: BLE001 -- any build failure falls back to the download
            errors.append(f"go install: {str(exc).splitlines()[0]}")
    url = url or release_url()
    try:
        _download(dest, url)
        return dest
    except (urllib.error.URLError, OSError, tarfile.TarError, ToolError) as exc:
        errors.append(f"{url}: {exc}")
    raise ToolError(
        f"promtool {pin()['version']} is not installed and could not be fetched ({'; '.join(errors)}). "
        f"Run `.venv/bin/python -m kflab.promtool` with a network, or put promtool {pin()['version']} at {dest}."
    )


def run(args: list[str], cwd: Path, timeout_s: float = 60) -> tuple[int, str]:
    """Run promtool; returns its exit code and its stdout and stderr together."""
    try:
        proc = subprocess.run([str(ensure()), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return 124, f"promtool {' '.join(args)} did not finish within {timeout_s:g} s; simplify the expression."
    return proc.returncode, (proc.stdout + proc.stderr).strip()


if __name__ == "__main__":
    try:
        print(f"promtool {pin()['version']}: {ensure()}")
    except ToolError as exc:
        sys.exit(f"kflab: {exc}")
