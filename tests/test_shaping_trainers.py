# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""PPL shaping, position shaping and their composition, through real trainers on the tiny countdown policy."""

import math
from types import SimpleNamespace

import pytest
import torch
from conftest import cpu_grpo_kwargs, first_batch

from trl_entropy import (
    PositionShapingGRPOConfig,
    PositionShapingGRPOTrainer,
    PPLShapingGRPOConfig,
    PPLShapingGRPOTrainer,
    ShapingGRPOConfig,
    ShapingGRPOTrainer,
)
from trl_entropy.entropy_grpo_trainer import _LossPass
from trl_entropy.functional import entropy_advantage, position_shaped_advantages, ppl_advantage_weights
from trl_entropy.position_shaping import PositionShaper
from trl_entropy.ppl_shaping.trainer import INDEX_KEY, WEIGHTS_KEY, PPLShaper
from trl_entropy.stage_detector import StageDetector
from trl_entropy.tasks import countdown_reward, load_tiny_policy


def make(trainer_class, config_class, tokenizer, dataset, tmp_path, **overrides):
    model, _ = load_tiny_policy()
    kwargs = cpu_grpo_kwargs(tmp_path, per_device_train_batch_size=32, num_generations=8, max_completion_length=12)
    kwargs.update(overrides)
    return trainer_class(
        model=model,
        reward_funcs=countdown_reward,
        args=config_class(**kwargs),
        train_dataset=dataset,
        processing_class=tokenizer,
    )


def logged(trainer, key):
    return [entry[key] for entry in trainer.state.log_history if key in entry]


# ---------------------------------------------------------------------------------------------------------------------
# PPL shaping: where the rollout log-probs come from
# ---------------------------------------------------------------------------------------------------------------------


def test_ppl_on_policy_default_uses_the_loss_pass(tokenizer, prompt_dataset, tmp_path):
    trainer = make(PPLShapingGRPOTrainer, PPLShapingGRPOConfig, tokenizer, prompt_dataset, tmp_path, ppl_alpha=0.5)
    inputs = first_batch(trainer)
    # TRL computed no old log-probs, so no extra forward ran: only the completion indices were recorded.
    assert "old_per_token_logps" not in inputs and WEIGHTS_KEY not in inputs
    assert sorted(inputs[INDEX_KEY].tolist()) == list(range(32))
    trainer.compute_loss(trainer.model, inputs)
    # The weights used equal the function applied to the batch in its original (unshuffled) group order.
    with torch.no_grad():
        logps, _, _ = trainer._get_per_token_logps_and_entropies(
            trainer.model,
            torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], 1),
            torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], 1),
            inputs["completion_ids"].size(1),
        )
    order = torch.argsort(inputs[INDEX_KEY])
    expected = torch.empty(32)
    expected[order] = ppl_advantage_weights(logps[order], inputs["completion_mask"][order].float(), 8, alpha=0.5)
    shaper = trainer.advantage_shapers[0]
    weights, _ = shaper._weights_in_loss_pass(
        trainer.context(shaper), logps, inputs["completion_mask"].float(), inputs
    )
    torch.testing.assert_close(weights, expected)
    assert not torch.allclose(weights, torch.ones(32))


def test_ppl_uses_old_logps_when_trl_computes_them(tokenizer, prompt_dataset, tmp_path):
    trainer = make(
        PPLShapingGRPOTrainer,
        PPLShapingGRPOConfig,
        tokenizer,
        prompt_dataset,
        tmp_path,
        num_iterations=2,
        ppl_alpha=0.5,
    )
    inputs = first_batch(trainer)
    assert "old_per_token_logps" in inputs and WEIGHTS_KEY in inputs and INDEX_KEY not in inputs
    # The weights were computed at generation time from TRL's old log-probs, group by group: recompute them from the
    # per-completion lnPPL stored with them, after undoing TRL's shuffle (groups are the 8 prompts' completions, and
    # a batch of one process holds whole groups here, so grouping by prompt recovers them).
    prompts = inputs["prompt_ids"].tolist()
    groups = {}
    for row, prompt in enumerate(prompts):
        groups.setdefault(tuple(prompt), []).append(row)
    assert sorted(len(rows) for rows in groups.values()) == [8, 8, 8, 8]
    for rows in groups.values():
        log_ppl = inputs["ppl_log_perplexity"][rows]
        expected = ppl_advantage_weights((-log_ppl).unsqueeze(1), torch.ones(8, 1), 8, alpha=0.5)
        torch.testing.assert_close(inputs[WEIGHTS_KEY][rows], expected)
    assert not torch.allclose(inputs[WEIGHTS_KEY], torch.ones(32))


