"""Upstream files (CRDs) at pinned versions, fetched into the user's cache.

The source is the Go module proxy's zip of the pinned module (plain HTTPS, so no
Go toolchain is needed), with raw.githubusercontent.com as a fallback. Nothing
fetched here is ever written into the repository.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from kflab import paths
from kflab.versions import crd_pin

TIMEOUT_S = 120


class FetchError(RuntimeError):
    """An upstream file could not be fetched from any source."""


def _proxies() -> list[str]:
    raw = os.environ.get("GOPROXY", "https://proxy.golang.org")
    return [p for p in raw.replace("|", ",").split(",") if p.startswith("http")]


def _escape(module: str) -> str:
    # The module proxy protocol spells capitals as "!" + lowercase.
    return "".join("!" + c.lower() if c.isupper() else c for c in module)


def download(url: str, dest: Path) -> None:
    tmp = dest.with_suffix(dest.suffix + ".part")
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp, open(tmp, "wb") as out:
        shutil.copyfileobj(resp, out)
    tmp.replace(dest)


def module_zip(module: str, version: str) -> Path:
    """The module's zip from the Go module proxy, cached by module and version."""
    dest = paths.cache_dir("modules") / f"{_escape(module).replace('/', '_')}@{version}.zip"
    if dest.exists():
        return dest
    errors = []
    for proxy in _proxies():
        url = f"{proxy.rstrip('/')}/{_escape(module)}/@v/{version}.zip"
        try:
            download(url, dest)
            return dest
        except (urllib.error.URLError, OSError) as exc:
            errors.append(f"{url}: {exc}")
    raise FetchError("; ".join(errors) or "GOPROXY names no HTTP proxy")


def module_file(module: str, version: str, path: str, repo: str | None = None) -> Path:
    """One file of a module at a version, from the cache or fetched into it."""
    dest = paths.cache_dir("upstream", _escape(module).replace("/", "_") + "@" + version) / path
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    errors = []
    try:
        with zipfile.ZipFile(module_zip(module, version)) as zf:
            data = zf.read(f"{module}@{version}/{path}")
        with tempfile.NamedTemporaryFile(dir=dest.parent, delete=False) as tmp:
            tmp.write(data)
        Path(tmp.name).replace(dest)
        return dest
    except (FetchError, KeyError, zipfile.BadZipFile) as exc:
        errors.append(f"module proxy: {exc}")
    if repo:
        url = f"https://raw.githubusercontent.com/{repo}/{version}/{path}"
        try:
            download(url, dest)
            return dest
        except (urllib.error.URLError, OSError) as exc:
            errors.append(f"{url}: {exc}")
    raise FetchError(
        f"could not fetch {path} of {module}@{version} ({'; '.join(errors)}). "
        "Check your network, or set GOPROXY to a reachable Go module proxy."
    )


def crd_file(kind: str) -> Path:
    """The pinned upstream CRD manifest for `kind`, as a cached local file."""
    pin = crd_pin(kind)
    return module_file(pin["module"], pin["version"], pin["path"], pin.get("repo"))
