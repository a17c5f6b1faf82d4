# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""The `EntropyGRPOTrainer` hook: shaped advantages reach TRL's loss unchanged, for every loss type."""

import copy
import math
import zlib

import pytest
import torch
from conftest import cpu_grpo_kwargs, first_batch
from trl import GRPOConfig, GRPOTrainer

from trl_entropy import EntropyAdvantageGRPOTrainer, EntropyGRPOTrainer, PositionShapingGRPOTrainer
from trl_entropy.entropy_grpo_trainer import _LossPass
from trl_entropy.functional import entropy_advantage


LOSS_TYPES = ["grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo", "luspo", "vespo"]


def spread_reward(completions, **kwargs):
    """Deterministic, well-spread rewards so that groups have non-zero advantages of both signs."""
    return [(zlib.crc32(c.encode()) % 101) / 100 for c in completions]


class RecordingTrainer(EntropyGRPOTrainer):
    """Shapes with the entropy advantage and records what the hook received and returned."""

    def __init__(self, *args, **kwargs):
        self.received, self.returned = [], []
        super().__init__(*args, **kwargs)

    def shape_advantages(self, advantages, per_token_logps, entropies, mask, inputs):
        assert not per_token_logps.requires_grad and not entropies.requires_grad
        assert mask.shape == per_token_logps.shape == entropies.shape
        self.received.append(advantages.clone())
        shaped = entropy_advantage(advantages, entropies, alpha=0.4, kappa=2.0)
        self.returned.append(shaped.clone())
        self.log_metric("test_psi", (shaped - advantages.unsqueeze(1)).mul(mask).sum(), mask.sum())
        return shaped


def make_trainer(cls, tiny_model, tokenizer, prompt_dataset, tmp_path, **overrides):
    args = GRPOConfig(**cpu_grpo_kwargs(tmp_path, **overrides))
    return cls(
        model=tiny_model,
        reward_funcs=spread_reward,
        args=args,
        train_dataset=prompt_dataset,
        processing_class=tokenizer,
    )


@pytest.mark.parametrize("loss_type", LOSS_TYPES)
def test_shaped_advantages_reach_trl_loss(loss_type, tiny_model, tokenizer, prompt_dataset, tmp_path):
    trainer = make_trainer(RecordingTrainer, tiny_model, tokenizer, prompt_dataset, tmp_path, loss_type=loss_type)
    inputs = first_batch(trainer)
    assert inputs["advantages"].dim() == 1 and inputs["advantages"].abs().sum() > 0

    loss = trainer.compute_loss(trainer.model, inputs)
    shaped = trainer.returned[-1]
    # TRL's own loss fed the same token-level advantages directly: the hook must give exactly this.
    expected = GRPOTrainer._compute_loss(trainer, trainer.model, {**inputs, "advantages": shaped})
    unshaped = GRPOTrainer._compute_loss(trainer, trainer.model, inputs)
    torch.testing.assert_close(loss, expected)
    assert not torch.allclose(loss, unshaped), "the shaping had no effect on the loss"
    # The buffered batch is untouched.
    assert inputs["advantages"].dim() == 1
    assert trainer._metrics["train"]["entropy/test_psi"][-1] > 0


@pytest.mark.parametrize(
    "overrides",
    [
        dict(num_iterations=2, max_steps=4),
        dict(num_iterations=2, gradient_accumulation_steps=2, steps_per_generation=4, max_steps=3),
    ],
    ids=["num_iterations", "num_iterations+accumulation"],
)
def test_shaping_never_compounds(overrides, tiny_model, tokenizer, prompt_dataset, tmp_path):
    trainer = make_trainer(RecordingTrainer, tiny_model, tokenizer, prompt_dataset, tmp_path, **overrides)
    trainer.train()
    passes = len(trainer.received)
    assert passes >= 4  # batches were reused
    # Every pass shaped TRL's original (B,) advantages, never the output of an earlier pass...
    assert all(received.dim() == 1 for received in trainer.received)
    # ...and the reused batches still hold them.
    assert all(batch["advantages"].dim() == 1 for batch in trainer._buffered_inputs)
    # A reused batch is shaped from the same base advantages each time.
    reused = [i for i in range(1, passes) if torch.equal(trainer.received[i], trainer.received[0])]
    assert reused, "expected the first batch to be reused by a later pass"