def ppl_on_generation(batch, alpha=0.1):
    """Run the PPL shaper's generation hook on `batch` with a one-process stand-in for the trainer (groups of 2)."""
    shaper = PPLShaper(SimpleNamespace(ppl_alpha=alpha))
    ctx = SimpleNamespace(
        gather=lambda tensor: tensor,
        process_index=0,
        num_generations=2,
        mode="train",
        args=SimpleNamespace(steps_per_generation=1),
    )
    shaper.on_generation(ctx, batch, [])
    return batch


def test_ppl_prefers_trl_old_logps_to_vllm_sampling_logps():
    mask = torch.ones(2, 3, dtype=torch.long)
    batch = {
        "completion_ids": torch.zeros(2, 3, dtype=torch.long),
        "completion_mask": mask,
        "old_per_token_logps": torch.tensor([[-1.0, -2.0, -3.0], [-0.5, -0.5, -0.5]]),  # lnPPL 2 and 0.5
        "sampling_per_token_logps": torch.tensor([[-9.0, -9.0, -9.0], [-math.inf, -1.0, -1.0]]),
    }
    ppl_on_generation(batch)
    torch.testing.assert_close(batch["ppl_log_perplexity"], torch.tensor([2.0, 0.5]))
    expected = ppl_advantage_weights(batch["old_per_token_logps"], mask.float(), 2, alpha=0.1)
    torch.testing.assert_close(batch[WEIGHTS_KEY], expected)
    assert not torch.equal(batch[WEIGHTS_KEY], torch.ones(2))


def test_ppl_sampling_logps_leave_non_finite_tokens_out():
    # vLLM's log-probs only: the -inf and NaN tokens are left out of the mean (not zeroed, not clamped to -3.4e38).
    # Row 0: -(-1 - 3) / 2 = 2; row 1: -(-2 - 4) / 2 = 3.
    batch = {
        "completion_ids": torch.zeros(2, 3, dtype=torch.long),
        "completion_mask": torch.ones(2, 3, dtype=torch.long),
        "sampling_per_token_logps": torch.tensor([[-1.0, -math.inf, -3.0], [math.nan, -2.0, -4.0]]),
    }
    ppl_on_generation(batch, alpha=0.1)
    torch.testing.assert_close(batch["ppl_log_perplexity"], torch.tensor([2.0, 3.0]))
    # Group of 2 (no outliers can be dropped from two values): mean 2.5, sigma 0.5, z = -1, +1.
    torch.testing.assert_close(batch[WEIGHTS_KEY], torch.tensor([1.1, 0.9]))


def test_ppl_extra_forward_when_groups_span_several_passes(tokenizer, prompt_dataset, tmp_path):
    trainer = make(
        PPLShapingGRPOTrainer,
        PPLShapingGRPOConfig,
        tokenizer,
        prompt_dataset,
        tmp_path,
        per_device_train_batch_size=16,
        gradient_accumulation_steps=2,
        steps_per_generation=2,
        max_steps=2,
    )
    trainer.train()
    assert all(WEIGHTS_KEY in batch and "old_per_token_logps" not in batch for batch in trainer._buffered_inputs)
    assert logged(trainer, "entropy/ppl_weight_mean")


def test_ppl_alpha_zero_leaves_advantages_unchanged(tokenizer, prompt_dataset, tmp_path):
    trainer = make(PPLShapingGRPOTrainer, PPLShapingGRPOConfig, tokenizer, prompt_dataset, tmp_path, ppl_alpha=0.0)
    inputs = first_batch(trainer)
    shaper = trainer.advantage_shapers[0]
    trainer._loss_pass = _LossPass(inputs={})  # a bare loss pass: a sink for log_metric
    mask = inputs["completion_mask"].float()
    out = shaper.shape(
        trainer.context(shaper), inputs["advantages"], torch.randn(32, mask.size(1)), None, mask, inputs
    )
    trainer._loss_pass = None
    torch.testing.assert_close(out, inputs["advantages"])


