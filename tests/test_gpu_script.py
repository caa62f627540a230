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

# pyproject dependencies that a stock PyTorch GPU image does not have (their import names).
COURSE_ONLY = ["kfp", "kubernetes", "kubernetes_validate", "jsonschema", "optuna", "kubeflow", "s3fs",
               "nbval", "nbclient", "ipykernel", "jupyterlab", "kserve", "mkdocs"]

BLOCKER = f"""\
import sys

class CourseOnly:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {COURSE_ONLY!r}:
            raise ImportError(f"{{name}} is not on a bare GPU machine; scripts/gpu_check.sh must not need it")

sys.meta_path.insert(0, CourseOnly())
"""


def test_the_gpu_script_runs_every_step_with_only_torch_and_pytest(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(textwrap.dedent(BLOCKER))
    out = tmp_path / "throughput.json"
    env = {**os.environ, "PYTHON": sys.executable, "PYTHONPATH": str(tmp_path), "CUDA_VISIBLE_DEVICES": ""}
    run = subprocess.run([paths.REPO / "scripts" / "gpu_check.sh", "--smoke", out], env=env,
                         capture_output=True, text=True, timeout=300)
    log = run.stdout + run.stderr
    assert run.returncode == 0, f"scripts/gpu_check.sh --smoke failed with exit status {run.returncode}:\n{log[-4000:]}"
    assert "1 skipped" in run.stdout and "no CUDA GPU here" in run.stdout, (
        f"The gpu check was not collected and skipped for want of a GPU, so its command line is wrong:\n{run.stdout[-3000:]}")
    figures = json.loads(out.read_text())
    for precision in ("fp32", "tf32", "bf16"):
        assert figures[f"{precision}_samples_per_s"] > 0, f"The sweep recorded no {precision} throughput: {figures}"
