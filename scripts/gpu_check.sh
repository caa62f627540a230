#!/usr/bin/env bash
# The GPU path of lab 3.1, for a maintainer on a machine with an NVIDIA GPU.
# Needs only python3 (3.10+) with torch and pytest (no virtualenv, no kfp, no numpy, no cluster):
#   1. the `gpu`-marked check on the solution: NCCL, bf16 autocast, convergence, and the
#      fp32/bf16 throughput it prints;
#   2. an fp32 / TF32 / bf16 throughput sweep of train.py on one GPU, written as JSON.
#
# Usage: scripts/gpu_check.sh [OUT.json]          (default: gpu-throughput.json)
#        scripts/gpu_check.sh --smoke [OUT.json]  (no GPU: the check skips and the sweep runs on the CPU,
#                                                  to test the plumbing; tests/test_gpu_script.py runs this)
# Put the figures it writes in docs/stage3/gpu-training.md ("This course's own figures").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
python=${PYTHON:-python3}
device=cuda
case "${1:-}" in
  -h|--help) sed -n '2,11p' scripts/gpu_check.sh | sed 's/^# \{0,1\}//'; exit 0 ;;
  --smoke) device=cpu; shift ;;
  -*) echo "gpu_check.sh: unknown option $1. Try: scripts/gpu_check.sh --help" >&2; exit 2 ;;
esac
out=${1:-gpu-throughput.json}
if ! "$python" -c 'import torch, pytest' 2>/dev/null; then
  echo "gpu_check.sh: $python cannot import torch and pytest. Try: PYTHON=/path/to/python-with-torch scripts/gpu_check.sh" >&2
  exit 2
fi
export PYTHONPATH="${PWD}/checks${PYTHONPATH:+:${PYTHONPATH}}"

"$python" - <<'PY'
import torch
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, GPUs: "
      + (", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())) or "none"))
PY

if [[ "$device" == cuda ]]; then
  "$python" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else "no CUDA GPU is visible; use --smoke to test on the CPU")'
fi
# Under --smoke with no GPU this check skips: that still proves the harness loads with only torch and pytest.
# Only kflab's plugin loads (from pyproject's addopts), whatever other pytest plugins the machine has.
echo "==> the gpu check (lab 3.1, solution)"
PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 "$python" -m pytest checks/stage3/test_01_ddp_training.py --target solutions -m gpu --no-progress -s -q -rs

echo "==> fp32 / TF32 / bf16 throughput on $device"
"$python" -m kflab.bench_training gpu --device "$device" --out "$out"
echo "wrote $out"