# ---------------------------------------------------------------------------------------------------------------------
# Position shaping: schedules
# ---------------------------------------------------------------------------------------------------------------------


def test_position_fixed_schedule_is_active_exactly_in_its_window(tokenizer, prompt_dataset, tmp_path):
    trainer = make(
        PositionShapingGRPOTrainer,
        PositionShapingGRPOConfig,
        tokenizer,
        prompt_dataset,
        tmp_path,
        max_steps=5,
        position_start_step=2,
        position_num_steps=2,
    )
    trainer.train()
    # Steps are numbered as the log history numbers them (1-based): start 2 for 2 steps acts on logged steps 2 and 3.
    assert logged(trainer, "step")[:5] == [1, 2, 3, 4, 5]
    assert logged(trainer, "entropy/position_active") == [0.0, 1.0, 1.0, 0.0, 0.0]
    bonus = logged(trainer, "entropy/position_bonus_mean")
    assert bonus[0] == 0 and bonus[1] > 0 and bonus[2] > 0 and bonus[3] == 0


def test_position_auto_schedule_follows_the_detector(tokenizer, prompt_dataset, tmp_path):
    trainer = make(
        PositionShapingGRPOTrainer,
        PositionShapingGRPOConfig,
        tokenizer,
        prompt_dataset,
        tmp_path,
        position_schedule="auto",
        position_num_steps=3,
    )
    shaper = trainer.advantage_shapers[0]
    ctx = trainer.context(shaper)
    trainer.state.global_step = 10
    assert not shaper.is_active(ctx)  # no plateau yet
    trainer.stage_detector._plateau_step, trainer.stage_detector._declared_step = 4, 8
    # Declared by the observation of logged step 8: active on logged steps 9-11, i.e. global_step 8-10 in the loss.
    assert [shaper.is_active(ctx) for trainer.state.global_step in (7, 8, 10, 11)] == [False, True, True, False]


def active_logged_steps(shaper, detector, last_step, observe=None):
    """The logged steps `1..last_step` at which the shaper's bonus acts, driven in the trainer's order: during the step
    logged as `s`, TRL's `state.global_step` is `s - 1`; the loss runs first, then the detector sees step `s`."""
    ctx = SimpleNamespace(
        step=0, component=lambda name: SimpleNamespace(detector=detector) if name == "stages" else None
    )
    active = []
    for step in range(1, last_step + 1):
        ctx.step = step
        if shaper.is_active(ctx):
            active.append(step)
        if observe is not None:
            observe(step)
    return active


def test_position_fixed_schedule_counts_steps_as_the_log_history_does():
    fixed = PositionShaper(SimpleNamespace(position_schedule="fixed", position_start_step=2, position_num_steps=2))
    assert active_logged_steps(fixed, StageDetector(), 6) == [2, 3]
    # The paper's defaults: from step 200 for 100 steps, i.e. logged steps 200-299.
    paper = PositionShaper(SimpleNamespace(position_schedule="fixed"))
    assert (paper.start_step, paper.num_steps) == (200, 100)
    assert active_logged_steps(paper, StageDetector(), 400) == list(range(200, 300))
    until_end = PositionShaper(
        SimpleNamespace(position_schedule="fixed", position_start_step=3, position_num_steps=None)
    )
    assert active_logged_steps(until_end, StageDetector(), 6) == [3, 4, 5, 6]
    first = PositionShaper(SimpleNamespace(position_schedule="fixed", position_start_step=1, position_num_steps=1))
    assert active_logged_steps(first, StageDetector(), 3) == [1]
    always = PositionShaper(SimpleNamespace(position_schedule="always"))
    assert active_logged_steps(always, StageDetector(), 4) == [1, 2, 3, 4]
    # Step 0 is no optimizer step in this numbering (the config validates the options; the component reads them).
    with pytest.raises(ValueError, match=r"`position_start_step` must be >= 1 \(valid range: \[1, inf\)\), got 0"):
        PositionShapingGRPOConfig(output_dir="unused", position_start_step=0)


