#!/usr/bin/env bash
# Download, here (with network), the wheels the GPU machine lacks into wheels/ (ignored by git; it travels with
# `carry: ["wheels"]`). The GPU machine (Python 3.12, no network) has torch 2.11, transformers 5.17, accelerate 1.15,
# peft, pandas, pyarrow, xxhash, fsspec, sympy, huggingface-hub 1.33, tokenizers 0.23 and safetensors 0.8, and no
# trl, datasets or math-verify. Pure-Python wheels only, each pinned to the version this project is tested with:
#   trl 1.16.0 (the exact pin), datasets 5.2.0 with its two missing dependencies dill and multiprocess,
#   math-verify 0.9.0 with latex2sympy2_extended and antlr4-python3-runtime, and
#   transformers 5.24.0 (trl-entropy needs >= 5.23; gpu_check.sh installs it only over an older one).
# pyarrow (55 MB) does not fit the 64 MiB a call may carry: datasets uses the machine's own.
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=wheels
mkdir -p "$WHEELS"
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any \
    -d "$WHEELS" \
    trl==1.16.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 \
    math-verify==0.9.0 latex2sympy2_extended==1.11.0 antlr4-python3-runtime==4.13.2 \
    transformers==5.24.0
ls -l "$WHEELS"
du -ch "$WHEELS"/*.whl | tail -1