def test_extra_loss_is_added_with_gradient_through_entropies(tiny_model, tokenizer, prompt_dataset, tmp_path):
    class ExtraLossTrainer(EntropyGRPOTrainer):
        def extra_loss(self, per_token_logps, entropies, mask, inputs):
            assert entropies.requires_grad and per_token_logps.requires_grad
            self.extra_value = 0.5 * (entropies * mask).sum() / mask.sum()
            return self.extra_value

    trainer = make_trainer(
        ExtraLossTrainer, tiny_model, tokenizer, prompt_dataset, tmp_path, gradient_accumulation_steps=2
    )
    inputs = first_batch(trainer)
    loss = trainer.compute_loss(trainer.model, inputs)
    base = GRPOTrainer._compute_loss(trainer, trainer.model, inputs)
    # Scaled for gradient accumulation like TRL's own entropy bonus.
    torch.testing.assert_close(loss - base, trainer.extra_value.detach() / 2)
    params = [p for p in trainer.model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss - base, params, allow_unused=True)
    assert any(g is not None and g.abs().sum() > 0 for g in grads)


def test_default_hooks_equal_plain_grpo(tiny_model, tokenizer, prompt_dataset, tmp_path):
    trainer = make_trainer(EntropyGRPOTrainer, tiny_model, tokenizer, prompt_dataset, tmp_path)
    inputs = first_batch(trainer)
    torch.testing.assert_close(
        trainer.compute_loss(trainer.model, inputs), GRPOTrainer._compute_loss(trainer, trainer.model, inputs)
    )


@pytest.mark.parametrize("stray_forward", ["another_model", "without_entropies", "without_entropies_positional"])
def test_a_forward_before_the_policy_forward_is_refused(
    stray_forward, tiny_model, tokenizer, prompt_dataset, tmp_path, monkeypatch
):
    # A TRL whose `_compute_loss` ran another forward before the policy's (a reference model, or log-probs without
    # entropies) must fail loudly, not have the hook shape and penalise the wrong tensors.
    trainer = make_trainer(RecordingTrainer, tiny_model, tokenizer, prompt_dataset, tmp_path)
    inputs = first_batch(trainer)
    reference = copy.deepcopy(trainer.model)
    trl_compute_loss = GRPOTrainer._compute_loss

    def compute_loss_with_a_stray_forward(self, model, inputs):
        input_ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], dim=1)
        attention_mask = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], dim=1)
        logits_to_keep = inputs["completion_ids"].size(1)
        with torch.no_grad():
            if stray_forward == "another_model":
                self._get_per_token_logps_and_entropies(
                    reference, input_ids, attention_mask, logits_to_keep, compute_entropy=True
                )
            elif stray_forward == "without_entropies":
                self._get_per_token_logps_and_entropies(model, input_ids, attention_mask, logits_to_keep)
            else:  # batch_size, compute_entropy given positionally
                self._get_per_token_logps_and_entropies(model, input_ids, attention_mask, logits_to_keep, None, False)
        return trl_compute_loss(self, model, inputs)

    monkeypatch.setattr(GRPOTrainer, "_compute_loss", compute_loss_with_a_stray_forward)
    expected = "another model" if stray_forward == "another_model" else "compute_entropy=False"
    with pytest.raises(RuntimeError, match=rf"compute_entropy=True on the trained model.*{expected}.*trl==1\.16\.0"):
        trainer.compute_loss(trainer.model, inputs)
    assert not trainer.received  # nothing was shaped
    assert trainer._loss_pass is None


def test_fused_lm_head_stays_on(tiny_model, tokenizer, prompt_dataset, tmp_path):
    trainer = make_trainer(RecordingTrainer, tiny_model, tokenizer, prompt_dataset, tmp_path)
    inputs = first_batch(trainer)
    calls = []
    hook = trainer.model.register_forward_pre_hook(lambda m, a, kw: calls.append(kw), with_kwargs=True)
    try:
        trainer.compute_loss(trainer.model, inputs)
    finally:
        hook.remove()
    assert calls and all(kw.get("fused_lm_head") is True for kw in calls)