def test_position_auto_window_starts_after_the_declaration_and_lasts_num_steps():
    # With a window of 2 the slopes are differences: the curves rise until step 3 and are flat from there, so the run
    # meeting the plateau condition starts at step 4 (plateau_step) and its fifth observation, step 8, declares it.
    detector = StageDetector(window=2, ratio=0.25, patience=5, min_steps=0)

    def observe(step):
        progress = min(step, 3)
        detector.update(step, 0.1 * progress, 1.0 - 0.1 * progress)

    # position_num_steps (3) < stage_patience (5): counted from plateau_step, the window would be over before the
    # declaration. The bonus acts on the 3 optimizer steps after the one whose observation declared the plateau.
    shaper = PositionShaper(SimpleNamespace(position_schedule="auto", position_num_steps=3))
    assert active_logged_steps(shaper, detector, 15, observe) == [9, 10, 11]
    assert (detector.plateau_step, detector.declared_step) == (4, 8)
    # The same from the saved detector alone (a resumed run), and until the end with position_num_steps=None.
    assert active_logged_steps(shaper, StageDetector.from_state(detector.state()), 15) == [9, 10, 11]
    until_end = PositionShaper(SimpleNamespace(position_schedule="auto", position_num_steps=None))
    assert active_logged_steps(until_end, detector, 15) == list(range(9, 16))
    assert active_logged_steps(shaper, StageDetector(), 15) == []  # no plateau, no bonus


def test_position_shaping_matches_the_function(tokenizer, prompt_dataset, tmp_path):
    trainer = make(
        PositionShapingGRPOTrainer,
        PositionShapingGRPOConfig,
        tokenizer,
        prompt_dataset,
        tmp_path,
        position_schedule="always",
    )
    inputs = first_batch(trainer)
    trainer.compute_loss(trainer.model, inputs)
    mask = inputs["completion_mask"].float()
    expected = position_shaped_advantages(inputs["advantages"], mask)
    shaper = trainer.advantage_shapers[0]
    trainer._loss_pass = _LossPass(inputs={})
    out = shaper.shape(trainer.context(shaper), inputs["advantages"], None, None, mask, inputs)
    trainer._loss_pass = None
    torch.testing.assert_close(out, expected)


# ---------------------------------------------------------------------------------------------------------------------
# Composition
# ---------------------------------------------------------------------------------------------------------------------


def test_composition_order_is_fixed_and_every_method_logs(tokenizer, prompt_dataset, tmp_path):
    trainer = make(
        ShapingGRPOTrainer,
        ShapingGRPOConfig,
        tokenizer,
        prompt_dataset,
        tmp_path,
        shaping_methods=["position", "entropy_advantage", "ppl"],
        position_schedule="always",
        max_steps=2,
    )
    assert [shaper.name for shaper in trainer.advantage_shapers] == ["ppl", "entropy_advantage", "position"]
    trainer.train()
    keys = {key for entry in trainer.state.log_history for key in entry}
    assert {
        "entropy/ppl_weight_mean",
        "entropy/advantage_psi_mean",
        "entropy/position_bonus_mean",
        "entropy/stage",
    } <= keys
    assert trainer.method_hyperparameters()["shaping_methods"] == ["ppl", "entropy_advantage", "position"]


def test_composition_equals_the_functions_chained_by_hand(tokenizer, prompt_dataset, tmp_path):
    trainer = make(
        ShapingGRPOTrainer,
        ShapingGRPOConfig,
        tokenizer,
        prompt_dataset,
        tmp_path,
        shaping_methods=["ppl", "entropy_advantage", "position"],
        position_schedule="always",
        num_iterations=2,  # TRL computes old log-probs: the PPL weights are in the batch
        ppl_alpha=0.5,
    )
    inputs = first_batch(trainer)
    mask = inputs["completion_mask"].float()
    entropies = torch.rand(mask.shape) * 2
    trainer._loss_pass = _LossPass(inputs={})
    out = trainer.shape_advantages(inputs["advantages"], None, entropies, mask, inputs)
    trainer._loss_pass = None
    by_hand = inputs["advantages"] * inputs[WEIGHTS_KEY]
    by_hand = entropy_advantage(by_hand, entropies, alpha=0.4, kappa=2.0)
    by_hand = position_shaped_advantages(by_hand, mask)
    torch.testing.assert_close(out, by_hand)
    base = inputs["advantages"].unsqueeze(1).expand_as(out)
    assert (torch.sign(out) == torch.sign(base)).all()  # no sign flip, zeros stay zero


