# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""`ClipCovGRPOTrainer` and `KLCovGRPOTrainer` (arXiv 2505.22617): configuration, the losses against TRL's loss and
their definitions, and short trainings on the tiny policy."""

import math

import pytest
import torch
from conftest import completion_logits, cpu_grpo_kwargs, first_batch, stacked, step_batches
from trl import GRPOConfig, GRPOTrainer

from trl_entropy import ClipCovGRPOConfig, ClipCovGRPOTrainer, KLCovGRPOConfig, KLCovGRPOTrainer
from trl_entropy.covariance import component as covariance_component
from trl_entropy.functional import (
    clip_cov_selection,
    kl_cov_penalty,
    kl_cov_selection,
    token_covariance,
)
from trl_entropy.methods import get_method
from trl_entropy.tasks import countdown_reward, load_tiny_policy


def make(trainer_class, tokenizer, dataset, output_dir, config_class=None, **overrides):
    kwargs = cpu_grpo_kwargs(
        output_dir, per_device_train_batch_size=16, num_generations=8, max_completion_length=12, max_steps=3
    )
    kwargs.update(overrides)
    return trainer_class(
        model=load_tiny_policy()[0],
        reward_funcs=countdown_reward,
        args=(config_class or trainer_class.config_class)(**kwargs),
        train_dataset=dataset,
        processing_class=tokenizer,
    )


def reference_logps(trainer, inputs):
    """Per-token log-probs from the full logits of an ordinary forward (no fused head)."""
    log_probs = completion_logits(trainer, inputs).log_softmax(-1)
    return log_probs.gather(-1, inputs["completion_ids"].unsqueeze(-1)).squeeze(-1)


def test_registered_and_exported():
    assert get_method("clip_cov").trainer_class is ClipCovGRPOTrainer
    assert get_method("kl_cov").config_class is KLCovGRPOConfig


# ---------------------------------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config_class, field, value, message",
    [
        (ClipCovGRPOConfig, "clip_cov_ratio", 0.0, r"`clip_cov_ratio` must be in \(0, 1\], got 0.0"),
        (ClipCovGRPOConfig, "clip_cov_lb", math.nan, r"`clip_cov_lb` must be a finite number, got nan"),
        (ClipCovGRPOConfig, "clip_cov_ub", 0.5, r"`clip_cov_ub` must be a finite number > `clip_cov_lb` \(1.0\)"),
        (
            ClipCovGRPOConfig,
            "clip_cov_scope",
            "step",
            r"`clip_cov_scope` must be one of \('per_micro_batch', 'global'\), got 'step'",
        ),
        (KLCovGRPOConfig, "kl_cov_ratio", 2.0, r"`kl_cov_ratio` must be in \(0, 1\], got 2.0"),
        (KLCovGRPOConfig, "kl_cov_coef", -1.0, r"`kl_cov_coef` must be a finite number >= 0, got -1.0"),
        (
            KLCovGRPOConfig,
            "kl_cov_scope",
            "step",
            r"`kl_cov_scope` must be one of \('per_micro_batch', 'global'\), got 'step'",
        ),
    ],
)
def test_config_validation_names_the_field(config_class, field, value, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        config_class(**cpu_grpo_kwargs(tmp_path), **{field: value})


def test_kl_cov_defaults_to_two_updates_per_generation(tmp_path):
    assert KLCovGRPOConfig(**cpu_grpo_kwargs(tmp_path)).steps_per_generation == 2
    assert KLCovGRPOConfig(**cpu_grpo_kwargs(tmp_path, gradient_accumulation_steps=3)).steps_per_generation == 6
    assert KLCovGRPOConfig(**cpu_grpo_kwargs(tmp_path, steps_per_generation=4)).steps_per_generation == 4
    assert GRPOConfig(**cpu_grpo_kwargs(tmp_path)).steps_per_generation == 1  # TRL's own default is left alone


def test_defaults_are_the_authors(tmp_path):
    clip = ClipCovGRPOConfig(**cpu_grpo_kwargs(tmp_path))
    assert (clip.clip_cov_ratio, clip.clip_cov_lb, clip.clip_cov_ub) == (0.0002, 1.0, 5.0)
    assert clip.clip_cov_exclude_clipped and clip.clip_cov_scope == "per_micro_batch"
    kl = KLCovGRPOConfig(**cpu_grpo_kwargs(tmp_path))
    assert (kl.kl_cov_ratio, kl.kl_cov_coef, kl.kl_cov_scope) == (0.002, 1.0, "per_micro_batch")


@pytest.mark.parametrize(
    "config_class, overrides",
    [
        (KLCovGRPOConfig, {"steps_per_generation": 1}),
        (KLCovGRPOConfig, {"generation_batch_size": 16}),
        (GRPOConfig, {}),
    ],
)
def test_fully_on_policy_kl_cov_is_refused(config_class, overrides, tokenizer, prompt_dataset, tmp_path):
    # explicit on-policy settings, and a plain GRPOConfig at TRL's defaults (steps_per_generation = accumulation)
    with pytest.raises(ValueError, match=r"every update on-policy.*num_iterations > 1.*steps_per_generation"):
        make(KLCovGRPOTrainer, tokenizer, prompt_dataset, tmp_path, config_class=config_class, **overrides)
    with pytest.raises(ValueError, match="every update on-policy"):
        make(KLCovGRPOTrainer, tokenizer, prompt_dataset, tmp_path, gradient_accumulation_steps=4,
             steps_per_generation=2)  # fmt: skip


@pytest.mark.parametrize("overrides", [{"num_iterations": 2}, {"steps_per_generation": 2}])
def test_off_policy_kl_cov_is_accepted(overrides, tokenizer, prompt_dataset, tmp_path):
    trainer = make(KLCovGRPOTrainer, tokenizer, prompt_dataset, tmp_path, **overrides)
    assert trainer.kl_cov == {"kl_cov_ratio": 0.002, "kl_cov_coef": 1.0, "kl_cov_scope": "per_micro_batch"}


def test_clip_cov_runs_on_policy_with_a_plain_grpo_config(tokenizer, prompt_dataset, tmp_path):
    trainer = make(ClipCovGRPOTrainer, tokenizer, prompt_dataset, tmp_path, config_class=GRPOConfig)
    assert trainer.method_hyperparameters()["clip_cov_ub"] == 5.0


# ---------------------------------------------------------------------------------------------------------------------
# The losses
# ---------------------------------------------------------------------------------------------------------------------


def test_clip_cov_loss_is_trl_loss_with_the_selected_advantages_zeroed(
    tokenizer, prompt_dataset, tmp_path, monkeypatch
):
    # A wide band and a large ratio, so that several tokens are selected on the tiny policy.
    trainer = make(ClipCovGRPOTrainer, tokenizer, prompt_dataset, tmp_path, clip_cov_ratio=0.1, clip_cov_lb=0.0,
                   clip_cov_ub=50.0)  # fmt: skip
    inputs = first_batch(trainer)
    calls = []

    def recording_selection(cov, *args, **kwargs):
        calls.append((cov, clip_cov_selection(cov, *args, **kwargs)))
        return calls[-1][1]

    monkeypatch.setattr(covariance_component, "clip_cov_selection", recording_selection)
    state = trainer.advantage_shapers[0].random_generator(trainer.context(trainer.advantage_shapers[0])).get_state()
    loss = trainer.compute_loss(trainer.model, inputs)

    [(used_cov, selected)] = calls
    mask = inputs["completion_mask"].float()
    cov = token_covariance(inputs["advantages"], reference_logps(trainer, inputs), mask)
    torch.testing.assert_close(used_cov, cov, rtol=1e-4, atol=1e-5)  # the covariance of the loss's own forward
    # The draw is the seeded generator's: replayed from its state, the same tokens.
    replay = torch.Generator()
    replay.set_state(state)
    assert torch.equal(selected, clip_cov_selection(used_cov, mask, 0.1, 0.0, 50.0, generator=replay))
    candidates = (mask > 0) & (used_cov > 0)
    assert selected.sum() == min(math.floor(0.1 * mask.sum().item()), candidates.sum().item())
    assert 0 < selected.sum() < candidates.sum()  # some drawn, not all: the draw matters
    assert not (selected & ~candidates).any()
    zeroed = dict(inputs)
    zeroed["advantages"] = inputs["advantages"].unsqueeze(1).expand(mask.shape).masked_fill(selected, 0.0)
    torch.testing.assert_close(loss, GRPOTrainer._compute_loss(trainer, trainer.model, zeroed))
    assert not torch.allclose(loss, GRPOTrainer._compute_loss(trainer, trainer.model, inputs))

    metrics = trainer._metrics["train"]
    num_valid = mask.sum().item()
    assert metrics["entropy/clip_cov_selected_share"][-1] == pytest.approx(selected.sum().item() / num_valid)
    assert metrics["entropy/clip_cov_candidate_share"][-1] == pytest.approx(candidates.sum().item() / num_valid)
    valid_cov = used_cov[mask > 0]
    assert metrics["entropy/clip_cov_cov_min"][-1] == pytest.approx(valid_cov.min().item(), abs=1e-5)
    assert metrics["entropy/clip_cov_cov_mean"][-1] == pytest.approx(valid_cov.mean().item(), abs=1e-5)
    assert metrics["entropy/clip_cov_cov_max"][-1] == pytest.approx(valid_cov.max().item(), abs=1e-5)


def test_clip_cov_leaves_ppo_clipped_tokens_out(tokenizer, prompt_dataset, tmp_path):
    trainer = make(ClipCovGRPOTrainer, tokenizer, prompt_dataset, tmp_path, steps_per_generation=2,
                   clip_cov_ratio=1.0, clip_cov_lb=-1e9, clip_cov_ub=1e9)  # fmt: skip
    inputs = first_batch(trainer)
    # An old policy far from the current one on every token: with A != 0 half of the ratios are clipped.
    logps = reference_logps(trainer, inputs)
    sign = inputs["advantages"].sign().unsqueeze(1)
    inputs["old_per_token_logps"] = logps - sign  # r = e > 1.2 where A > 0; r = e^-1 < 0.8 where A < 0
    trainer.compute_loss(trainer.model, inputs)
    # ratio 1 and an unbounded band: every valid token with A = 0 is selected, every token with A != 0 is clipped.
    mask = inputs["completion_mask"].float()
    expected_share = ((sign == 0).float() * mask).sum() / mask.sum()
    assert 0 < expected_share < 1  # the batch has groups with and without reward spread
    assert trainer._metrics["train"]["entropy/clip_cov_selected_share"][-1] == pytest.approx(expected_share.item())


def test_kl_cov_loss_is_trl_loss_plus_the_term(tokenizer, prompt_dataset, tmp_path):
    trainer = make(KLCovGRPOTrainer, tokenizer, prompt_dataset, tmp_path, steps_per_generation=2,
                   kl_cov_ratio=0.05, kl_cov_coef=0.3)  # fmt: skip
    inputs = first_batch(trainer)
    logps = reference_logps(trainer, inputs)
    generator = torch.Generator().manual_seed(0)
    inputs["old_per_token_logps"] = logps + 0.3 * torch.randn(logps.shape, generator=generator)
    loss = trainer.compute_loss(trainer.model, inputs)
    trl_loss = GRPOTrainer._compute_loss(trainer, trainer.model, inputs)

    mask = inputs["completion_mask"].float()
    cov = token_covariance(inputs["advantages"], logps, mask)
    selected = kl_cov_selection(cov, mask, ratio=0.05)
    assert selected.sum() == max(1, math.floor(0.05 * mask.sum().item()))
    expected = (kl_cov_penalty(logps, inputs["old_per_token_logps"], selected, coef=0.3) * mask).sum() / mask.sum()
    assert expected.item() > 0
    torch.testing.assert_close(loss - trl_loss, expected, rtol=1e-4, atol=1e-6)
    metrics = trainer._metrics["train"]
    assert metrics["entropy/kl_cov_penalty"][-1] == pytest.approx(expected.item(), rel=1e-4)
    assert metrics["entropy/kl_cov_selected_share"][-1] == pytest.approx(selected.sum().item() / mask.sum().item())


# ---------------------------------------------------------------------------------------------------------------------
# The global scope (one process here; two gloo processes in tests/scripts/two_process_check.py)
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config_class, field", [(ClipCovGRPOConfig, "clip_cov_scope"), (KLCovGRPOConfig, "kl_cov_scope")]
)
def test_global_scope_needs_whole_steps_per_generation(config_class, field, tmp_path):
    message = (
        rf"`{field}='global'` works over the 2 micro-batches of an optimizer step.*`steps_per_generation` \(3\) must "
        r"be a multiple of `gradient_accumulation_steps` \(2\)"
    )
    with pytest.raises(ValueError, match=message):
        config_class(
            **cpu_grpo_kwargs(tmp_path, gradient_accumulation_steps=2, steps_per_generation=3), **{field: "global"}
        )


def test_clip_cov_global_scope_selects_over_the_step(tokenizer, prompt_dataset, tmp_path, monkeypatch):
    trainer = make(ClipCovGRPOTrainer, tokenizer, prompt_dataset, tmp_path, gradient_accumulation_steps=2,
                   clip_cov_scope="global", clip_cov_ratio=0.1, clip_cov_lb=1e-4, clip_cov_ub=50.0)  # fmt: skip
    # lb > 0: tokens of groups without reward spread have cov = -(mean A)(logp - mean logp) with mean A at rounding
    # level (~1e-8), whose sign depends on the order of the sums; a band starting at 0 would make them coin flips.
    assert (
        trainer.advantage_shapers[0].random_generator(trainer.context(trainer.advantage_shapers[0])).initial_seed()
        == 0
    )  # `seed`, on every process
    state = trainer.advantage_shapers[0].random_generator(trainer.context(trainer.advantage_shapers[0])).get_state()
    batches = step_batches(trainer)
    masks = [batch["completion_mask"].float() for batch in batches]
    # The reference: the per-micro-batch functions on one hand-padded batch holding both micro-batches.
    width = max(mask.size(1) for mask in masks)
    mask = stacked(masks, width)
    logps = stacked([reference_logps(trainer, batch) for batch in batches], width)
    cov = token_covariance(torch.cat([batch["advantages"] for batch in batches]), logps, mask)
    replay = torch.Generator()
    replay.set_state(state)
    selected = clip_cov_selection(cov, mask, 0.1, 1e-4, 50.0, generator=replay)
    assert selected.sum() == math.floor(0.1 * mask.sum().item())  # k of the step, not of a micro-batch
    rows = 0
    for index, batch in enumerate(batches):
        trainer._step = index
        loss = trainer.compute_loss(trainer.model, batch)
        part = slice(rows, rows + masks[index].size(0))
        rows = part.stop
        window_cov, window_selected = trainer._step_windows["clip_cov"][1][index]
        torch.testing.assert_close(window_cov, cov[part, : masks[index].size(1)], rtol=1e-4, atol=1e-5)
        assert torch.equal(window_selected, selected[part, : masks[index].size(1)])
        zeroed = dict(batch)
        zeroed["advantages"] = (
            batch["advantages"].unsqueeze(1).expand(masks[index].shape).masked_fill(window_selected, 0)
        )
        torch.testing.assert_close(loss, GRPOTrainer._compute_loss(trainer, trainer.model, zeroed))
    # The step's two micro-batches together, not each alone: the shares of the two passes average to the step's.
    shares = trainer._metrics["train"]["entropy/clip_cov_selected_share"][-2:]
    assert sum(share * m.sum().item() for share, m in zip(shares, masks, strict=True)) == pytest.approx(
        selected.sum().item()
    )


def test_kl_cov_global_scope_selects_over_the_step(tokenizer, prompt_dataset, tmp_path):
    trainer = make(KLCovGRPOTrainer, tokenizer, prompt_dataset, tmp_path, gradient_accumulation_steps=2,
                   steps_per_generation=4, kl_cov_scope="global", kl_cov_ratio=0.05, kl_cov_coef=0.3)  # fmt: skip
    batches = step_batches(trainer)
    masks = [batch["completion_mask"].float() for batch in batches]
    width = max(mask.size(1) for mask in masks)
    mask = stacked(masks, width)
    logps = [reference_logps(trainer, batch) for batch in batches]
    cov = token_covariance(torch.cat([batch["advantages"] for batch in batches]), stacked(logps, width), mask)
    selected = kl_cov_selection(cov, mask, ratio=0.05)
    per_micro_batch = sum(max(1, math.floor(0.05 * m.sum().item())) for m in masks)
    assert selected.sum() == math.floor(0.05 * mask.sum().item()) != per_micro_batch
    generator = torch.Generator().manual_seed(0)
    rows = 0
    for index, batch in enumerate(batches):
        batch["old_per_token_logps"] = logps[index] + 0.3 * torch.randn(logps[index].shape, generator=generator)
        trainer._step = index
        loss = trainer.compute_loss(trainer.model, batch)
        trl_loss = GRPOTrainer._compute_loss(trainer, trainer.model, batch)
        part = slice(rows, rows + masks[index].size(0))
        rows = part.stop
        window_selected = trainer._step_windows["kl_cov"][1][index][1]
        assert torch.equal(window_selected, selected[part, : masks[index].size(1)])
        term = kl_cov_penalty(logps[index], batch["old_per_token_logps"], window_selected, coef=0.3) * masks[index]
        # TRL divides each micro-batch's loss by the accumulation steps; `compute_loss` does the same with the term
        expected = term.sum() / masks[index].sum() / 2
        torch.testing.assert_close(loss - trl_loss, expected, rtol=1e-4, atol=1e-6)


def test_global_scope_trains(tokenizer, prompt_dataset, tmp_path):
    trainer = make(KLCovGRPOTrainer, tokenizer, prompt_dataset, tmp_path, gradient_accumulation_steps=2,
                   steps_per_generation=4, per_device_train_batch_size=8, kl_cov_scope="global",
                   kl_cov_ratio=0.05, max_steps=2)  # fmt: skip
    trainer.train()
    history = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(history) == 2 and all(math.isfinite(entry["loss"]) for entry in history)
    assert all(0 < entry["entropy/kl_cov_selected_share"] <= 0.06 for entry in history), history
    assert history[0]["entropy/kl_cov_penalty"] < 1e-6 < history[1]["entropy/kl_cov_penalty"]


# ---------------------------------------------------------------------------------------------------------------------
# Short trainings
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "trainer_class, prefix, overrides",
    [
        (ClipCovGRPOTrainer, "clip_cov", {"clip_cov_lb": 0.0}),
        (KLCovGRPOTrainer, "kl_cov", {"steps_per_generation": 2, "kl_cov_ratio": 0.05}),
    ],
)
def test_short_training(trainer_class, prefix, overrides, tokenizer, prompt_dataset, tmp_path):
    trainer = make(trainer_class, tokenizer, prompt_dataset, tmp_path, learning_rate=5e-4, **overrides)
    before = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    trainer.train()
    assert trainer.state.global_step == 3
    assert any(not torch.equal(before[name], p) for name, p in trainer.model.named_parameters())
    history = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(history) == 3 and all(math.isfinite(entry["loss"]) for entry in history)
    for entry in history:
        assert 0 < entry[f"entropy/{prefix}_selected_share"] <= 1
        low, mean, high = (entry[f"entropy/{prefix}_cov_{name}"] for name in ("min", "mean", "max"))
        assert low <= mean <= high
    if prefix == "kl_cov":  # the first step of each generation is on-policy (no penalty), the second is not
        penalties = [entry["entropy/kl_cov_penalty"] for entry in history]
        assert penalties[0] < 1e-6 < penalties[1], penalties
