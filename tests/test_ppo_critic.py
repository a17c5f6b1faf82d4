# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""PPO's critic for any causal LM (`trl_entropy.ppo.critic`): a Gemma 3 text model, which has no token-classification
class, trains, saves and resumes exactly; an architecture without a causal LM backbone is refused before the policy
loads; critics saved as token-classification models by earlier versions still load."""

import json
from pathlib import Path

import pytest
import torch
from conftest import cpu_grpo_kwargs
from transformers import AutoModelForTokenClassification, Gemma3ForCausalLM, Gemma3TextConfig, T5Config

from trl_entropy import PPOConfig, PPOTrainer
from trl_entropy.entropy_grpo_trainer import EntropyGRPOTrainer
from trl_entropy.ppo import CausalLMCritic, load_critic
from trl_entropy.tasks import load_tiny_policy


def tiny_gemma3(tokenizer, path):
    """A random 2-layer Gemma 3 text causal LM over the countdown vocabulary, saved with its tokenizer."""
    torch.manual_seed(0)
    config = Gemma3TextConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=8,
        max_position_embeddings=64,
        sliding_window=16,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    Gemma3ForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def length_reward(prompts, completions, **kwargs):
    # A random policy never solves a countdown problem: a reward that varies, so that the critic has targets to fit.
    return [len(completion) / 12 for completion in completions]


def make(model, tokenizer, dataset, output_dir, **overrides):
    kwargs = cpu_grpo_kwargs(
        output_dir, per_device_train_batch_size=16, num_generations=1, max_completion_length=12, max_steps=2
    )
    kwargs.update(overrides)
    return PPOTrainer(
        model=model,
        reward_funcs=length_reward,
        args=PPOConfig(**kwargs),
        train_dataset=dataset,
        processing_class=tokenizer,
    )


def state(module):
    return {name: tensor.detach().clone() for name, tensor in module.state_dict().items()}


def assert_same_state(module, expected):
    actual = module.state_dict()
    assert actual.keys() == expected.keys()
    for name, tensor in expected.items():
        assert torch.equal(actual[name], tensor), name  # exactly, not within a tolerance


def test_gemma3_text_has_no_token_classification_class():
    # What makes the architecture the test case: the critic of earlier versions could not be built for it.
    with pytest.raises(ValueError, match="Unrecognized configuration class .*Gemma3TextConfig"):
        AutoModelForTokenClassification.from_config(Gemma3TextConfig(num_hidden_layers=1, hidden_size=16))


def test_gemma3_critic_trains_saves_and_resumes_exactly(tokenizer, prompt_dataset, tmp_path):
    path = tiny_gemma3(tokenizer, tmp_path / "gemma3")
    overrides = dict(save_strategy="steps", save_steps=2, learning_rate=1e-3, ppo_critic_learning_rate=1e-2)
    trainer = make(path, tokenizer, prompt_dataset, tmp_path / "run", **overrides)
    critic = trainer.accelerator.unwrap_model(trainer.critic)
    assert isinstance(critic, CausalLMCritic) and type(critic.backbone).__name__ == "Gemma3TextModel"
    assert not critic.value_head.weight.any()  # zero head: every first value is 0
    # The backbone is the policy checkpoint's, only its weights (no LM head).
    policy_backbone = trainer.accelerator.unwrap_model(trainer.model).base_model.state_dict()
    assert critic.backbone.state_dict().keys() == policy_backbone.keys()
    before = state(critic)
    trainer.train()
    trained = state(critic)
    assert any(not torch.equal(before[name], trained[name]) for name in before)
    assert trained["value_head.weight"].any()
    assert any(e.get("ppo/value_loss") is not None for e in trainer.state.log_history)

    critic_dir = tmp_path / "run" / "checkpoint-2" / "critic"
    for name in ("config.json", "model.safetensors", "value_head.safetensors", "critic_config.json"):
        assert (critic_dir / name).is_file(), name
    assert json.loads((critic_dir / "config.json").read_text())["architectures"] == ["Gemma3TextModel"]
    marker = json.loads((critic_dir / "critic_config.json").read_text())
    assert marker["backbone_class"] == "Gemma3TextModel" and marker["hidden_size"] == 16 and not marker["lora"]

    # Resumed into a fresh trainer: the critic's weights round-trip exactly, its optimizer state comes back.
    fresh = make(path, tokenizer, prompt_dataset, tmp_path / "fresh", **overrides)
    fresh.load_critic_checkpoint(str(critic_dir.parent))
    assert_same_state(fresh.accelerator.unwrap_model(fresh.critic), trained)
    assert fresh.critic_optimizer.state_dict()["state"]
    # So does `load_critic` (and `critic_model=`) on the saved folder, with its trained head.
    assert_same_state(load_critic(str(critic_dir)), trained)

    # And `train(resume_from_checkpoint=...)` continues from it.
    resumed = make(path, tokenizer, prompt_dataset, tmp_path / "run", **{**overrides, "max_steps": 3})
    resumed.train(resume_from_checkpoint=str(critic_dir.parent))
    assert resumed.state.global_step == 3
    assert [e["step"] for e in resumed.state.log_history if "ppo/value_loss" in e] == [1, 2, 3]


def test_gemma3_lora_critic_resumes_exactly(tokenizer, prompt_dataset, tmp_path):
    path = tiny_gemma3(tokenizer, tmp_path / "gemma3")
    overrides = dict(ppo_critic_lora_r=2, save_strategy="steps", save_steps=1, max_steps=1, learning_rate=1e-3)
    trainer = make(path, tokenizer, prompt_dataset, tmp_path / "run", **overrides)
    trainable = {name for name, p in trainer.critic.named_parameters() if p.requires_grad}
    assert "value_head.weight" in trainable and all("lora_" in n or "value_head" in n for n in trainable)
    trainer.train()
    critic_dir = tmp_path / "run" / "checkpoint-1" / "critic"
    assert (critic_dir / "adapter_model.safetensors").is_file() and (critic_dir / "value_head.safetensors").is_file()
    fresh = make(path, tokenizer, prompt_dataset, tmp_path / "fresh", **overrides)
    fresh.load_critic_checkpoint(str(critic_dir.parent))
    assert_same_state(fresh.critic, state(trainer.critic))


def test_an_architecture_without_a_causal_lm_backbone_is_refused_before_the_policy_loads(
    tokenizer, prompt_dataset, tmp_path, monkeypatch
):
    T5Config(d_model=8, d_ff=16, num_layers=1, num_heads=1, d_kv=8, vocab_size=32).save_pretrained(tmp_path / "t5")

    def policy_loaded(*args, **kwargs):
        raise AssertionError("the policy was loaded before the critic was checked")

    monkeypatch.setattr(EntropyGRPOTrainer, "__init__", policy_loaded)
    with pytest.raises(ValueError, match=r"PPO's critic cannot be built from '.*t5' \(T5Config.*AutoModelForCausalLM"):
        make(str(tmp_path / "t5"), tokenizer, prompt_dataset, tmp_path / "run")
    # The same for a critic checkpoint of its own, next to a policy that has a backbone.
    with pytest.raises(ValueError, match=r"PPO's critic cannot be built from '.*t5'"):
        make(
            load_tiny_policy()[0],
            tokenizer,
            prompt_dataset,
            tmp_path / "run",
            ppo_critic_model_name_or_path=str(tmp_path / "t5"),
        )


def test_a_token_classification_critic_of_earlier_versions_still_loads(tokenizer, prompt_dataset, tmp_path):
    from trl_entropy.tasks import TINY_POLICY_PATH

    # What earlier versions wrote into `checkpoint-N/critic/`: the token-classification model and the marker.
    old = AutoModelForTokenClassification.from_pretrained(TINY_POLICY_PATH, num_labels=1)
    with torch.no_grad():
        old.score.weight.normal_()
        for p in old.model.parameters():
            p.add_(0.01)
    critic_dir = tmp_path / "checkpoint-2" / "critic"
    old.save_pretrained(critic_dir)
    (critic_dir / "critic_config.json").write_text('{"saved_by": "trl_entropy.PPOTrainer"}\n')
    expected = {**{f"backbone.{k}": v for k, v in old.model.state_dict().items()}}
    expected.update({f"value_head.{k}": v for k, v in old.score.state_dict().items()})

    trainer = make(load_tiny_policy()[0], tokenizer, prompt_dataset, tmp_path / "run")
    trainer.load_critic_checkpoint(str(critic_dir.parent))
    assert_same_state(trainer.accelerator.unwrap_model(trainer.critic), expected)
    assert_same_state(load_critic(str(critic_dir)), expected)


def test_a_lora_critic_of_earlier_versions_still_resumes(tokenizer, prompt_dataset, tmp_path):
    from trl_entropy.ppo.trainer import lora_token_classification_critic
    from trl_entropy.tasks import TINY_POLICY_PATH

    # What earlier versions wrote for `ppo_critic_lora_r: 4`: PEFT's token-classification adapters and head.
    torch.manual_seed(0)
    old = AutoModelForTokenClassification.from_pretrained(TINY_POLICY_PATH, num_labels=1)
    old = lora_token_classification_critic(old, 4)
    with torch.no_grad():
        for p in old.parameters():
            if p.requires_grad:
                p.normal_(std=0.1)
    critic_dir = tmp_path / "checkpoint-2" / "critic"
    old.save_pretrained(critic_dir)
    (critic_dir / "critic_config.json").write_text('{"saved_by": "trl_entropy.PPOTrainer"}\n')

    trainer = make(load_tiny_policy()[0], tokenizer, prompt_dataset, tmp_path / "run", ppo_critic_lora_r=4)
    trainer.load_critic_checkpoint(str(critic_dir.parent))
    critic = trainer.accelerator.unwrap_model(trainer.critic)
    assert torch.equal(critic.value_head.weight, old.base_model.model.score.modules_to_save["default"].weight)
    input_ids = torch.tensor([tokenizer("12+3=15").input_ids])
    old.eval()
    torch.testing.assert_close(critic(input_ids=input_ids).logits, old(input_ids=input_ids).logits)


def test_the_recipe_script_refuses_a_critic_without_a_backbone_first(tmp_path):
    from trl_entropy.scripts.train import RecipeError
    from trl_entropy.scripts.train import main as train_main

    T5Config(d_model=8, d_ff=16, num_layers=1, num_heads=1, d_kv=8, vocab_size=32).save_pretrained(tmp_path / "t5")
    recipe = Path(__file__).resolve().parent.parent / "recipes" / "tiny" / "ppo.yaml"
    argv = ["--config", str(recipe), "--output_dir", str(tmp_path / "run")]
    with pytest.raises(RecipeError, match=r"PPO's critic cannot be built from '.*t5' \(T5Config"):
        train_main([*argv, "--ppo_critic_model_name_or_path", str(tmp_path / "t5")])
