# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Every recipe under recipes/ parses, with the parser the recipe script uses (`test_recipe_runs.py` runs them)."""

from pathlib import Path

import pytest
import yaml
from accelerate.commands.config.config_args import ClusterConfig

from trl_entropy.methods import get_method
from trl_entropy.scripts.train import make_parser, method_name_from_argv, parse_args


RECIPES = Path(__file__).resolve().parent.parent / "recipes"
TRAINING_RECIPES = sorted(p for p in RECIPES.rglob("*.yaml") if "accelerate_configs" not in p.parts)
# Keys that TrainingArguments turns into enums or lists.
NORMALISED_KEYS = ("lr_scheduler_type", "save_strategy", "report_to")
ACCELERATE_CONFIGS = sorted((RECIPES / "accelerate_configs").glob("*.yaml"))


def test_recipes_exist():
    names = {str(p.relative_to(RECIPES)) for p in TRAINING_RECIPES}
    assert {
        "tiny/grpo.yaml",
        "tiny/entropy_advantage.yaml",
        "tiny/entropy_advantage_lora.yaml",
        "tiny/entropy_advantage_qlora.yaml",
        "tiny/ppl.yaml",
        "tiny/position.yaml",
        "tiny/shaping.yaml",
        "qwen2.5-7b/ppl/config_grpo.yaml",
        "qwen2.5-7b/position/config_grpo.yaml",
        "tiny/paec.yaml",
        "qwen2.5-math-1.5b/paec/config_grpo.yaml",
        "tiny/sent_stage1.yaml",
        "tiny/sent_stage2.yaml",
        "qwen2.5-math-7b/sent/config_stage1.yaml",
        "qwen2.5-math-7b/sent/config_stage2.yaml",
        "tiny/ppo.yaml",
        "tiny/entropy_advantage_ppo.yaml",
        "qwen2.5-7b/ppo/config_ppo.yaml",
        "qwen2.5-7b/entropy_advantage_ppo/config_ppo.yaml",
        "tiny/clip_cov.yaml",
        "tiny/kl_cov.yaml",
    } <= names
    # The step-by-step task has a recipe for plain GRPO and every method.
    steps = {
        "grpo",
        "entropy_advantage",
        "ppl",
        "position",
        "shaping",
        "paec",
        "sent_stage1",
        "sent_stage2",
        "ppo",
        "clip_cov",
        "kl_cov",
    }
    assert {f"tiny_steps/{name}.yaml" for name in steps | {"entropy_advantage_ppo"}} <= names
    assert {p.stem for p in ACCELERATE_CONFIGS} >= {"single_process", "ddp", "fsdp2", "zero3"}


@pytest.mark.parametrize("recipe", TRAINING_RECIPES, ids=lambda p: str(p.relative_to(RECIPES)))
def test_recipe_parses(recipe):
    raw = yaml.safe_load(recipe.read_text())
    # GPU recipes ask for bf16, which TrainingArguments refuses on a CPU-only machine; everything else is as written.
    cpu_override = ["--bf16", "false"] if raw.get("bf16") else []
    script_args, training_args, model_args = parse_args(["--config", str(recipe), *cpu_override])
    # `methods: [...]` without `method:` selects the composed trainer
    name = raw.get("method", "composed" if "methods" in raw else "grpo")
    method = get_method(name)
    assert script_args.method == name
    assert type(training_args) is method.config_class
    # Every key of the recipe landed in one of the three dataclasses with the recipe's value.
    for key, value in raw.items():
        if cpu_override and key == "bf16":
            continue
        parsed = [getattr(obj, key) for obj in (script_args, training_args, model_args) if hasattr(obj, key)]
        assert parsed, key
        if isinstance(value, int | float | str | bool) and key not in NORMALISED_KEYS:
            assert value in parsed or str(value) in map(str, parsed), (key, value, parsed)


@pytest.mark.parametrize("config", ACCELERATE_CONFIGS, ids=lambda p: p.name)
def test_accelerate_config_loads(config):
    cluster = ClusterConfig.from_yaml_file(str(config))
    assert cluster.num_processes >= 1


def test_unknown_recipe_key_is_an_error(tmp_path):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("method: entropy_advantage\nuse_cpu: true\nbf16: false\nentropy_advantage_alhpa: 0.4\n")
    with pytest.raises(ValueError, match="entropy_advantage_alhpa"):
        parse_args(["--config", str(recipe)])


def test_unknown_method_is_an_error(tmp_path):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("method: entropy_magic\n")
    with pytest.raises(
        ValueError,
        match="Unknown method 'entropy_magic'; valid methods: clip_cov, composed, entropy_advantage, entropy_advantage_ppo, grpo, kl_cov, paec, position, ppl, ppo, sent, shaping",
    ):
        parse_args(["--config", str(recipe)])


def test_command_line_overrides_recipe(tmp_path):
    recipe = RECIPES / "tiny" / "entropy_advantage.yaml"
    argv = ["--config", str(recipe), "--entropy_advantage_alpha", "0.1", "--max_steps", "7"]
    assert method_name_from_argv(argv) == "entropy_advantage"
    _, training_args, _ = make_parser("entropy_advantage").parse_args_and_config(args=argv)
    assert (training_args.entropy_advantage_alpha, training_args.max_steps) == (0.1, 7)
