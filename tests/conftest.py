# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Shared fixtures: everything is built locally (no network), on the CPU."""

import os

import pytest
import torch
from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM


os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
torch.set_num_threads(2)


@pytest.fixture(scope="session")
def tokenizer():
    from trl_entropy.tasks import TINY_POLICY_PATH

    return AutoTokenizer.from_pretrained(TINY_POLICY_PATH)


@pytest.fixture
def tiny_model(tokenizer):
    """A randomly initialised 2-layer Qwen2 over the countdown character vocabulary (a few thousand parameters)."""
    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=64,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    return Qwen2ForCausalLM(config)


@pytest.fixture(scope="session")
def prompt_dataset():
    from trl_entropy.tasks import build_dataset

    return build_dataset(split="train", n=64, seed=0)


def cpu_grpo_kwargs(output_dir, **overrides):
    """GRPOConfig keyword arguments for a fast CPU test run."""
    kwargs = dict(
        output_dir=str(output_dir),
        use_cpu=True,
        bf16=False,
        activation_checkpointing=False,
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        per_device_train_batch_size=8,
        num_generations=4,
        max_completion_length=8,
        max_steps=2,
        learning_rate=1e-3,
        seed=0,
        disable_tqdm=True,
    )
    kwargs.update(overrides)
    return kwargs
