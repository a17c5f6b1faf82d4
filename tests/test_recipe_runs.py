# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Every recipe runs through the recipe script (`trl_entropy.scripts.train.main`, what `recipes/train.py` runs) for
a step or two, the held-out evaluation before and after training included: a recipe that crashes fails here.

The CPU recipes (`recipes/tiny/`, `recipes/tiny_steps/`) run as written except for the length of the run, the size of the evaluation, the
output directory, PPO's critic warm-up (1 step, so that the second step trains the policy) and SENT's training set
(64 problems, scored into a temporary cache; stage 2 starts from stage 1's output). The GPU recipes cannot run here; they run with the tiny policy, the embedded countdown prompts
(as a local dataset with a `solution` column, the shape of their math data), small lengths and batches and no vLLM,
so that their method keys and the rest of their configuration are exercised.
"""

import json
import math
from pathlib import Path

import pytest
import yaml

from trl_entropy.baselines import active_entropy_controls
from trl_entropy.methods import get_method
from trl_entropy.model_card import TASK_EVAL_FILENAME
from trl_entropy.quantization import has_cpu_inference_layout
from trl_entropy.scripts.train import main


RECIPES = Path(__file__).resolve().parent.parent / "recipes"
TINY = RECIPES / "tiny"
# The CPU recipes: the embedded countdown task and its step-by-step variant.
CPU_DIRS = (TINY, RECIPES / "tiny_steps")
# SENT's stage 2 starts from stage 1's checkpoint: it runs after stage 1, in `test_tiny_sent_stages_run`.
TINY_RECIPES = sorted(p for d in CPU_DIRS for p in d.glob("*.yaml") if not p.stem.startswith("sent_stage"))
GPU_RECIPES = sorted(
    p for p in RECIPES.rglob("*.yaml") if "accelerate_configs" not in p.parts and p.parent not in CPU_DIRS
)
# Every test run shares these: a step or two, 4 held-out problems x 1 sample, no reporting, no progress bars.
RUN_OVERRIDES = ["--task_eval_problems", "4", "--task_eval_samples", "1", "--report_to", "none"]
RUN_OVERRIDES += ["--disable_tqdm", "true", "--logging_steps", "1"]


def test_every_recipe_runs_here():
    # A new recipe is picked up by the globs above; SENT's stages are the one pair run together.
    for directory in CPU_DIRS:
        assert {p.name for p in directory.glob("sent_stage*.yaml")} == {"sent_stage1.yaml", "sent_stage2.yaml"}
    all_recipes = {p for p in RECIPES.rglob("*.yaml") if "accelerate_configs" not in p.parts}
    assert len(TINY_RECIPES) + 2 * len(CPU_DIRS) + len(GPU_RECIPES) == len(all_recipes)


def run_recipe(recipe: Path, output_dir: Path, max_steps: int, *overrides: str):
    argv = ["--config", str(recipe), "--output_dir", str(output_dir), "--max_steps", str(max_steps)]
    return main([*argv, *RUN_OVERRIDES, *overrides])


def check_run(trainer, recipe: Path, output_dir: Path, max_steps: int, evaluated: bool = True):
    raw = yaml.safe_load(recipe.read_text())
    assert type(trainer.args) is get_method(raw.get("method", "composed" if "methods" in raw else "grpo")).config_class
    assert trainer.state.global_step == max_steps
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == max_steps and all(math.isfinite(loss) for loss in losses)
    assert (output_dir / "trainer_state.json").is_file()
    # TRL's entropy controls (the baseline recipes) are named in the card with their papers.
    card = (output_dir / "README.md").read_text()
    for control in active_entropy_controls(trainer.args):
        assert control.name in card and control.paper["id"] in card, control.name
    if evaluated:
        task_eval = json.loads((output_dir / TASK_EVAL_FILENAME).read_text())
        assert task_eval["num_problems"] == 4 and task_eval["samples_per_problem"] == 1
        for key in ("pass_at_1_before", "pass_at_1_after", "greedy_accuracy_before", "greedy_accuracy_after"):
            assert 0.0 <= task_eval[key] <= 1.0, (key, task_eval)


def recipe_id(path: Path) -> str:
    return str(path.relative_to(RECIPES))


@pytest.mark.parametrize("recipe", TINY_RECIPES, ids=recipe_id)
def test_tiny_recipe_runs(recipe, tmp_path):
    raw = yaml.safe_load(recipe.read_text())
    # PPO: one critic warm-up step, then one step that trains the policy too.
    overrides = ["--ppo_critic_warmup_steps", "1"] if "ppo_critic_warmup_steps" in raw else []
    max_steps = 2 if overrides else 1
    trainer = run_recipe(recipe, tmp_path, max_steps, *overrides)
    check_run(trainer, recipe, tmp_path, max_steps)
    if raw.get("use_peft"):
        assert (tmp_path / "adapter_model.safetensors").is_file()
        assert not any(p.requires_grad for n, p in trainer.model.named_parameters() if "lora_" not in n)
    else:
        assert (tmp_path / "model.safetensors").is_file()
    if raw.get("load_in_4bit"):
        import bitsandbytes as bnb

        layers = [m for m in trainer.model.modules() if isinstance(m, bnb.nn.Linear4bit)]
        assert len(layers) == 7 * trainer.model.config.num_hidden_layers
        # Neither evaluation nor TRL's generation left a layer in bitsandbytes' CPU inference layout.
        assert not has_cpu_inference_layout(trainer.model)


@pytest.mark.parametrize("directory", CPU_DIRS, ids=lambda d: d.name)
def test_tiny_sent_stages_run(directory, tmp_path):
    # A small training set (both stages split one ranking of it, scored once by the starting policy and cached), two
    # optimizer steps per stage on one generation of 32 prompts: the second step is off-policy, as in the recipe.
    data = ["--task_train_size", "64", "--curriculum_cache_dir", str(tmp_path / "cache")]
    stage1, stage2 = directory / "sent_stage1.yaml", directory / "sent_stage2.yaml"
    trainer = run_recipe(stage1, tmp_path / "stage1", 2, *data)
    check_run(trainer, stage1, tmp_path / "stage1", 2)
    stage1_prompts = set(trainer.train_dataset["prompt"])
    assert (tmp_path / "stage1" / "model.safetensors").is_file()
    trainer = run_recipe(stage2, tmp_path / "stage2", 2, *data, "--model_name_or_path", str(tmp_path / "stage1"))
    check_run(trainer, stage2, tmp_path / "stage2", 2)
    stage2_prompts = set(trainer.train_dataset["prompt"])
    assert len(stage1_prompts) == len(stage2_prompts) == 32 and not stage1_prompts & stage2_prompts


@pytest.fixture(scope="module")
def math_shaped_dataset(tmp_path_factory):
    """Countdown prompts (which the tiny policy can read) with the columns of the GPU recipes' math data."""
    from trl_entropy.sent.curriculum import SCORE_COLUMN
    from trl_entropy.tasks import build_dataset

    dataset = build_dataset(split="train", n=32, seed=0)
    dataset = dataset.map(
        lambda row, i: {"solution": f"${row['target']}$", SCORE_COLUMN: float(i % 5)}, with_indices=True
    )
    path = tmp_path_factory.mktemp("math_shaped") / "dataset"
    dataset.save_to_disk(str(path))
    return path


@pytest.mark.parametrize("recipe", GPU_RECIPES, ids=recipe_id)
def test_gpu_recipe_runs_on_the_tiny_policy(recipe, tmp_path, math_shaped_dataset):
    raw = yaml.safe_load(recipe.read_text())
    overrides = ["--model_name_or_path", "trl-entropy/tiny-countdown", "--dtype", "float32"]
    overrides += ["--use_cpu", "true", "--bf16", "false", "--use_vllm", "false", "--save_strategy", "no"]
    overrides += ["--max_completion_length", "12", "--num_generations", "4", "--per_device_train_batch_size", "8"]
    overrides += ["--gradient_accumulation_steps", "1"]
    # The recipes' rewards read chat completions (math-verify) or need completions over 1024 tokens (DAPO's overlong
    # punishment); the tiny policy has no chat template and writes 12 tokens: the countdown reward stands in.
    overrides += ["--reward_funcs", "countdown", "--reward_weights", "1"]
    if raw["dataset_name"].startswith("data/"):  # a local math dataset: countdown problems in its shape
        overrides += ["--dataset_name", str(math_shaped_dataset)]
    else:  # the offline math set: its text is outside the tiny policy's vocabulary
        overrides += ["--dataset_name", "trl-entropy/countdown", "--task_train_size", "32"]
    if raw.get("method") == "sent":  # two optimizer steps per generation, so that |log p - log p_old| has a gradient
        overrides += ["--generation_batch_size", "16"]
    else:
        overrides += ["--generation_batch_size", "8"]
    if "ppo_critic_warmup_steps" in raw:
        overrides += ["--ppo_critic_warmup_steps", "1"]
    if raw.get("position_schedule") == "fixed":
        overrides += ["--position_start_step", "2"]  # the bonus acts on the second step
    if raw.get("paec_anchor_steps"):
        overrides += ["--paec_anchor_steps", "1"]  # the floor acts on the second step
    trainer = run_recipe(recipe, tmp_path, 2, *overrides)
    # The held-out evaluation is on the embedded task only (the smollm2 recipe, moved onto it above).
    check_run(trainer, recipe, tmp_path, 2, evaluated=not raw["dataset_name"].startswith("data/"))
