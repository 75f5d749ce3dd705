#!/usr/bin/env bash
# The GPU checks in one run (about 5 minutes on an H200, 8 at most), from the repository root:
#   bash benchmarks/gpu_check.sh
# 1. .venv via `make setup` when missing (pip installs the pinned torch==2.13.0, its CUDA build on Linux:
#    needs pip's index or a local mirror of it, PIP_INDEX_URL / PIP_FIND_LINKS);
# 2. CUDA seen by torch, the device's name, nvidia-smi;
# 3. the features: data/features/{tensors.pt,vocab.json} when present (carry them), else `dvc repro featurize`
#    from the corpus mirror: RNNLAB_MIRROR, else shared/datasets or ../shared/datasets (a folder with SHA256SUMS);
# 4. benchmarks/bench_gpu.py: train.lstm on the GPU and the CPU (test scores side by side), then the grid
#    (cuDNN LSTM; autocast off/bf16/fp16; batch 64 and 512; GPU utilisation) -> benchmarks/results.{json,md},
#    copied under $OUT when that is set.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS

if [ ! -x .venv/bin/python ]; then
  make setup || { echo "gpu_check: make setup failed (no package index? set PIP_INDEX_URL or PIP_FIND_LINKS)" >&2; exit 2; }
fi
# shellcheck disable=SC1091
source .venv/bin/activate
export TQDM_DISABLE=1 MLFLOW_DISABLE_TELEMETRY=true

nvidia-smi || echo "gpu_check: nvidia-smi not found"
python - <<'PY'
import sys
import torch
print(f"torch {torch.__version__}, built for CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}")
if not torch.cuda.is_available():
    sys.exit("gpu_check: torch sees no CUDA device (a CPU-only torch build in .venv? remove .venv and rerun)")
print(f"CUDA device: {torch.cuda.get_device_name(0)}, bf16 supported: {torch.cuda.is_bf16_supported()}")
PY

if [ ! -f data/features/tensors.pt ] || [ ! -f data/features/vocab.json ]; then
  mirror="${RNNLAB_MIRROR:-}"
  for candidate in shared/datasets ../shared/datasets; do
    if [ -z "$mirror" ] && [ -f "$candidate/SHA256SUMS" ]; then mirror="$(cd "$candidate" && pwd)"; fi
  done
  if [ -z "$mirror" ]; then
    echo "gpu_check: no features and no corpus mirror (RNNLAB_MIRROR, shared/datasets, ../shared/datasets)" >&2
    exit 3
  fi
  echo "gpu_check: producing the features from $mirror"
  RNNLAB_MIRROR="$mirror" timeout 240 dvc repro featurize
fi

budget=$((470 - (SECONDS - start)))  # the whole script within 8 minutes when setup was quick
[ "$budget" -gt 120 ] || budget=120
timeout "$budget" python benchmarks/bench_gpu.py --device cuda
if [ -n "${OUT:-}" ]; then
  cp benchmarks/results.json benchmarks/results.md "$OUT"/
fi
echo "gpu_check: done in $((SECONDS - start)) s"
