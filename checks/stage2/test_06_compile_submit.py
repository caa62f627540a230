"""Lab 2.6: compile with the KFP CLI, and submit with kfp.Client."""

import os
import shutil
import socket
import subprocess
import sys
import threading
import urllib.request
import warnings
from inspect import signature
from types import SimpleNamespace
from unittest import mock

import pytest

from kflab.failures import LearnerError, expect, fail
from kflab.kfp_ir import PipelineIR

NO_KFP = ("no KFP endpoint: run `kubectl -n kubeflow port-forward svc/ml-pipeline-ui 8080:80` and set "
          "KFP_HOST=http://localhost:8080. The CI control plane has no KFP backend, so this check runs on Kind only.")


def _kfp_cli() -> str:
    return shutil.which("kfp", path=os.path.dirname(sys.executable)) or shutil.which("kfp") or "kfp"


@pytest.fixture(scope="module")
def compiled(lab, lab_tmp):
    """pipeline.py compiled by the real `kfp dsl compile` CLI: (exit code, output, package path)."""
    package = lab_tmp / "pipeline.yaml"
    proc = subprocess.run([_kfp_cli(), "dsl", "compile", "--py", str(lab.file("pipeline.py")), "--output", str(package)],
                          capture_output=True, text=True, timeout=120, cwd=lab.dir)
    return proc.returncode, (proc.stdout + proc.stderr).strip(), package


@pytest.fixture(scope="module")
def submit_module(lab):
    """submit.py imported once; a syntax error there is named as such."""
    return lab.module("submit.py")


@pytest.fixture(scope="module")
def no_endpoint(lab, compiled, submit_module):
    """submit.py run once without --host or KFP_HOST."""
    return _submit(lab, compiled[2])


@pytest.fixture(scope="module")
def dead_endpoint(lab, compiled, submit_module):
    """submit.py run once against a --host where nothing listens: (host, process)."""
    host = f"http://127.0.0.1:{_free_port()}"
    return host, _submit(lab, compiled[2], "--host", host, timeout=30)


class _ClosingPort:
    """A local port that accepts each connection and closes it at once, counting them. It answers nothing."""

    def __enter__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.host, self.connections, self._stop = f"http://127.0.0.1:{self.sock.getsockname()[1]}", 0, threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        return self

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:  # the accept timed out; look at the stop flag again
                continue
            self.connections += 1
            conn.close()

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.sock.close()


def _submit(lab, package, *args, env=None, timeout=60):
    if not package.exists():  # the refusal checks must not depend on the compile checkpoint
        package.write_text("{}\n")
    base = {k: v for k, v in os.environ.items() if k != "KFP_HOST"}
    try:
        return subprocess.run([sys.executable, str(lab.file("submit.py")), str(package), *args],
                              capture_output=True, text=True, timeout=timeout, cwd=lab.dir, env={**base, **(env or {})})
    except subprocess.TimeoutExpired:
        expect(False, f"submit.py did not finish within {timeout} s. It should check the endpoint first and give up quickly.")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_kfp_cli_compiles_the_pipeline(compiled):
    """Does `kfp dsl compile --py pipeline.py --output pipeline.yaml` succeed?"""
    code, output, package = compiled
    last = output.splitlines()[-1] if output else "no output"
    expect(code == 0 and package.exists(), f"`kfp dsl compile` failed: {last}. Fix pipeline.py until the CLI compiles it.")


def test_compiled_package_is_named_and_has_typed_parameters(compiled):
    """Is the package named number-summary, with n (int) and scale (float) parameters?"""
    code, _, package = compiled
    expect(code == 0, "pipeline.py does not compile yet, so there is no package to read. Fix the compile first.")
    ir = PipelineIR.load(package)
    expect(ir.name == "number-summary", f"The pipeline is named {ir.name!r}. Name it with @dsl.pipeline(name='number-summary').")
    params = {k: v.get("parameterType") for k, v in ir.root_inputs().items()}
    expect(params == {"n": "NUMBER_INTEGER", "scale": "NUMBER_DOUBLE"},
           f"The package's parameters are {params}; they should be n (int) and scale (float).")


