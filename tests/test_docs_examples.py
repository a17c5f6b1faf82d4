# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""The worked example of docs/hook.md runs as written: a new method as a component, alone and composed."""

import re
from pathlib import Path

import pytest
import torch
from conftest import cpu_grpo_kwargs

from trl_entropy import ComposedGRPOConfig, ComposedGRPOTrainer
from trl_entropy.composition import COMPONENTS
from trl_entropy.tasks import countdown_reward, load_tiny_policy


HOOK_PAGE = Path(__file__).resolve().parent.parent / "docs" / "hook.md"


def hook_page_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", HOOK_PAGE.read_text(), flags=re.S)


@pytest.fixture
def example():
    namespace = {}
    exec(compile(hook_page_blocks()[0], str(HOOK_PAGE), "exec"), namespace)
    return namespace


def test_the_worked_example_is_under_50_lines():
    assert len(hook_page_blocks()[0].strip().splitlines()) < 50


def test_the_example_function_against_values_by_hand(example):
    advantages = torch.tensor([1.0, -2.0])
    entropies = torch.tensor([[1.0, 3.0], [2.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    # mean H over valid tokens = 2; factors 1 + 0.5 (H - 2) = 0.5, 1.5 | 1.0, (masked) 0.0
    out = example["entropy_scaled_advantages"](advantages, entropies, mask, 0.5)
    torch.testing.assert_close(out, torch.tensor([[0.5, 1.5], [-2.0, -0.0]]))


def test_the_example_trains_alone_and_composed(example, tokenizer, prompt_dataset, tmp_path):
    model, _ = load_tiny_policy()
    kwargs = cpu_grpo_kwargs(tmp_path, max_steps=1, per_device_train_batch_size=16, num_generations=8)
    trainer = example["ScaledGRPOTrainer"](
        model, countdown_reward, args=example["ScaledGRPOConfig"](**kwargs, scaled_lambda=0.3),
        train_dataset=prompt_dataset, processing_class=tokenizer,
    )  # fmt: skip
    trainer.train()
    assert any("entropy/scaled_abs_advantage" in entry for entry in trainer.state.log_history)
    assert trainer.method_hyperparameters() == {"scaled_lambda": 0.3}
    with pytest.raises(ValueError, match=r"`scaled_lambda` must be >= 0"):
        example["ScaledGRPOConfig"](**kwargs, scaled_lambda=-1.0)

    # the second block as written, with the tiny policy and CPU settings for its names
    composed_block = re.sub(r"^from trl_entropy import .*$", "", hook_page_blocks()[1], flags=re.M)
    example.update(
        model=load_tiny_policy()[0], reward_funcs=countdown_reward, dataset=prompt_dataset,
        ComposedGRPOConfig=lambda output_dir, **kw: ComposedGRPOConfig(**{**kwargs, **kw}),
        ComposedGRPOTrainer=lambda *a, **kw: ComposedGRPOTrainer(*a, **kw, processing_class=tokenizer),
    )  # fmt: skip
    try:
        exec(compile(composed_block, str(HOOK_PAGE), "exec"), example)
        composed = example["trainer"]
        assert [c.name for c in composed.components] == ["entropy_advantage", "entropy_scaling"]
        assert composed.args.methods == ["entropy_advantage", "entropy_scaling"]
        composed.train()
        keys = {key for entry in composed.state.log_history for key in entry}
        assert {"entropy/scaled_abs_advantage", "entropy/advantage_psi_mean"} <= keys
    finally:
        COMPONENTS.pop("entropy_scaling", None)
