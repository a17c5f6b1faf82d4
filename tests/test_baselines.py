# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""TRL's own entropy controls as named baselines: which settings turn each on, and the recipes that run them."""

from pathlib import Path

import pytest
import yaml
from trl import GRPOConfig

from trl_entropy.baselines import ENTROPY_CONTROLS, active_entropy_controls
from trl_entropy.scripts.train import parse_args


RECIPES = Path(__file__).resolve().parent.parent / "recipes"
# Each baseline recipe and the one control it turns on (tiny: CPU; qwen2.5-math-1.5b: the PAEC recipe's settings).
BASELINE_RECIPES = {
    "entropy_regularization": "global entropy regularisation",
    "adaptive_entropy": "adaptive entropy control (Skywork-OR1)",
    "high_entropy_mask": "high-entropy token mask (80/20)",
    "cispo": "CISPO",
}


def config(**kwargs):
    return GRPOConfig(output_dir="unused", report_to="none", use_cpu=True, bf16=False, **kwargs)


def names(args):
    return [control.name for control in active_entropy_controls(args)]


def test_plain_grpo_has_no_control():
    assert names(config()) == []
    assert names(object()) == []  # missing fields count as TRL's defaults


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"entropy_coef": 0.01}, ["global entropy regularisation"]),
        # The adaptive controller uses `entropy_coef` as its initial value: one control, not two.
        ({"use_adaptive_entropy": True, "entropy_coef": 0.01}, ["adaptive entropy control (Skywork-OR1)"]),
        ({"use_adaptive_entropy": True}, ["adaptive entropy control (Skywork-OR1)"]),
        ({"top_entropy_quantile": 0.2}, ["high-entropy token mask (80/20)"]),
        ({"top_entropy_quantile": 1.0}, []),
        ({"loss_type": "cispo"}, ["CISPO"]),
        (
            {"loss_type": "cispo", "top_entropy_quantile": 0.5, "entropy_coef": 0.001},
            ["global entropy regularisation", "high-entropy token mask (80/20)", "CISPO"],
        ),
    ],
)
def test_controls_are_named_from_trl_settings(kwargs, expected):
    assert names(config(**kwargs)) == expected


def test_every_control_cites_a_paper():
    for control in ENTROPY_CONTROLS:
        assert control.paper["id"] and control.paper["title"] and "eprint" in control.paper["citation"]
        assert all(hasattr(config(), name) for name in control.fields), control.name


@pytest.mark.parametrize("directory", ["tiny", "tiny_steps", "qwen2.5-math-1.5b"])
@pytest.mark.parametrize("baseline", sorted(BASELINE_RECIPES))
def test_baseline_recipes_turn_on_exactly_their_control(directory, baseline):
    recipe = (
        RECIPES / directory / (f"{baseline}.yaml" if directory.startswith("tiny") else f"{baseline}/config_grpo.yaml")
    )
    assert yaml.safe_load(recipe.read_text())["method"] == "grpo"  # TRL's code, trl-entropy's base trainer
    _, training_args, _ = parse_args(["--config", str(recipe), "--use_cpu", "true", "--bf16", "false"])
    assert names(training_args) == [BASELINE_RECIPES[baseline]]


@pytest.mark.parametrize("layout", ["qwen2.5-math-1.5b/{}/config_grpo.yaml", "tiny_steps/{}.yaml"])
def test_baselines_share_the_plain_grpo_recipe_settings(layout):
    # Equal terms: every baseline differs from the plain GRPO recipe only in its control's keys and its output_dir.
    plain = yaml.safe_load((RECIPES / layout.format("grpo")).read_text())
    for baseline in BASELINE_RECIPES:
        raw = yaml.safe_load((RECIPES / layout.format(baseline)).read_text())
        differing = {key for key in plain.keys() | raw.keys() if plain.get(key) != raw.get(key)}
        control = next(c for c in ENTROPY_CONTROLS if c.name == BASELINE_RECIPES[baseline])
        allowed = set(control.fields) | {"output_dir", "use_adaptive_entropy"}
        assert differing <= allowed, (baseline, differing - allowed)