def test_submit_refuses_clearly_without_an_endpoint(no_endpoint):
    """Without --host or KFP_HOST, does submit.py exit non-zero with a sentence, not a traceback?"""
    proc = no_endpoint
    said = proc.stdout + proc.stderr
    expect(proc.returncode != 0, "submit.py succeeded without any endpoint. It should refuse and say how to get one.")
    expect("Traceback" not in said, "submit.py crashed with a traceback when no endpoint was given. "
                                    "Check args.host first and print endpoint_problem(...) instead.")
    expect("port-forward" in said and "--host" in said,
           f"submit.py's message ({said.strip()[:120]!r}) should say how to get an endpoint: port-forward svc/ml-pipeline-ui and pass --host.")


def test_submit_refuses_clearly_when_the_endpoint_does_not_answer(dead_endpoint):
    """With a --host where nothing listens, does submit.py give up quickly with a sentence?"""
    host, proc = dead_endpoint
    said = proc.stdout + proc.stderr
    expect(proc.returncode != 0, f"submit.py reported success against {host}, where nothing listens.")
    expect("Traceback" not in said, "submit.py crashed with a traceback when the endpoint did not answer; check it with endpoint_problem() first.")
    expect(host in said, f"submit.py's message should name the endpoint it could not reach ({host}).")


def test_submit_writes_its_refusals_to_stderr(no_endpoint, dead_endpoint):
    """Do both refusals go to stderr, with a non-zero exit code, so a script that pipes stdout still sees them?"""
    host, dead = dead_endpoint
    for proc, case, sign in ((no_endpoint, "no endpoint is given", "--host"), (dead, f"{host} does not answer", host)):
        expect(proc.returncode != 0, f"submit.py exits with 0 when {case}. Return 2 after printing the problem.")
        expect(sign in proc.stderr or sign not in proc.stdout,
               f"When {case}, submit.py prints its sentence to stdout, where a script that keeps the output would "
               "swallow it. Print it to stderr: `print(problem, file=sys.stderr)`.")
        expect("Traceback" not in proc.stderr, f"When {case}, submit.py writes a traceback to stderr instead of a "
                                               "sentence. Print endpoint_problem(...)'s sentence to stderr and return 2.")
        last = (proc.stderr.strip().splitlines() or ["nothing"])[-1]
        expect(sign in proc.stderr, f"When {case}, submit.py's stderr ends with {last[:100]!r}, not endpoint_problem(...)'s "
                                    "sentence. Print that sentence with `print(problem, file=sys.stderr)` and return 2.")


def test_submit_sends_its_requests_to_the_clients_host(lab, compiled, submit_module):
    """Is submit() written: given a kfp.Client, does it send a request to that client's host?"""
    import kfp

    submit = lab.attr(submit_module, "submit")
    package = compiled[2]
    if not package.exists():
        package.write_text("{}\n")
    outcome = {}

    def call(client):
        try:
            outcome["value"] = submit(client, str(package), "number-summary", "kflab-offline", "offline-check", {"n": 5})
        except BaseException as exc:  # learner code may raise anything; the client raises on the closed connection
            outcome["error"] = exc

    with _ClosingPort() as port:
        # A namespace of its own keeps kfp.Client from asking the server for one while it is built.
        with warnings.catch_warnings():  # kfp.Client warns about server versions on every construction
            warnings.simplefilter("ignore", FutureWarning)
            client = kfp.Client(host=port.host, namespace="kflab-offline")
        caller = threading.Thread(target=call, args=(client,), daemon=True)
        caller.start()
        caller.join(30)
    expect(not caller.is_alive(), "submit() did not return within 30 s, although the server closed every connection at once.")
    if port.connections:
        return  # it reached for the server; the cluster checkpoint proves that the requests are right
    error = outcome.get("error")
    expect(not isinstance(error, NotImplementedError),
           "submit() still raises NotImplementedError, so nothing is uploaded or run. Write it as step 3 of the page "
           "shows: upload the package as a new version (client.upload_pipeline_version) and start a run (client.run_pipeline).")
    if error is not None:
        raise LearnerError("calling submit() with a kfp.Client", error, (lab.dir.resolve(),))
    fail(f"submit() returned {outcome.get('value')!r:.60} without sending any request to the client's KFP host. "
         "It should upload the package (client.upload_pipeline_version) and start a run (client.run_pipeline).")


