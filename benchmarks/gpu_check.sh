#!/usr/bin/env bash
# The prepared GPU check, one command, offline (benchmarks/README.md, "GPU check"). On the GPU machine, from the
# repository root, with wheels/ carried (made by benchmarks/gpu_wheels.sh):
#   bash benchmarks/gpu_check.sh                 # results in $OUT/gpu_check.json (else ./gpu_check_out/)
# Extra arguments go to benchmarks/gpu_check.py (e.g. --budget 300, --methods paec sent).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
OUT="${OUT:-gpu_check_out}"
mkdir -p "$OUT"
SITE=/tmp/gpu_check_site
WHEELS="${WHEELS:-wheels}"
if [ -d "$WHEELS" ]; then
    # transformers only over one older than trl-entropy's minimum (5.23); the others are absent there.
    OLD_TRANSFORMERS=$(python3 -c "import transformers; from packaging.version import Version as V; print(int(V(transformers.__version__) < V('5.23')))" 2>/dev/null || echo 1)
    WHEEL_FILES=$(ls "$WHEELS"/*.whl | { if [ "$OLD_TRANSFORMERS" = 1 ]; then cat; else grep -v '/transformers-'; fi; })
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" $WHEEL_FILES \
        || { echo "wheel install failed"; exit 2; }
    export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
    echo "no $WHEELS/ folder: using the installed packages"
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
python3 -c "import trl, datasets, transformers, trl_entropy; print('trl', trl.__version__, '| datasets', datasets.__version__, '| transformers', transformers.__version__, '| trl_entropy', trl_entropy.__version__)" \
    || { echo "imports failed"; exit 2; }
# The last guard: the script's own budget (--budget, 390 s by default) stops its parts in time; this stops it.
timeout -k 10 450 python3 benchmarks/gpu_check.py --out "$OUT" "$@" 2>&1 | tee "$OUT/gpu_check.log"
