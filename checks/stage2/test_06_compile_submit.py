"""Lab 2.6: compile with the KFP CLI, and submit with kfp.Client."""

import os
import shutil
import socket
import subprocess
import sys
import urllib.request

import pytest

from kflab.failures import expect
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


def test_submit_refuses_clearly_without_an_endpoint(lab, compiled):
    """Without --host or KFP_HOST, does submit.py exit non-zero with a sentence, not a traceback?"""
    proc = _submit(lab, compiled[2])
    said = proc.stdout + proc.stderr
    expect(proc.returncode != 0, "submit.py succeeded without any endpoint. It should refuse and say how to get one.")
    expect("Traceback" not in said, "submit.py crashed with a traceback when no endpoint was given. "
                                    "Check args.host first and print endpoint_problem(...) instead.")
    expect("port-forward" in said and "--host" in said,
           f"submit.py's message ({said.strip()[:120]!r}) should say how to get an endpoint: port-forward svc/ml-pipeline-ui and pass --host.")


def test_submit_refuses_clearly_when_the_endpoint_does_not_answer(lab, compiled):
    """With a --host where nothing listens, does submit.py give up quickly with a sentence?"""
    host = f"http://127.0.0.1:{_free_port()}"
    proc = _submit(lab, compiled[2], "--host", host, timeout=30)
    said = proc.stdout + proc.stderr
    expect(proc.returncode != 0, f"submit.py reported success against {host}, where nothing listens.")
    expect("Traceback" not in said, "submit.py crashed with a traceback when the endpoint did not answer; check it with endpoint_problem() first.")
    expect(host in said, f"submit.py's message should name the endpoint it could not reach ({host}).")


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
