# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""The prepared GPU check (`benchmarks/gpu_check.py`) in its tiny CPU setting, so that it cannot rot between GPU runs."""

import json
import math
import os
import subprocess
import sys

import pytest

from trl_entropy.methods import METHODS


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "benchmarks", "gpu_check.py")


def run_check(out, *extra, check=True):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": REPO}
    env.pop("OUT", None)
    proc = subprocess.run(
        [sys.executable, SCRIPT, "--tiny", "--device", "cpu", "--out", str(out), "--threads", "2", *extra],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=300,
    )  # fmt: skip
    if check:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(os.path.join(out, "gpu_check.json")) as f:
        return json.load(f), proc


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    return run_check(tmp_path_factory.mktemp("gpu_check"))[0]


def test_every_part_passes(report):
    assert report["ok"] is True
    assert set(report["parts"]) == {"env", "fused_head", "paec_tiles", "methods", "fsdp"}
    assert report["parts"]["env"]["device"] == "cpu" and report["parts"]["env"]["dtype"] == "float32"
    assert report["parts"]["env"]["versions"]["trl"] == "1.16.0"
    assert report["elapsed_s"] < report["budget_s"]


def test_logit_scale_calibrated(report):
    calibration = report["settings"]["calibration"]
    assert calibration["entropy_unscaled"] > 1.5  # near uniform before
    assert calibration["entropy_at_scale"] == pytest.approx(0.6, abs=1e-3)
    assert report["settings"]["logit_scale"] == calibration["logit_scale"] > 1


def test_every_method_trains_with_its_metrics(report):
    arms = report["parts"]["methods"]["arms"]
    assert set(arms) == {"trl_grpo", *METHODS}
    for name, arm in arms.items():
        assert arm["ok"], (name, arm)
        assert arm["loss_finite"] and all(math.isfinite(loss) for loss in arm["losses"]), name
        assert arm["steps"] == 2 and len(arm["losses"]) == 2, name
        assert arm["missing_metrics"] == [], name
        for key in arm["required_metrics"]:
            assert math.isfinite(arm["method_metrics"][key]), (name, key)
        assert arm["median_step_time_s"] > 0 and arm["peak_memory_mb"] > 0, name
    assert arms["paec"]["method_metrics_max"]["entropy/paec_floor"] > 0  # the anchor froze: the penalty is evaluated
    ratios = report["parts"]["methods"]["ratios_vs_trl_grpo"]
    assert set(ratios) == set(METHODS)
    for ratio in ratios.values():
        assert ratio["time_ratio"] > 0 and 0.5 < ratio["memory_ratio"] < 2


def test_paec_tiles_match_full_logits(report):
    part = report["parts"]["paec_tiles"]
    assert part["ok"] and part["positions"] > 0
    assert set(part["tilings"]) == {"default_tile", "tile_7"}
    for tiling in part["tilings"].values():
        assert tiling["outside_mask_zero"]
        for reference in ("same_dtype", "float32"):
            entry = tiling[reference]
            assert entry["ok"], (tiling, reference)
            assert entry["max_abs_err_nucleus_entropy"] <= 1e-5 and entry["max_abs_err_top2_gap"] <= 1e-5
            assert entry["nucleus_size_mismatch_share"] == 0


def test_fused_head_matches_full_logits(report):
    part = report["parts"]["fused_head"]
    assert part["ok"] and part["outside_mask_zero"]
    assert part["max_abs_err_entropy"] <= 1e-4 and part["max_abs_err_log_probs"] <= 1e-4
    assert part["rel_err_entropy_grad"] <= 5e-4


def test_checkpoint_written_reloaded_and_resumed(report):
    part = report["parts"]["fsdp"]
    assert part["ok"], part
    assert "plain single process" in part["note"]  # on a CPU; accelerate launch with fsdp2.yaml on a GPU
    assert "model.safetensors" in part["checkpoint_files"] and "optimizer.pt" in part["checkpoint_files"]
    assert part["reloaded_finite"] and part["reloaded_differs_from_init"] == part["reloaded_parameters"] > 0
    assert part["resumed_steps"] == part["steps"] == 2 and part["resumed_losses"]


def test_budget_guard_skips_instead_of_overrunning(tmp_path):
    report, proc = run_check(tmp_path, "--parts", "env", "methods", "--budget", "1", check=False)
    assert proc.returncode == 1  # skipped parts are not passes
    assert "skipped" in report["parts"]["env"]
    arms = report["parts"]["methods"]["arms"]
    assert set(arms) == {"trl_grpo", *METHODS}
    assert all("skipped" in arm for arm in arms.values())