@pytest.mark.parametrize(
    ("methods", "message"),
    [([], "non-empty"), (["ppl", "ppl"], "distinct"), (["magic"], "magic")],
)
def test_invalid_shaping_methods(tmp_path, methods, message):
    with pytest.raises(ValueError, match=f"`shaping_methods` must be .*{message}|{message}"):
        ShapingGRPOConfig(**cpu_grpo_kwargs(tmp_path), shaping_methods=methods)


@pytest.mark.parametrize(
    ("config_class", "field", "value", "message"),
    [
        (PPLShapingGRPOConfig, "ppl_alpha", -1.0, r"`ppl_alpha` must be >= 0 \(valid range: \[0, inf\)\), got -1.0"),
        (PPLShapingGRPOConfig, "ppl_clamp", [1.1, 1.2], r"`ppl_clamp` must be None or \(low, high\)"),
        (PositionShapingGRPOConfig, "position_gamma", -0.1, r"`position_gamma` must be >= 0"),
        (PositionShapingGRPOConfig, "position_cap", -1.0, r"`position_cap` must be None or >= 0"),
        (PositionShapingGRPOConfig, "position_schedule", "sometimes", r"`position_schedule` must be one of"),
        (PositionShapingGRPOConfig, "position_num_steps", 0, r"`position_num_steps` must be >= 1 or None"),
        (PositionShapingGRPOConfig, "stage_window", 1, r"window"),
    ],
)
def test_config_validation(tmp_path, config_class, field, value, message):
    with pytest.raises(ValueError, match=message):
        config_class(**cpu_grpo_kwargs(tmp_path), **{field: value})


def test_composition_from_a_yaml_recipe(tmp_path):
    from trl_entropy.scripts.train import main

    trainer = main(
        ["--config", "recipes/tiny/shaping.yaml", "--output_dir", str(tmp_path), "--max_steps", "2",
         "--logging_steps", "1", "--per_device_train_batch_size", "32", "--task_eval_problems", "0",
         "--disable_tqdm", "true"]
    )  # fmt: skip
    assert isinstance(trainer, ShapingGRPOTrainer)
    assert [shaper.name for shaper in trainer.advantage_shapers] == ["ppl", "entropy_advantage", "position"]
    card = (tmp_path / "README.md").read_text()
    # Both papers are cited and every method's hyperparameters are listed.
    for expected in ["2506.14758", "2508.02260", "@article{deng2025decomposing", "@article{cheng2025reasoning",
                     "| `ppl_alpha` | 0.01 |", "| `entropy_advantage_alpha` | 0.4 |", "| `position_schedule` | auto |",
                     "| `shaping_methods` | ['ppl', 'entropy_advantage', 'position'] |"]:  # fmt: skip
        assert expected in card, expected


def test_shaping_trainer_is_a_drop_in_for_a_plain_grpo_config(tokenizer, prompt_dataset, tmp_path):
    # Like every other trainer (and TRL's own GRPO tests): a plain GRPOConfig gets ShapingGRPOConfig's defaults,
    # `shaping_methods = ["entropy_advantage"]` with the paper's alpha and kappa.
    from trl import GRPOConfig

    trainer = make(ShapingGRPOTrainer, GRPOConfig, tokenizer, prompt_dataset, tmp_path)
    assert [shaper.name for shaper in trainer.advantage_shapers] == ["entropy_advantage"]
    assert trainer.method_hyperparameters()["shaping_methods"] == ["entropy_advantage"]
    assert trainer.method_hyperparameters()["entropy_advantage_alpha"] == 0.4


def test_shaping_methods_are_still_checked_on_any_config(tokenizer, prompt_dataset, tmp_path):
    from trl import GRPOConfig

    class Args(GRPOConfig):
        shaping_methods = ["entropy_advantage", "unknown"]

    with pytest.raises(ValueError, match=r"`shaping_methods` must be a non-empty list of distinct names"):
        make(ShapingGRPOTrainer, Args, tokenizer, prompt_dataset, tmp_path)
