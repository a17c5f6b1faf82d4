# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Two gloo processes on the CPU (`accelerate launch --multi_gpu --num_processes 2`, distributed type MULTI_CPU)."""

import os
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent


def test_two_process_training_and_metric_reduction(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "ACCELERATE_USE_CPU": "1"}
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        str(ROOT / "tests" / "scripts" / "two_process_check.py"), str(tmp_path / "run"),
    ]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert "TWO_PROCESS_CHECK_OK" in result.stdout
