# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Shared fixtures: everything is built locally (no network), on the CPU."""

import os


# Before transformers and huggingface_hub are imported: they read these once, at import.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402
import torch  # noqa: E402
from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM  # noqa: E402


torch.set_num_threads(2)


@pytest.fixture(scope="session")
def tokenizer():
    from trl_entropy.tasks import TINY_POLICY_PATH

    return AutoTokenizer.from_pretrained(TINY_POLICY_PATH)


@pytest.fixture
def tiny_model(tokenizer):
    """A randomly initialised 2-layer Qwen2 over the countdown character vocabulary (a few thousand parameters)."""
    return build_tiny_model(tokenizer)


def build_tiny_model(tokenizer):
    """A randomly initialised (seed 0) 2-layer Qwen2 over a tokenizer's vocabulary, with its special token ids."""
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


@pytest.fixture
def generated(monkeypatch):
    """The number of prompts of every generation call of the evaluator and the SENT scorer (`generate_hf`)."""
    from trl_entropy.sampling import backends

    calls = []
    original = backends.generate_hf

    def counting(model, tokenizer, prompts, *args):
        calls.append(len(prompts))
        return original(model, tokenizer, prompts, *args)

    monkeypatch.setattr(backends, "generate_hf", counting)
    return calls


def fixed_completions(monkeypatch, completions):
    """Replace sampling by fixed completions: `completions[prompt]` is the list of samples of that prompt."""
    from trl_entropy.sampling import backends

    def generate(model, tokenizer, prompts, num_samples, *args):
        return [[{"text": text, "num_tokens": 3, "truncated": False} for text in completions[p]] for p in prompts]

    monkeypatch.setattr(backends, "generate_hf", generate)


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


def first_batch(trainer):
    """The first generated micro-batch, outside `train()` (which would set the accumulation count itself)."""
    trainer.model.train()
    trainer.current_gradient_accumulation_steps = trainer.args.gradient_accumulation_steps
    return trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))


def completion_logits(trainer, inputs, grad=False):
    """The (B, T, V) completion logits at the training temperature, from the model's ordinary forward (no fused
    head): the reference the hooks' log-probs and entropies are checked against; with gradient if `grad`."""
    input_ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], dim=1)
    attention_mask = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], dim=1)
    with torch.set_grad_enabled(grad):
        logits = trainer.model(input_ids=input_ids, attention_mask=attention_mask).logits
    num_positions = inputs["completion_ids"].size(1)
    return logits[:, -num_positions - 1 : -1].float() / trainer.temperature


def stacked(tensors, width):
    """Micro-batches `(B_i, T_i)` stacked into one hand-padded `(sum B_i, width)` batch (zeros on the right)."""
    return torch.cat([torch.nn.functional.pad(tensor, (0, width - tensor.size(1))) for tensor in tensors])


def step_batches(trainer):
    """The micro-batches of the first optimizer step, with their loss-pass inputs, as TRL feeds them."""
    inputs = [first_batch(trainer)]
    for index in range(1, trainer.args.gradient_accumulation_steps):
        trainer._step = index  # TRL's micro-batch counter, which `training_step` advances
        inputs.append(trainer._prepare_inputs(None))  # from the buffer: no generation
    return inputs
