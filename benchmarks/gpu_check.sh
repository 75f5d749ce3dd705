#!/usr/bin/env bash
# The GPU checks in one run (193 s on an H200, measured 2026-12-04; 8 minutes at most), from the repository root:
#   bash benchmarks/gpu_check.sh          on the GPU machine
#   bash benchmarks/gpu_check.sh --pack   first, on a machine with a package index, when the GPU machine has none
# 1. Python: .venv when there is one; else, when python3 has a CUDA build of torch and `--pack` left .devsite/,
#    python3 with src/ and .devsite/ on its path (a bare GPU image that reaches no package index: carry .devsite
#    and data/features there); else `make setup` (pip installs the pinned torch==2.13.0, its CUDA build on Linux).
# 2. CUDA seen by torch, the device's name, nvidia-smi;
# 3. the features: data/features/{tensors.pt,vocab.json} when present (carry them), else `dvc repro featurize`
#    from the corpus mirror: RNNLAB_MIRROR, else shared/datasets or ../shared/datasets (a folder with SHA256SUMS);
# 4. benchmarks/bench_gpu.py: train.lstm on the GPU and the CPU (test scores side by side), then the grid
#    (cuDNN LSTM; autocast off/bf16/fp16; batch 64 and 512; GPU utilisation) -> section `gpu`;
# 5. benchmarks/bench_lm.py on the GPU: the pretraining language model's (lm.model's shape) tokens/s at
#    lm.pretrain's batch and at a GPU-sized one -> section `lm_gpu`;
#    both into benchmarks/results.{json,md}, copied under $OUT when that is set.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS

if [ "${1:-}" = "--pack" ]; then
  # What a GPU image with torch but no package index lacks: the features, and the pure-Python packages that the
  # training code imports beyond the scientific stack (navec's vectors inside natasha, without natasha's models).
  make setup
  export PATH="$PWD/.venv/bin:$PATH"
  export RNNLAB_MIRROR="${RNNLAB_MIRROR:-$(cd ../shared/datasets 2>/dev/null && pwd)}"
  dvc repro featurize studies/pretraining/dvc.yaml:lm_corpus
  site=$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  rm -rf .devsite .devdata && mkdir .devsite .devdata
  for pkg in natasha navec razdel slovnet yargy ipymarkup intervaltree pymorphy2 dawg_python docopt.py ruamel nltk; do
    cp -r "$site/$pkg" .devsite/
  done
  rm -rf .devsite/natasha/data/model .devsite/nltk/test
  find .devsite -name __pycache__ -prune -exec rm -rf {} +
  gzip -c data/lm/corpus.csv >.devdata/lm_corpus.csv.gz  # for benchmarks/gpu_pretraining.py (26 MB -> 7.5)
  echo "gpu_check: packed .devsite ($(du -sh .devsite | cut -f1)); carry it with data/features here, or with" \
       ".devdata and data/prepared/corpus.csv to benchmarks/gpu_pretraining.py --corpus .devdata/lm_corpus.csv.gz"
  exit 0
fi

PY=python
if [ -x .venv/bin/python ]; then
  # shellcheck disable=SC1091
  source .venv/bin/activate
elif [ -d .devsite ] && python3 -c 'import sys, torch; sys.exit(not torch.cuda.is_available())' 2>/dev/null; then
  echo "gpu_check: no .venv; python3 with its own torch and .devsite/"
  export PYTHONPATH="$PWD/src:$PWD/.devsite${PYTHONPATH:+:$PYTHONPATH}"
  PY=python3
else
  make setup || { echo "gpu_check: make setup failed (no package index? run --pack where there is one)" >&2; exit 2; }
  # shellcheck disable=SC1091
  source .venv/bin/activate
fi
export TQDM_DISABLE=1 MLFLOW_DISABLE_TELEMETRY=true

nvidia-smi || echo "gpu_check: nvidia-smi not found"
"$PY" - <<'PY'
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

# whatever ran comes back under $OUT, also when a benchmark fails or runs out of time
trap '[ -z "${OUT:-}" ] || cp benchmarks/results.json benchmarks/results.md "$OUT"/' EXIT
budget=$((470 - (SECONDS - start)))  # the whole script within 8 minutes when setup was quick
[ "$budget" -gt 120 ] || budget=120
status=0
timeout "$budget" "$PY" benchmarks/bench_gpu.py --device cuda || status=$?
lm_batch=$("$PY" -c 'from rnnlab.config import read_params
print(read_params("params.yaml")["lm"]["pretrain"]["batch_size"])')
timeout 120 "$PY" benchmarks/bench_lm.py --device cuda --autocast bf16 --batch "$lm_batch" 256 --steps 50 \
  --configs 600x3:adaptive || status=$?
echo "gpu_check: done in $((SECONDS - start)) s (exit $status)"
exit "$status"
