# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""`PPOTrainer` and `EntropyAdvantagePPOTrainer`: GAE advantages from the critic, the value loss, the warm-up, a real
training of both models, checkpoints and resume."""

import json

import pytest
import torch
from conftest import completion_logits, cpu_grpo_kwargs, first_batch
from trl import GRPOTrainer

from trl_entropy import EntropyAdvantagePPOConfig, EntropyAdvantagePPOTrainer, PPOConfig, PPOTrainer
from trl_entropy.functional import entropy_advantage
from trl_entropy.functional.ppo import clipped_value_loss, gae, outcome_token_rewards, whiten
from trl_entropy.tasks import countdown_reward, load_tiny_policy


def make(tokenizer, dataset, output_dir, trainer_class=PPOTrainer, config_class=PPOConfig, **overrides):
    # One completion per prompt: PPO needs no group.
    kwargs = cpu_grpo_kwargs(
        output_dir, per_device_train_batch_size=16, num_generations=1, max_completion_length=12, max_steps=3
    )
    kwargs.update(overrides)
    return trainer_class(
        model=load_tiny_policy()[0],
        reward_funcs=countdown_reward,
        args=config_class(**kwargs),
        train_dataset=dataset,
        processing_class=tokenizer,
    )


def parameters(model):
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def changed(before, model):
    return [name for name, p in model.named_parameters() if not torch.equal(before[name], p)]


def critic_values(trainer, inputs):
    with torch.no_grad():
        return trainer._critic_forward(
            inputs["prompt_ids"], inputs["prompt_mask"], inputs["completion_ids"], inputs["completion_mask"]
        )


def test_one_completion_per_prompt_is_the_default(tmp_path):
    kwargs = cpu_grpo_kwargs(tmp_path, per_device_train_batch_size=16)
    del kwargs["num_generations"]
    config = PPOConfig(**kwargs)
    assert config.num_generations == 1 and config.ppo_gamma == 1.0 and config.ppo_lam == 1.0
    with pytest.raises(ValueError, match=r"`ppo_vf_coef` must be > 0 .* got 0.0"):
        PPOConfig(**cpu_grpo_kwargs(tmp_path), ppo_vf_coef=0.0)
    with pytest.raises(ValueError, match=r"`ppo_critic_warmup_steps` must be an integer >= 0, got -1"):
        PPOConfig(**cpu_grpo_kwargs(tmp_path), ppo_critic_warmup_steps=-1)
    with pytest.raises(ValueError, match="ppo_gamma"):
        PPOConfig(**cpu_grpo_kwargs(tmp_path), ppo_gamma=1.5)
    assert EntropyAdvantagePPOConfig(**cpu_grpo_kwargs(tmp_path)).entropy_advantage_alpha == 0.1  # the paper's PPO


def test_batch_advantages_are_whitened_gae_of_the_outcome_reward(tokenizer, prompt_dataset, tmp_path):
    # A critic that has trained a little, so that values are not all zero.
    trainer = make(tokenizer, prompt_dataset, tmp_path, ppo_gamma=0.9, ppo_lam=0.8, learning_rate=1e-3)
    with torch.no_grad():
        torch.manual_seed(0)
        trainer.critic.value_head.weight.normal_(std=0.3)
    inputs = first_batch(trainer)
    mask = inputs["completion_mask"].float()
    values = critic_values(trainer, inputs) * mask
    torch.testing.assert_close(inputs["old_values"], values)
    texts = tokenizer.batch_decode(inputs["completion_ids"], skip_special_tokens=True)
    # The batch's prompts are the dataset's first 16 (one completion each, TRL's shuffle inside the batch aside).
    prompts = tokenizer.batch_decode(inputs["prompt_ids"], skip_special_tokens=True)
    rows = {row["prompt"]: row for row in prompt_dataset}
    rewards = torch.tensor(
        countdown_reward(prompts, texts, [rows[p]["numbers"] for p in prompts], [rows[p]["target"] for p in prompts])
    )
    advantages, returns = gae(outcome_token_rewards(rewards, mask), values, mask, 0.9, 0.8, return_returns=True)
    torch.testing.assert_close(inputs["returns"], returns)
    torch.testing.assert_close(inputs["advantages"], whiten(advantages, mask), rtol=1e-4, atol=1e-5)
    assert inputs["advantages"].shape == mask.shape


def test_loss_adds_the_clipped_value_loss_to_trls(tokenizer, prompt_dataset, tmp_path):
    trainer = make(tokenizer, prompt_dataset, tmp_path, ppo_vf_coef=0.5, ppo_value_clip=0.05)
    inputs = first_batch(trainer)
    # Old values away from the current ones, so that the clip binds for some tokens.
    generator = torch.Generator().manual_seed(1)
    inputs["old_values"] = inputs["old_values"] + 0.1 * torch.randn(inputs["old_values"].shape, generator=generator)
    loss = trainer.compute_loss(trainer.model, inputs)
    trl_loss = GRPOTrainer._compute_loss(trainer, trainer.model, inputs)
    mask = inputs["completion_mask"].float()
    value_loss, clipfrac = clipped_value_loss(
        critic_values(trainer, inputs), inputs["old_values"], inputs["returns"], mask, clip_range=0.05
    )
    assert 0 < clipfrac < 1
    torch.testing.assert_close(loss - trl_loss, 0.5 * value_loss, rtol=1e-4, atol=1e-6)
    assert trainer._metrics["train"]["ppo/value_clipfrac"][-1] == pytest.approx(clipfrac.item(), rel=1e-5)


def test_entropy_advantage_shapes_the_gae_advantages(tokenizer, prompt_dataset, tmp_path):
    trainer = make(
        tokenizer,
        prompt_dataset,
        tmp_path,
        trainer_class=EntropyAdvantagePPOTrainer,
        config_class=EntropyAdvantagePPOConfig,
        entropy_advantage_alpha=0.3,
    )
    inputs = first_batch(trainer)
    loss = trainer.compute_loss(trainer.model, inputs)
    log_probs = completion_logits(trainer, inputs).log_softmax(-1)
    entropies = -(log_probs.exp() * log_probs).sum(-1)
    shaped = dict(inputs, advantages=entropy_advantage(inputs["advantages"], entropies, alpha=0.3, kappa=2.0))
    mask = inputs["completion_mask"].float()
    value_loss, _ = clipped_value_loss(
        critic_values(trainer, inputs), inputs["old_values"], inputs["returns"], mask, clip_range=0.2
    )
    expected = GRPOTrainer._compute_loss(trainer, trainer.model, shaped) + 0.1 * value_loss
    torch.testing.assert_close(loss, expected, rtol=1e-4, atol=1e-6)
    assert trainer._metrics["train"]["entropy/advantage_psi_mean"][-1] > 0


def test_critic_warmup_freezes_the_policy_then_both_models_train(tokenizer, prompt_dataset, tmp_path):
    trainer = make(tokenizer, prompt_dataset, tmp_path, max_steps=2, ppo_critic_warmup_steps=2, learning_rate=1e-3)
    policy, critic = parameters(trainer.model), parameters(trainer.critic)
    trainer.train()
    assert changed(policy, trainer.model) == []
    assert changed(critic, trainer.critic)
    assert [e["ppo/critic_warmup"] for e in trainer.state.log_history if "ppo/critic_warmup" in e] == [1.0, 1.0]

    trainer = make(
        tokenizer, prompt_dataset, tmp_path / "b", max_steps=4, ppo_critic_warmup_steps=1, learning_rate=1e-3
    )
    policy, critic = parameters(trainer.model), parameters(trainer.critic)
    trainer.train()
    assert changed(policy, trainer.model) and changed(critic, trainer.critic)
    history = [e for e in trainer.state.log_history if "ppo/value_loss" in e]
    assert [e["ppo/critic_warmup"] for e in history] == [1.0, 0.0, 0.0, 0.0]
    assert all("entropy" in e for e in history[1:])  # TRL's policy loss ran after the warm-up


def test_checkpoints_hold_both_models_and_resume_continues_the_warmup(tokenizer, prompt_dataset, tmp_path):
    overrides = dict(save_strategy="steps", save_steps=2, ppo_critic_warmup_steps=3, learning_rate=1e-3)
    first = make(tokenizer, prompt_dataset, tmp_path, max_steps=2, **overrides)
    first.train()
    checkpoint = tmp_path / "checkpoint-2"
    assert (checkpoint / "model.safetensors").is_file()
    assert (checkpoint / "critic" / "model.safetensors").is_file()
    assert (checkpoint / "critic" / "critic_optimizer.pt").is_file()
    saved_critic = parameters(first.critic)
    saved_policy = parameters(first.model)

    # Step 3 is still in the warm-up (3 steps): the resumed run trains the critic only, from the saved critic.
    resumed = make(tokenizer, prompt_dataset, tmp_path, max_steps=3, **overrides)
    resumed.train(resume_from_checkpoint=str(checkpoint))
    assert changed(saved_policy, resumed.model) == []
    assert changed(saved_critic, resumed.critic)
    state = json.loads((tmp_path / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["global_step"] == 2
    history = [e for e in resumed.state.log_history if "ppo/critic_warmup" in e]
    assert history[-1]["step"] == 3 and history[-1]["ppo/critic_warmup"] == 1.0

    # The resumed critic started from the checkpoint's, not from a fresh head.
    fresh = make(tokenizer, prompt_dataset, tmp_path / "fresh", max_steps=3, **overrides)
    fresh.load_critic_checkpoint(str(checkpoint))
    for name, p in fresh.critic.named_parameters():
        torch.testing.assert_close(p, saved_critic[name])
    assert fresh.critic_optimizer.state_dict()["state"]

    # And the final save writes the critic next to the policy.
    resumed.save_model(str(tmp_path / "final"))
    assert (tmp_path / "final" / "critic" / "model.safetensors").is_file()


def test_resume_from_a_checkpoint_without_critic_is_refused(tokenizer, prompt_dataset, tmp_path):
    trainer = make(tokenizer, prompt_dataset, tmp_path)
    (tmp_path / "checkpoint-1").mkdir()
    with pytest.raises(FileNotFoundError, match="has no `critic/` folder"):
        trainer.load_critic_checkpoint(str(tmp_path / "checkpoint-1"))


def test_lora_critic_trains_its_adapters_and_head_and_resumes(tokenizer, prompt_dataset, tmp_path):
    overrides = dict(ppo_critic_lora_r=4, save_strategy="steps", save_steps=2, learning_rate=1e-3)
    trainer = make(tokenizer, prompt_dataset, tmp_path, max_steps=2, **overrides)
    trainable = {name for name, p in trainer.critic.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in name or "value_head" in name for name in trainable)
    before = parameters(trainer.critic)
    trainer.train()
    moved = set(changed(before, trainer.critic))
    assert moved and moved <= trainable  # the backbone stays frozen
    assert any("value_head" in name for name in moved) and any("lora_" in name for name in moved)
    assert (tmp_path / "checkpoint-2" / "critic" / "adapter_model.safetensors").is_file()

    fresh = make(tokenizer, prompt_dataset, tmp_path / "fresh", **overrides)
    fresh.load_critic_checkpoint(str(tmp_path / "checkpoint-2"))
    for name, p in fresh.critic.named_parameters():
        torch.testing.assert_close(p, trainer.critic.state_dict()[name], msg=name)


def test_critic_shares_the_lora_policys_frozen_backbone(tokenizer, prompt_dataset, tmp_path):
    from peft import LoraConfig

    args = PPOConfig(
        **cpu_grpo_kwargs(
            tmp_path,
            per_device_train_batch_size=16,
            num_generations=1,
            max_completion_length=12,
            max_steps=2,
            learning_rate=1e-3,
        ),
        ppo_critic_lora_r=4,
        ppo_critic_share_backbone=True,
    )
    trainer = PPOTrainer(
        model=load_tiny_policy()[0],
        reward_funcs=countdown_reward,
        args=args,
        train_dataset=prompt_dataset,
        processing_class=tokenizer,
        peft_config=LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM"),
    )
    policy_storage = {p.data_ptr() for p in trainer.model.parameters()}
    # Every frozen weight of the critic's backbone is a policy tensor: one copy of the backbone in memory.
    frozen = [p for name, p in trainer.critic.named_parameters() if not p.requires_grad]
    assert len(frozen) > 20 and all(p.data_ptr() in policy_storage for p in frozen)
    before_policy, before_critic = parameters(trainer.model), parameters(trainer.critic)
    trainer.train()
    moved_policy, moved_critic = (
        set(changed(before_policy, trainer.model)),
        set(changed(before_critic, trainer.critic)),
    )
    assert moved_policy and all("lora_" in name for name in moved_policy)  # the shared base never moves
    assert any("value_head" in name for name in moved_critic) and any("lora_" in name for name in moved_critic)
    assert all("lora_" in name or "value_head" in name for name in moved_critic)


def test_sharing_needs_a_frozen_policy_backbone(tokenizer, prompt_dataset, tmp_path):
    with pytest.raises(ValueError, match="needs the policy's backbone weights frozen"):
        make(tokenizer, prompt_dataset, tmp_path, ppo_critic_share_backbone=True)


def logged_learning_rates(trainer):
    return {e["step"]: e["learning_rate"] for e in trainer.state.log_history if "learning_rate" in e}


def test_critic_warmup_does_not_consume_the_policys_schedule(tokenizer, prompt_dataset, tmp_path):
    # A linear schedule with a one-step warm-up: the policy's learning rates over its own training steps.
    schedule = dict(lr_scheduler_type="linear", warmup_steps=1, learning_rate=1e-3)
    plain = make(tokenizer, prompt_dataset, tmp_path / "plain", max_steps=3, **schedule)
    plain.train()
    expected = list(logged_learning_rates(plain).values())
    assert len(expected) == 3 and expected[0] == 0.0 and expected[1] == pytest.approx(1e-3)

    # Two critic warm-up steps, then the same three policy steps: the policy's schedule starts after the warm-up
    # (its first step gets the schedule's step-0 rate) and ends where the plain run's does.
    overrides = dict(max_steps=5, ppo_critic_warmup_steps=2, save_strategy="steps", save_steps=1, **schedule)
    warm = make(tokenizer, prompt_dataset, tmp_path / "warm", **overrides)
    warm.train()
    rates = logged_learning_rates(warm)
    assert [rates[step] for step in (3, 4, 5)] == expected
    assert [rates[step] for step in (1, 2)] == [expected[0]] * 2  # the schedule does not move during the warm-up
    assert warm.lr_scheduler.get_last_lr() == plain.lr_scheduler.get_last_lr()
    assert set(plain.lr_scheduler.get_last_lr()) == {0.0}  # the linear decay's end
    assert warm.lr_scheduler.state_dict()["last_epoch"] == plain.lr_scheduler.state_dict()["last_epoch"] == 3

    # Resumed inside the warm-up and after it, the schedule continues exactly.
    for checkpoint in (1, 3):
        resumed = make(tokenizer, prompt_dataset, tmp_path / "warm", **overrides)
        resumed.train(resume_from_checkpoint=str(tmp_path / "warm" / f"checkpoint-{checkpoint}"))
        resumed_rates = logged_learning_rates(resumed)
        assert {step: resumed_rates[step] for step in range(checkpoint + 1, 6)} == {
            step: rates[step] for step in range(checkpoint + 1, 6)
        }
        assert resumed.lr_scheduler.state_dict() == warm.lr_scheduler.state_dict()


FP16_REFUSAL = r"`fp16=True`.*PPO's critic.*not prepared by Accelerate.*loss-scaled.*`bf16=True`.*fp32"


def test_fp16_is_refused_because_the_critic_would_step_on_scaled_gradients(
    tokenizer, prompt_dataset, tmp_path, monkeypatch
):
    from trl import GRPOConfig

    from trl_entropy.entropy_grpo_trainer import EntropyGRPOTrainer

    # The config refuses it (TrainingArguments accepts fp16 on a CPU machine until the accelerator is built) ...
    with pytest.raises(ValueError, match=FP16_REFUSAL):
        PPOConfig(**cpu_grpo_kwargs(tmp_path), fp16=True)
    # ... also when it comes from `accelerate launch --mixed_precision fp16` (the environment), not the flag ...
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "fp16")
    with pytest.raises(ValueError, match=FP16_REFUSAL):
        PPOConfig(**cpu_grpo_kwargs(tmp_path))
    monkeypatch.delenv("ACCELERATE_MIXED_PRECISION")

    # ... and the trainer refuses a plain `GRPOConfig` with it, before the policy is loaded.
    def policy_loaded(*args, **kwargs):
        raise AssertionError("the policy was loaded before fp16 was refused")

    monkeypatch.setattr(EntropyGRPOTrainer, "__init__", policy_loaded)
    with pytest.raises(ValueError, match=FP16_REFUSAL):
        PPOTrainer(
            model="unused",
            reward_funcs=countdown_reward,
            args=GRPOConfig(**cpu_grpo_kwargs(tmp_path), fp16=True),
            train_dataset=prompt_dataset,
            processing_class=tokenizer,
            critic_model=load_tiny_policy()[0],
        )
    # bf16 and fp32 pass.
    assert PPOConfig(**{**cpu_grpo_kwargs(tmp_path), "bf16": True}).bf16


def test_vf_coef_only_rescales_the_critics_adam_epsilon(tokenizer, prompt_dataset, tmp_path):
    # The critic has its own parameters and its own AdamW: `ppo_vf_coef` c scales its gradients, and Adam's update
    # m / (sqrt(v) + eps) of c * g is the update of g with eps / c. Without gradient clipping (which c would move to
    # max_grad_norm / c) the coefficient does nothing else.
    overrides = dict(max_steps=3, max_grad_norm=0.0, learning_rate=1e-3)
    critics = {}
    for coef, eps in ((0.5, 1e-8), (5.0, 1e-7), (5.0, 1e-8)):
        trainer = make(tokenizer, prompt_dataset, tmp_path / f"{coef}-{eps}", ppo_vf_coef=coef, **overrides)
        for group in trainer.critic_optimizer.param_groups:
            group["eps"] = eps
        start = parameters(trainer.critic)  # the same in every run
        trainer.train()
        critics[coef, eps] = parameters(trainer.critic)

    def largest(a, b):
        return max((a[name] - b[name]).abs().max().item() for name in start)

    moved = largest(critics[0.5, 1e-8], start)
    assert moved > 1e-3  # the critic trained
    # 10 x the coefficient with 10 x Adam's epsilon: the same critic, up to rounding (measured: 1.5e-6).
    assert largest(critics[5.0, 1e-7], critics[0.5, 1e-8]) < 1e-5
    # 10 x the coefficient alone is 10 x smaller an epsilon: it matters where gradients are as small as epsilon, as
    # the backbone's are while the zero-initialised head is small (measured: up to 1.1e-3, against moves of 1.6e-3).
    assert largest(critics[5.0, 1e-8], critics[0.5, 1e-8]) > 1e-4

    # What the documentation says about it.
    field = PPOConfig.__dataclass_fields__["ppo_vf_coef"]
    for text in (field.metadata["help"], PPOConfig.__doc__, PPOTrainer.__doc__):
        assert "ppo_critic_learning_rate" in text and "epsilon" in text and "max_grad_norm" in text


def test_shared_backbone_each_loss_reaches_its_own_model_only(tokenizer, prompt_dataset, tmp_path):
    # What makes `ppo_vf_coef` a gradient scale rather than a loss weight also with a shared backbone: the shared
    # weights are frozen, so the value loss reaches no policy parameter and TRL's policy loss no critic parameter.
    from peft import LoraConfig

    from trl_entropy.entropy_grpo_trainer import loss_mask

    trainer = PPOTrainer(
        model=load_tiny_policy()[0],
        reward_funcs=countdown_reward,
        args=PPOConfig(
            **cpu_grpo_kwargs(tmp_path, per_device_train_batch_size=16, num_generations=1, max_completion_length=12),
            ppo_critic_lora_r=4,
            ppo_critic_share_backbone=True,
        ),
        train_dataset=prompt_dataset,
        processing_class=tokenizer,
        peft_config=LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM"),
    )
    inputs = first_batch(trainer)
    with trainer._open_loss_pass(inputs):
        value_loss = trainer._value_loss(inputs, loss_mask(inputs))
    value_loss.backward()
    assert all(p.grad is None for p in trainer.model.parameters())
    assert trainer.critic.value_head.weight.grad is not None
    trainer.critic.zero_grad(set_to_none=True)
    GRPOTrainer._compute_loss(trainer, trainer.model, inputs).backward()
    assert all(p.grad is None for p in trainer.critic.parameters())
    assert any(p.grad is not None for p in trainer.model.parameters())
