# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""`benchmarks/compare_methods.py`: every method it knows has a recipe, and the script end to end on a tiny setting."""

import json
import os
import subprocess
import sys

import pytest
import yaml

from trl_entropy.baselines import active_entropy_controls
from trl_entropy.methods import METHODS
from trl_entropy.scripts.train import parse_args


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCHMARKS = os.path.join(REPO, "benchmarks")
sys.path.insert(0, BENCHMARKS)
from method_runs import ACTING_VARIANTS, BASELINES, RECIPES, SEED_METHODS, VARIANTS  # noqa: E402


def test_every_method_has_a_recipe():
    for variant, recipes in VARIANTS.items():
        for recipe in recipes:
            raw = yaml.safe_load(open(os.path.join(RECIPES, recipe)))
            assert raw["dataset_name"] == "trl-entropy/countdown-steps", (variant, recipe)
            # TRL's controls run as plain GRPO; an ablation is the method it switches on; every other variant is the
            # method of its name.
            expected = ACTING_VARIANTS_METHODS.get(variant, "grpo" if variant not in METHODS else variant)
            assert raw["method"] == expected, (variant, recipe)


ACTING_VARIANTS_METHODS = {"position_always": "position", "paec_high_floor": "paec"}


def test_acting_variants_switch_their_method_on():
    assert set(ACTING_VARIANTS) == set(ACTING_VARIANTS_METHODS)
    position = yaml.safe_load(open(os.path.join(RECIPES, "position_always.yaml")))
    assert position["position_schedule"] == "always"
    paec, recipe = (
        yaml.safe_load(open(os.path.join(RECIPES, name))) for name in ("paec_high_floor.yaml", "paec.yaml")
    )
    assert paec["paec_rho_min"] == 0.95 > recipe["paec_rho_min"]
    # otherwise the same run as the recipe
    assert {k: v for k, v in paec.items() if k not in ("paec_rho_min", "output_dir")} == {
        k: v for k, v in recipe.items() if k not in ("paec_rho_min", "output_dir")
    }


def test_every_registered_method_is_compared():
    # `shaping` and `composed` compose methods, which are compared one by one.
    assert set(METHODS) - {"shaping", "composed"} <= set(VARIANTS)
    assert set(SEED_METHODS).isdisjoint(BASELINES)


@pytest.mark.parametrize("baseline", [b for b in BASELINES if b not in METHODS])
def test_trl_baselines_turn_on_one_control(baseline):
    (recipe,) = VARIANTS[baseline]
    _, training_args, _ = parse_args(["--config", os.path.join(RECIPES, recipe), "--use_cpu", "true"])
    assert len(active_entropy_controls(training_args)) == 1


def test_compare_methods_end_to_end(tmp_path):
    command = [
        sys.executable, os.path.join(BENCHMARKS, "compare_methods.py"), "--methods", "grpo", "clip_cov",
        "--seeds", "42", "--max-steps", "2", "--logging-steps", "1", "--eval-problems", "3", "--num-samples", "4",
        "--jobs", "2", "--runs-dir", str(tmp_path / "runs"), "--output", str(tmp_path / "compare.json"),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    process = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr[-4000:]

    report = json.loads((tmp_path / "compare.json").read_text())
    assert report["wall_minutes"] > 0 and report["settings"]["seeds"] == [42]
    metrics = {"acc_at_4", "maj_at_4", "pass_at_1", "pass_at_2", "pass_at_4"}
    assert metrics <= set(report["base"])
    assert list(report["table"]) == ["grpo", "clip_cov"]
    for variant, row in report["table"].items():
        for key in (*metrics, "reward", "entropy", "mean_length", "entropy_decision", "entropy_forced", "minutes"):
            assert row[key] is not None and row[key]["std"] == 0.0, (variant, key)  # one seed
        assert 0.0 <= row["pass_at_1"]["mean"] <= row["pass_at_4"]["mean"] <= 1.0
        for key in ("reward", "entropy", "completions/mean_length"):
            assert report["curves"][variant][key]["step"] == [1, 2], (variant, key)
    assert [(run["variant"], run["seed"]) for run in report["runs"]] == [("grpo", 42), ("clip_cov", 42)]

    table = (tmp_path / "compare.md").read_text()
    for header in ("| variant |", "Acc@4", "Maj@4", "pass@4", "H decision", "| starting policy |", "| clip_cov |"):
        assert header in table
    assert "wall time" in table
    assert report["figures"] == ["compare_pass_at_k.png", "compare_training_curves.png"]
    for figure in report["figures"]:
        assert (tmp_path / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # A restart reuses every finished run and evaluation.
    process = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr[-4000:]
    assert json.loads((tmp_path / "compare.json").read_text())["runs"] == report["runs"]


def test_paired_differences_by_hand():
    from compare_methods import paired_differences, paired_table

    def run(variant, seed, pass_at_1, entropy=None):
        return {"variant": variant, "seed": seed, "pass_at_1": pass_at_1, "entropy": entropy}

    runs = [run("grpo", 1, 0.30, 0.2), run("grpo", 2, 0.40, 0.2), run("grpo", 3, 0.50, 0.2),
            run("a", 1, 0.31, 0.3), run("a", 2, 0.43, None), run("a", 3, 0.52, 0.2), run("b", 9, 0.9)]  # fmt: skip
    differences = paired_differences(runs)
    # a - grpo per seed: 0.01, 0.03, 0.02 -> mean 0.02, sample std 0.01; entropy only where both have it
    assert differences["a"]["pass_at_1"]["mean"] == pytest.approx(0.02)
    assert differences["a"]["pass_at_1"]["std"] == pytest.approx(0.01)
    assert differences["a"]["entropy"]["n"] == 2 and differences["a"]["entropy"]["mean"] == pytest.approx(0.05)
    assert differences["b"] == {}  # no GRPO run with seed 9
    assert "grpo" not in differences
    assert "| a | +0.020 ± 0.010 | - | - | +0.050 ± 0.071 | - |" in paired_table(differences)
