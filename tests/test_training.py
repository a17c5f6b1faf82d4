# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Real short trainings of the shipped tiny countdown policy: full fine-tuning, LoRA, QLoRA, and the recipe script."""

import json

import pytest
import torch
from conftest import cpu_grpo_kwargs
from peft import LoraConfig
from safetensors.torch import load_file
from transformers import BitsAndBytesConfig

from trl_entropy import EntropyAdvantageGRPOConfig, EntropyAdvantageGRPOTrainer
from trl_entropy.tasks import TINY_POLICY_PATH, countdown_reward, load_tiny_policy


METHOD_METRICS = {"entropy/advantage_psi_mean", "entropy/advantage_psi_ratio", "entropy/advantage_clip_frac"}


def train(model, tokenizer, dataset, output_dir, peft_config=None, quantization_config=None, **overrides):
    args = EntropyAdvantageGRPOConfig(
        **cpu_grpo_kwargs(output_dir, per_device_train_batch_size=32, num_generations=8, max_completion_length=12,
                          learning_rate=5e-4, **overrides)
    )  # fmt: skip
    trainer = EntropyAdvantageGRPOTrainer(
        model=model,
        reward_funcs=countdown_reward,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
        quantization_config=quantization_config,
    )
    before = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    trainer.train()
    after = dict(trainer.model.named_parameters())
    changed = {name for name, p in before.items() if not torch.equal(p, after[name].detach())}
    logged = {key for entry in trainer.state.log_history for key in entry}
    return trainer, changed, logged


def test_full_training_changes_parameters_and_logs_metrics(tokenizer, prompt_dataset, tmp_path):
    model, _ = load_tiny_policy()
    trainer, changed, logged = train(model, tokenizer, prompt_dataset, tmp_path, max_steps=3)
    assert len(changed) == len(list(trainer.model.parameters()))  # every tensor moved
    assert METHOD_METRICS | {"reward", "entropy"} <= logged
    psi = [e["entropy/advantage_psi_mean"] for e in trainer.state.log_history if "entropy/advantage_psi_mean" in e]
    assert all(value >= 0 for value in psi) and any(value > 0 for value in psi)
    ratios = [
        e["entropy/advantage_psi_ratio"] for e in trainer.state.log_history if e.get("entropy/advantage_psi_ratio")
    ]
    assert all(0 < value <= 1 / 2 + 1e-6 for value in ratios)  # at most 1 / kappa


LORA = dict(
    r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["q_proj", "v_proj", "up_proj"], task_type="CAUSAL_LM"
)


def test_lora_trains_only_the_adapter(tokenizer, prompt_dataset, tmp_path):
    trainer, changed, logged = train(
        TINY_POLICY_PATH, tokenizer, prompt_dataset, tmp_path, peft_config=LoraConfig(**LORA), max_steps=2
    )
    assert changed and all("lora_" in name for name in changed)
    assert any("lora_B" in name for name in changed)
    assert METHOD_METRICS <= logged
    trainer.save_model(str(tmp_path / "adapter"))
    saved = load_file(tmp_path / "adapter" / "adapter_model.safetensors")
    assert saved and all("lora_" in key for key in saved)
    assert len(saved) == sum(1 for name, _ in trainer.model.named_parameters() if "lora_" in name)


def test_qlora_trains_only_the_adapter_on_a_4bit_base(tokenizer, prompt_dataset, tmp_path):
    quantization = BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.float32
    )
    trainer, changed, logged = train(
        TINY_POLICY_PATH,
        tokenizer,
        prompt_dataset,
        tmp_path,
        peft_config=LoraConfig(**LORA),
        quantization_config=quantization,
        max_steps=2,
    )
    assert getattr(trainer.model, "is_loaded_in_4bit", False) or any(
        "Linear4bit" in type(m).__name__ for m in trainer.model.modules()
    )
    assert changed and all("lora_" in name for name in changed)
    assert METHOD_METRICS <= logged
    trainer.create_model_card()
    card = (tmp_path / "README.md").read_text()
    assert "| `base_quantization` | 4-bit nf4 (bitsandbytes) |" in card
    assert "| `r` | 8 |" in card


def test_recipe_script_writes_checkpoint_state_curves_and_card(tmp_path):
    from trl_entropy.scripts.train import main

    output_dir = tmp_path / "run"
    main(
        ["--config", "recipes/tiny/entropy_advantage.yaml", "--output_dir", str(output_dir), "--max_steps", "4",
         "--logging_steps", "2", "--per_device_train_batch_size", "32", "--task_eval_problems", "16",
         "--task_eval_samples", "2", "--disable_tqdm", "true"]
    )  # fmt: skip
    assert (output_dir / "model.safetensors").is_file()
    state = json.loads((output_dir / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    assert (output_dir / "training_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    task_eval = json.loads((output_dir / "task_eval.json").read_text())
    assert 0 <= task_eval["pass_at_1_before"] <= 1 and 0 <= task_eval["pass_at_1_after"] <= 1
    card = (output_dir / "README.md").read_text()
    for expected in [
        "Entropy-Advantage GRPO",
        "Reasoning with Exploration: An Entropy Perspective",
        "2506.14758",
        "@article{cheng2025reasoning",
        "| `entropy_advantage_alpha` | 0.4 |",
        "| `entropy_advantage_kappa` | 2 |",
        "| `num_generations` | 8 |",
        "tiny_countdown",
        "countdown_reward",
        "![Training curves](training_curves.png)",
        "pass_at_1_after",
    ]:
        assert expected in card, expected
    reloaded, _ = load_tiny_policy(path=str(output_dir))
    assert sum(p.numel() for p in reloaded.parameters()) > 0


@pytest.mark.parametrize("bad", [{"entropy_advantage_alpha": "-1"}, {"entropy_advantage_kappa": "0.5"}])
def test_recipe_script_rejects_invalid_values(tmp_path, bad):
    from trl_entropy.scripts.train import main

    ((key, value),) = bad.items()
    with pytest.raises(ValueError, match=f"`{key}` must be"):
        main(["--config", "recipes/tiny/entropy_advantage.yaml", "--output_dir", str(tmp_path), f"--{key}", value])