def _spy_client():
    """A kfp.Client stand-in with the real methods' signatures, which records the calls and answers with ids."""
    import kfp

    spy = mock.create_autospec(kfp.Client, instance=True)
    spy.get_pipeline_id.return_value = None
    spy.upload_pipeline.return_value = SimpleNamespace(pipeline_id="pipeline-1")
    spy.upload_pipeline_version.return_value = SimpleNamespace(pipeline_id="pipeline-1", pipeline_version_id="version-1")
    spy.create_experiment.return_value = spy.get_experiment.return_value = SimpleNamespace(experiment_id="experiment-1")
    spy.run_pipeline.return_value = SimpleNamespace(run_id="run-1")
    return spy


def test_submit_uploads_a_version_and_starts_a_run_of_that_version(lab, compiled, submit_module):
    """Does submit() upload the package as a pipeline version, then run_pipeline that version with the parameters?"""
    import kfp

    submit = lab.attr(submit_module, "submit")
    spy = _spy_client()
    with lab.code("calling submit() with a recording kfp.Client"):
        try:
            submit(spy, str(compiled[2]), "number-summary", "kflab-offline", "offline-check", {"n": 5})
        except NotImplementedError:
            fail("submit() still raises NotImplementedError. Write it as step 3 of the page shows.")
    expect(spy.upload_pipeline_version.called,
           "submit() never calls client.upload_pipeline_version, so a changed package never becomes a new version. "
           "Upload it with `client.upload_pipeline_version(package, version_name, pipeline_id=...)`.")
    expect(spy.run_pipeline.called, "submit() uploads a version but starts no run. Call `client.run_pipeline(...)` with "
                                    "the experiment's id and `version_id=` the uploaded version's id.")
    call = spy.run_pipeline.call_args
    run = signature(kfp.Client.run_pipeline).bind(spy, *call.args, **call.kwargs).arguments
    expect(run.get("version_id") == "version-1",
           f"submit() runs version_id={run.get('version_id')!r}, not the version it just uploaded. Pass "
           "`version_id=version.pipeline_version_id` (and the pipeline's id) to run_pipeline.")
    expect(run.get("experiment_id") == "experiment-1" and run.get("params") == {"n": 5},
           f"submit() starts the run with experiment_id={run.get('experiment_id')!r} and params={run.get('params')!r}. "
           "Pass the id of the experiment it created and the parameters it was given.")


@pytest.mark.cluster
def test_submitted_run_succeeds_on_the_cluster(lab, compiled):
    """On a cluster with KFP, does submit.py upload a version and see its run reach SUCCEEDED?"""
    host = os.environ.get("KFP_HOST")
    try:
        urllib.request.urlopen(f"{host.rstrip('/')}/apis/v2beta1/healthz", timeout=3) if host else None
    except OSError:
        host = None
    if not host:
        pytest.skip(NO_KFP)
    proc = _submit(lab, compiled[2], "--host", host, "--watch", "--timeout", "600", "n=5", timeout=700)
    expect(proc.returncode == 0 and "SUCCEEDED" in proc.stdout,
           f"The run did not succeed: {(proc.stdout + proc.stderr).strip()[-300:]}")
