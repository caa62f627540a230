"""Run a learner's KServe predictor with the real `kserve.ModelServer` on localhost, and talk to it.

The predictor runs as its own process, as in a pod: `python predictor.py --model_name ...
--model_dir ... --http_port ...`. The checks wait until the server says the model is
ready (or the process ends, or a deadline passes), then speak KServe's v1 protocol to it.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from kflab.failures import CheckFailure
from kflab.torchrun import free_port, trim_traceback

START_TIMEOUT_S = 60  # importing kserve alone takes seconds on a slow laptop
MODEL_FILE = "model.joblib"


def train_classifier(folder: Path):
    """The Stage 2 classifier (scaler + logistic regression on the breast-cancer table), saved as model.joblib.

    Returns the features table, so that a check can compare the server's answers with the model's own.
    """
    import joblib
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    X, y = load_breast_cancer(as_frame=True, return_X_y=True)
    # A weak C and half the rows: a predictor that trains a model of its own answers differently.
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=1000)).fit(X[::2], y[::2])
    joblib.dump(model, folder / MODEL_FILE)
    return model, X


@dataclasses.dataclass
class Reply:
    status: int
    body: dict | None  # None when the answer was not JSON
    text: str


@dataclasses.dataclass
class Server:
    proc: subprocess.Popen
    port: int
    log: Path
    roots: tuple[Path, ...]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(self, path: str, body: object = None, timeout_s: float = 20) -> Reply:
        """GET `path`, or POST `body` as JSON (with the Content-Type header KServe's v1 protocol needs)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout_s) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        text = raw.decode(errors="replace")
        try:
            return Reply(status, json.loads(text), text)
        except ValueError:
            return Reply(status, None, text)

    def output(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def last_error(self) -> str:
        """The newest traceback in the server's log, cut to the learner's frames, named as in their lab folder."""
        text = trim_traceback(self.output(), self.roots)
        for root in self.roots:  # as LearnerError shows frames: `File "predictor.py"`, not an absolute path
            text = text.replace(f'"{Path(root).resolve()}/', '"')
        return text

    def stop(self) -> None:
        for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            if self.proc.poll() is not None:
                return
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                continue


def start(script: Path, model_name: str, model_dir: Path, workdir: Path, shown: str,
          timeout_s: float = START_TIMEOUT_S) -> Server:
    """Start a learner's predictor `script` and wait until it reports `model_name` ready; CheckFailure if it never does."""
    script = Path(script).resolve()

    def command(port: int, grpc_port: int) -> list[str]:
        return [sys.executable, str(script), f"--model_name={model_name}", f"--model_dir={model_dir}",
                f"--http_port={port}", f"--grpc_port={grpc_port}", "--enable_grpc=false", "--workers=1"]

    return launch(command, model_name, workdir, f"python {shown}", (script.parent,), timeout_s=timeout_s,
                  advice="Load the model in load(), set self.ready = True, and start kserve.ModelServer with it.")


def launch(command, model_name: str, workdir: Path, shown: str, roots: tuple[Path, ...], env: dict | None = None,
           timeout_s: float = START_TIMEOUT_S, advice: str = "") -> Server:
    """Run `command(http_port, grpc_port)` as a model server until it reports `model_name` ready, or fail with a sentence."""
    if importlib.util.find_spec("kserve") is None:
        raise CheckFailure("The kserve package is not installed in this environment. Run `pip install -e \".[serve]\"` "
                           "(scripts/start installs it) and run the check again.")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    port, log = free_port(), workdir / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(command(port, free_port()), cwd=workdir, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, env=env or {**os.environ, "OMP_NUM_THREADS": "1"})
    server = Server(proc, port, log, roots)
    deadline, last = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise CheckFailure(_ended(shown, proc.returncode, server))
        try:
            last = server.request(f"/v1/models/{model_name}", timeout_s=2)
            if last.status == 200 and (last.body or {}).get("ready") is True:
                return server
        except OSError:
            pass  # not listening yet
        time.sleep(0.25)
    server.stop()
    said = f" It last answered HTTP {last.status}: {last.text[:200]}" if last else " It never answered on its HTTP port."
    raise CheckFailure(f"`{shown}` did not report model {model_name!r} ready within {timeout_s:.0f} s.{said} {advice}".rstrip())


def _ended(shown: str, code: int, server: Server) -> str:
    if code == 0:
        return (f"`{shown}` ended (exit status 0) without serving anything. Its `__main__` block must load "
                "the model and call kserve.ModelServer().start([model]), which keeps running.")
    return (f"`{shown}` stopped with exit status {code} before serving. Read the error below, fix it, and run "
            "the check again.\n" + server.last_error())
