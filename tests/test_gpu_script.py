"""scripts/gpu_check.sh must run on a bare GPU machine: python3 with torch and pytest, nothing of the course's own.

A GPU is lent for minutes at a time, so the script is proven here first: `--smoke` runs every
step on the CPU (the gpu check skips) with the course-only packages made unimportable.
"""

import json
import os
import subprocess
import sys
import textwrap

from kflab import paths

# What python3 with only torch and pytest installed lacks (import names): the course's pyproject
# dependencies, and numpy and PyYAML, which torch's own wheel does not require.
COURSE_ONLY = ["kfp", "kubernetes", "kubernetes_validate", "jsonschema", "optuna", "kubeflow", "s3fs",
               "nbval", "nbclient", "ipykernel", "jupyterlab", "kserve", "mkdocs", "numpy", "yaml"]

# None in sys.modules is how a package that is not installed looks to `import` (ModuleNotFoundError)
# and to importlib.util.find_spec (None), which torch uses to probe for numpy.
BLOCKER = f"""\
import sys

sys.modules.update(dict.fromkeys({COURSE_ONLY!r}))
"""


def bare_gpu_machine_env(tmp_path) -> dict:
    """The environment of a python3 that has torch and pytest only, inherited by torchrun's ranks too."""
    (tmp_path / "sitecustomize.py").write_text(textwrap.dedent(BLOCKER))
    return {**os.environ, "PYTHON": sys.executable, "PYTHONPATH": str(tmp_path), "CUDA_VISIBLE_DEVICES": ""}


def test_the_gpu_script_runs_every_step_with_only_torch_and_pytest(tmp_path):
    env = bare_gpu_machine_env(tmp_path)
    out = tmp_path / "throughput.json"
    run = subprocess.run([paths.REPO / "scripts" / "gpu_check.sh", "--smoke", out], env=env,
                         capture_output=True, text=True, timeout=300)
    log = run.stdout + run.stderr
    assert run.returncode == 0, f"scripts/gpu_check.sh --smoke failed with exit status {run.returncode}:\n{log[-4000:]}"
    assert "1 skipped" in run.stdout and "no CUDA GPU here" in run.stdout, (
        f"The gpu check was not collected and skipped for want of a GPU, so its command line is wrong:\n{run.stdout[-3000:]}")
    figures = json.loads(out.read_text())
    for precision in ("fp32", "tf32", "bf16"):
        assert figures[f"{precision}_samples_per_s"] > 0, f"The sweep recorded no {precision} throughput: {figures}"


def test_lab_3_1_solution_passes_its_checks_with_only_torch_and_pytest(tmp_path):
    # The gpu check runs train.py with the same --debug-dir record as these CPU checks, so this is
    # the proof, before a GPU is lent, that the solution and the harness need nothing but torch.
    env = {**bare_gpu_machine_env(tmp_path), "PYTHONPATH": f"{tmp_path}:{paths.REPO / 'checks'}",
           "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    run = subprocess.run([sys.executable, "-m", "pytest", "checks/stage3/test_01_ddp_training.py", "--target", "solutions",
                          "--no-progress", "-q", "-p", "no:cacheprovider"],
                         cwd=paths.REPO, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0 and "11 passed" in run.stdout, (
        "Lab 3.1's solution or its checks import something a bare GPU machine lacks (numpy? PyYAML?), so the "
        f"real-GPU run would fail there:\n{(run.stdout + run.stderr)[-4000:]}")


def test_toml_is_read_with_tomli_on_a_python_without_tomllib(tmp_path):
    # Python 3.10 has no tomllib; pytest brings tomli there. A stand-in tomli proves which parser ran.
    (tmp_path / "sitecustomize.py").write_text("import sys\nsys.modules['tomllib'] = None\n")
    (tmp_path / "tomli.py").write_text("def load(fh):\n    return {'read_by': 'tomli'}\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}:{paths.CHECKS}"}
    run = subprocess.run([sys.executable, "-c", "from kflab import tomlfile, paths; print(tomlfile.load(paths.VERSIONS))"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "'read_by': 'tomli'" in run.stdout, (
        f"Without tomllib, kflab must read TOML with tomli, or the harness cannot load on a GPU machine's Python 3.10:\n"
        f"{run.stdout}{run.stderr}")


def test_the_gpu_script_explains_itself_and_refuses_what_it_cannot_use(tmp_path):
    script = str(paths.REPO / "scripts" / "gpu_check.sh")
    shown = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=30)
    assert shown.returncode == 0 and "Usage: scripts/gpu_check.sh" in shown.stdout, shown.stdout
    bad = subprocess.run([script, "--bogus"], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "unknown option --bogus" in bad.stderr and not bad.stdout, bad.stderr
    no_torch = tmp_path / "python3"
    no_torch.write_text("#!/bin/sh\nexit 1\n")
    no_torch.chmod(0o755)
    missing = subprocess.run([script, str(tmp_path / "out.json")], capture_output=True, text=True, timeout=30,
                             env={**os.environ, "PYTHON": str(no_torch)})
    assert missing.returncode == 2 and "cannot import torch and pytest" in missing.stderr, missing.stderr
