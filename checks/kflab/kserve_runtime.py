"""KServe's own scikit-learn runtime and storage initializer, at the pinned KServe version, for offline checks.

Neither is published on PyPI at that version as the pod runs it, but both are Python in KServe's
repository: `python/sklearnserver` (the kserve-sklearnserver image) and `python/storage` plus
`python/storage-initializer/scripts/initializer-entrypoint` (the storage-initializer image). They
are taken from the Go module proxy's zip of the pinned release (the zip the CRD schemas come from),
unpacked into the cache, never into the repo, and run unchanged:

    initializer-entrypoint STORAGE_URI /mnt/models        # the init container
    python -m sklearnserver --model_dir=/mnt/models ...    # the predictor container
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from kflab import paths, upstream
from kflab.failures import CheckFailure
from kflab.versions import component

PARTS = ("python/sklearnserver/sklearnserver/", "python/storage/kserve_storage/",
         "python/storage-initializer/scripts/initializer-entrypoint")
SKIP = ("/example_models/", "/test_")
MODEL_FILES = (".joblib", ".pkl", ".pickle")  # sklearnserver/model.py's MODEL_EXTENSIONS
INIT_TIMEOUT_S = 60


def root() -> Path:
    return paths.cache_dir("kserve-runtimes", component("kserve")["version"])


def ensure() -> Path:
    """The unpacked runtime sources (fetching KServe's module zip once); FetchError when it cannot."""
    pin, dest = component("kserve"), root()
    done = dest / ".complete"
    if done.exists():
        return dest
    prefix = f"{pin['module']}@{pin['version']}/"
    with zipfile.ZipFile(upstream.module_zip(pin["module"], pin["version"])) as zf:
        for name in zf.namelist():
            rel = name.removeprefix(prefix)
            if rel.startswith(PARTS) and not any(s in rel for s in SKIP) and not name.endswith("/"):
                target = dest / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(zf.read(name))
    done.touch()
    return dest


def environment() -> dict:
    """The environment both programs run in: this venv, plus KServe's two packages on PYTHONPATH."""
    src = ensure()
    extra = [str(src / "python" / "sklearnserver"), str(src / "python" / "storage")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(extra + [os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
            "OMP_NUM_THREADS": "1"}


def initialize(storage_uri: str, model_dir: Path, env: dict | None = None) -> None:
    """Run KServe's storage initializer as the init container does; CheckFailure with its log if it fails.

    `env` adds what KServe's controller would set in the container, such as S3 keys and endpoint.
    """
    script = ensure() / "python" / "storage-initializer" / "scripts" / "initializer-entrypoint"
    proc = subprocess.run([sys.executable, str(script), storage_uri, str(model_dir)], env={**environment(), **(env or {})},
                          capture_output=True, text=True, timeout=INIT_TIMEOUT_S)
    if proc.returncode != 0:
        raise CheckFailure(f"KServe's storage initializer could not fetch {storage_uri}: {_error(proc.stdout + proc.stderr)}\n"
                           "Point storageUri at the folder that holds model.joblib.")


def _error(log: str) -> str:
    """The initializer's last ERROR record without its log prefix, with the lines that continue it."""
    lines = log.strip().splitlines()
    at = max((i for i, line in enumerate(lines) if " ERROR [" in line), default=None)
    if at is None:
        return "\n".join(lines[-3:])
    return " ".join([lines[at].split("] ", 1)[-1], *lines[at + 1:]]).strip()


def server_command(model_name: str, model_dir: Path, port: int, grpc_port: int) -> list[str]:
    """The predictor container's command, as the kserve-sklearnserver ClusterServingRuntime gives it."""
    return [sys.executable, "-m", "sklearnserver", f"--model_name={model_name}", f"--model_dir={model_dir}",
            f"--http_port={port}", f"--grpc_port={grpc_port}", "--enable_grpc=false", "--workers=1"]


def serve(storage_uri: str, model_name: str, workdir: Path):
    """Stage `storage_uri` into workdir/mnt/models and serve it with KServe's sklearn runtime, until ready."""
    from kflab import serving

    try:
        ensure()
    except upstream.FetchError as exc:
        raise CheckFailure(f"This check runs KServe {component('kserve')['version']}'s own sklearn runtime, fetched once "
                           f"from the Go module proxy, and that failed: {exc}. Connect once and run the check again.") from None
    model_dir = Path(workdir) / "mnt" / "models"
    initialize(storage_uri, model_dir)
    found = sorted(p.name for p in model_dir.iterdir())
    if not any(name.endswith(MODEL_FILES) for name in found):
        # The runtime would start without the model and answer 404 forever: say why now.
        raise CheckFailure(f"KServe's storage initializer put {found or 'nothing'} in /mnt/models, and its sklearn "
                           f"runtime loads only a file ending in {', '.join(MODEL_FILES)} there. Save the model as "
                           "model.joblib inside the folder that storageUri names.")

    def command(port: int, grpc_port: int) -> list[str]:
        return server_command(model_name, model_dir, port, grpc_port)

    return serving.launch(command, model_name, workdir, "python -m sklearnserver (KServe's sklearn runtime)",
                          (Path(workdir),), env=environment(),
                          advice="Check that storageUri names the folder holding model.joblib.")