def test_metric_flush_uses_sum_and_count(tiny_model, tokenizer, prompt_dataset, tmp_path):
    trainer = make_trainer(EntropyGRPOTrainer, tiny_model, tokenizer, prompt_dataset, tmp_path)
    trainer.model.train()
    loss_pass = _LossPass(inputs={})
    trainer._loss_pass = loss_pass
    trainer.log_metric("mean_of_three", torch.tensor(6.0), torch.tensor(3.0))
    trainer.log_metric("empty", 0.0, 0.0)
    trainer._loss_pass = None
    trainer._flush_method_metrics(loss_pass)
    assert trainer._metrics["train"]["entropy/mean_of_three"] == [2.0]
    assert math.isnan(trainer._metrics["train"]["entropy/empty"][0])
    with pytest.raises(RuntimeError, match="log_metric"):
        trainer.log_metric("outside", 1.0, 1.0)


def test_logged_method_means_are_exact_over_the_logging_window(tiny_model, tokenizer, prompt_dataset, tmp_path):
    # Three loss passes in one logging window (accumulation or logging_steps > 1): 1 item of value 1, 3 items of
    # value 5, nothing. The logged mean is over the 4 items (16 / 4 = 4), not the mean of the passes' means (3).
    trainer = make_trainer(EntropyGRPOTrainer, tiny_model, tokenizer, prompt_dataset, tmp_path)
    trainer.model.train()
    for total, count in ((1.0, 1.0), (15.0, 3.0), (0.0, 0.0)):
        loss_pass = _LossPass(inputs={})
        trainer._loss_pass = loss_pass
        trainer.log_metric("window_mean", total, count)
        trainer._loss_pass = None
        trainer._flush_method_metrics(loss_pass)
    assert trainer._metrics["train"]["entropy/window_mean"][:2] == [1.0, 5.0]  # per pass, as before
    trainer.log({})
    assert trainer.state.log_history[-1]["entropy/window_mean"] == 4.0
    # The next window starts from zero.
    loss_pass = _LossPass(inputs={})
    trainer._loss_pass = loss_pass
    trainer.log_metric("window_mean", 2.0, 1.0)
    trainer._loss_pass = None
    trainer._flush_method_metrics(loss_pass)
    trainer.log({})
    assert trainer.state.log_history[-1]["entropy/window_mean"] == 2.0


def test_shape_errors_are_reported(tiny_model, tokenizer, prompt_dataset, tmp_path):
    class BadTrainer(EntropyGRPOTrainer):
        def shape_advantages(self, advantages, per_token_logps, entropies, mask, inputs):
            return advantages[:1]

    trainer = make_trainer(BadTrainer, tiny_model, tokenizer, prompt_dataset, tmp_path)
    with pytest.raises(ValueError, match="shape_advantages"):
        trainer.compute_loss(trainer.model, first_batch(trainer))


def test_entropy_advantage_trainer_is_a_drop_in_for_a_plain_grpo_config(
    tiny_model, tokenizer, prompt_dataset, tmp_path
):
    # The model is given by path (loaded by TRL) and beta > 0 makes TRL load a reference model from the same path.
    tiny_model.save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    trainer = make_trainer(
        EntropyAdvantageGRPOTrainer,
        str(tmp_path / "model"),
        tokenizer,
        prompt_dataset,
        tmp_path,
        loss_type="bnpo",
        beta=0.01,
    )
    assert (trainer.entropy_advantage_alpha, trainer.entropy_advantage_kappa) == (0.4, 2.0)
    trainer.train()
    logged = {key for entry in trainer.state.log_history for key in entry}
    assert {"entropy/advantage_psi_mean", "entropy/advantage_psi_ratio", "entropy/advantage_clip_frac", "kl"} <= logged


def test_positional_arguments_as_in_grpo_trainer(tiny_model, tokenizer, prompt_dataset, tmp_path):
    args = GRPOConfig(**cpu_grpo_kwargs(tmp_path, max_steps=1))
    # GRPOTrainer(model, reward_funcs, args, train_dataset, eval_dataset, processing_class, ...)
    trainer = PositionShapingGRPOTrainer(tiny_model, spread_reward, args, prompt_dataset, None, tokenizer)
    assert trainer.train_dataset is prompt_dataset and trainer.processing_class is tokenizer
    # the components' callbacks (position shaping brings the stage detector) join the callbacks
    assert trainer.stage_detector in trainer.callback_handler.callbacks
    trainer.train()
