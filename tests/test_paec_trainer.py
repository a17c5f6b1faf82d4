# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""`PAECGRPOTrainer`: the penalty it adds equals the definition computed from full logits; training, ablations,
resume."""

import json
import math
from types import SimpleNamespace

import pytest
import torch
from accelerate import Accelerator
from conftest import completion_logits, cpu_grpo_kwargs, first_batch, step_batches
from trl import GRPOConfig, GRPOTrainer

from trl_entropy import PAECGRPOConfig, PAECGRPOTrainer
from trl_entropy.functional import decision_score, nucleus_statistics, paec_penalty, soft_mask
from trl_entropy.paec.component import PAECRegularizer
from trl_entropy.tasks import countdown_reward, load_tiny_policy


def make(
    tokenizer, dataset, output_dir, model=None, config_class=PAECGRPOConfig, trainer_class=PAECGRPOTrainer, **overrides
):
    if model is None:
        model, _ = load_tiny_policy()
    kwargs = cpu_grpo_kwargs(
        output_dir, per_device_train_batch_size=16, num_generations=8, max_completion_length=12, max_steps=3
    )
    kwargs.update(overrides)
    return trainer_class(
        model=model,
        reward_funcs=countdown_reward,
        args=config_class(**kwargs),
        train_dataset=dataset,
        processing_class=tokenizer,
    )


def definition(trainer, inputs, grad=False):
    """The per-token entropies (with gradient if `grad`), validity mask and decision scores of a micro-batch, by the
    definition: from the full logits of an ordinary forward (no tiles, no skipping)."""
    args = trainer.args
    logits = completion_logits(trainer, inputs, grad=grad)
    mask = inputs["completion_mask"].float()
    log_probs = logits.log_softmax(-1)
    entropies = -(log_probs.exp() * log_probs).sum(-1)
    logits = logits.detach()
    stats = nucleus_statistics(logits, args.paec_top_p)
    if args.paec_entropy_normalization == "vocab":
        normalizer = math.log(logits.size(-1))
    else:
        normalizer = stats.nucleus_size.log()
    scores = decision_score(
        stats.nucleus_entropy, stats.top2_gap, entropy_weight=args.paec_entropy_weight,
        combination=args.paec_score_combination, normalizer=normalizer,
    ) * mask  # fmt: skip
    return entropies, mask, scores


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"paec_skip_confident": False, "paec_mask_temperature": 0.0},
        {"paec_score_combination": "arithmetic", "paec_entropy_normalization": "nucleus", "paec_top_p": 0.8},
        {"paec_use_mask": False},
    ],
)
def test_penalty_equals_the_definition_from_full_logits(overrides, tokenizer, prompt_dataset, tmp_path):
    trainer = make(tokenizer, prompt_dataset, tmp_path, paec_beta=3.0, temperature=0.9, **overrides)
    inputs = first_batch(trainer)
    trainer.paec_anchor.value = 2.0  # floor 0.8 * 2.0 = 1.6 nats, above the policy's masked entropy
    loss = trainer.compute_loss(trainer.model, inputs)
    trl_loss = GRPOTrainer._compute_loss(trainer, trainer.model, inputs)

    args = trainer.args
    entropies, mask, scores = definition(trainer, inputs)
    if args.paec_use_mask:
        weights = soft_mask(
            scores, mask, scores[mask.bool()], rho=args.paec_rho, temperature=args.paec_mask_temperature
        )
    else:
        weights = mask
    expected = paec_penalty(entropies, weights, mask, floor=1.6, beta=3.0)
    assert expected > 0
    torch.testing.assert_close(loss - trl_loss, expected, atol=1e-5, rtol=1e-4)
    metrics = trainer._metrics["train"]
    assert metrics["entropy/paec_floor"][-1] == pytest.approx(1.6)
    assert metrics["entropy/paec_mask_share"][-1] == pytest.approx((weights.sum() / mask.sum()).item(), abs=1e-5)
    assert metrics["entropy/paec_penalty_active"][-1] == 1.0
    if not args.paec_use_mask:
        assert metrics["entropy/paec_mask_share"][-1] == 1.0


class Recording(PAECGRPOTrainer):
    """Keeps the soft mask and the penalty term (before the division by the accumulation steps) of every loss pass."""

    def _flush_method_metrics(self, loss_pass):
        # the end of every loss pass: what PAEC published for it
        self.recorded_masks.append(loss_pass.token_values["paec_mask"][0].clone())
        super()._flush_method_metrics(loss_pass)

    def extra_loss(self, per_token_logps, entropies, mask, inputs):
        term = super().extra_loss(per_token_logps, entropies, mask, inputs)
        self.recorded_terms.append(term)
        return term


def two_micro_batch_step(scope, tokenizer, dataset, tmp_path):
    """A trainer with two micro-batches per optimizer step, the step's micro-batches (the window is built when the
    first is prepared), the definition on each, and the soft masks the scope asks for, by hand."""
    overrides = {} if scope == "step" else {"paec_scope": scope}  # "step": the default
    trainer = make(tokenizer, dataset, tmp_path, trainer_class=Recording, gradient_accumulation_steps=2,
                   paec_beta=3.0, temperature=0.9, **overrides)  # fmt: skip
    trainer.recorded_masks, trainer.recorded_terms = [], []
    batches = step_batches(trainer)
    trainer.paec_anchor.value = 2.0  # floor 0.8 * 2.0 = 1.6 nats, above the policy's masked entropy
    definitions = [definition(trainer, batch) for batch in batches]
    return trainer, batches, definitions, hand_masks(trainer, definitions, scope)


def hand_masks(trainer, definitions, scope):
    """The soft masks of the micro-batches: with one quantile over the valid positions of all of them stacked
    (`"step"`), or one per micro-batch (`"micro_batch"`)."""
    alone = [scores[mask.bool()] for _, mask, scores in definitions]
    references = [torch.cat(alone)] * len(alone) if scope == "step" else alone
    args = trainer.args
    return [
        soft_mask(scores, mask, reference, rho=args.paec_rho, temperature=args.paec_mask_temperature)
        for (_, mask, scores), reference in zip(definitions, references, strict=True)
    ]


@pytest.mark.parametrize("scope", ["step", "micro_batch"])
def test_gradient_accumulation_mask_uses_the_steps_quantile(scope, tokenizer, prompt_dataset, tmp_path):
    trainer, batches, definitions, weights = two_micro_batch_step(scope, tokenizer, prompt_dataset, tmp_path)
    other = hand_masks(trainer, definitions, "micro_batch" if scope == "step" else "step")
    # Meaningful: the two scopes give different masks on this batch.
    assert max((a - b).abs().max().item() for a, b in zip(weights, other, strict=True)) > 1e-2
    for index, batch in enumerate(batches):
        trainer._step = index
        trainer.compute_loss(trainer.model, batch)
        torch.testing.assert_close(trainer.recorded_masks[-1], weights[index], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("scope", ["step", "micro_batch"])
def test_gradient_accumulation_penalty_is_the_steps_masked_mean(scope, tokenizer, prompt_dataset, tmp_path):
    trainer, batches, definitions, weights = two_micro_batch_step(scope, tokenizer, prompt_dataset, tmp_path)
    model = trainer.model
    parameters = [p for p in model.parameters() if p.requires_grad]
    model.zero_grad()
    for index, batch in enumerate(batches):
        trainer._step = index
        trainer.compute_loss(model, batch)
        # the base trainer divides each pass's term by the 2 accumulation steps: the step's gradient is their sum
        (trainer.recorded_terms[-1] / 2).backward()
    got = [p.grad.clone() for p in parameters]
    values = [term.item() for term in trainer.recorded_terms]

    # By hand, with gradient through the entropies of an ordinary forward of each micro-batch.
    model.zero_grad()
    entropies = [definition(trainer, batch, grad=True)[0] for batch in batches]
    masks = [mask for _, mask, _ in definitions]
    if scope == "step":
        # Hbar over every valid position of both micro-batches; every pass has the step's penalty as its value
        total = sum((w * m * h).sum() for w, m, h in zip(weights, masks, entropies, strict=True))
        hbar = total / sum((w * m).sum() for w, m in zip(weights, masks, strict=True))
        step_penalty = 3.0 * torch.clamp(1.6 - hbar, min=0) ** 2
        expected_values = [step_penalty.item()] * 2
    else:
        penalties = [paec_penalty(h, w, m, 1.6, 3.0) for h, w, m in zip(entropies, weights, masks, strict=True)]
        step_penalty = sum(penalties) / 2
        expected_values = [penalty.item() for penalty in penalties]
    assert step_penalty > 0
    step_penalty.backward()
    assert values == pytest.approx(expected_values, rel=1e-4, abs=1e-6)
    for mine, theirs in zip(got, (p.grad for p in parameters), strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-3, atol=1e-6)


def test_gradient_accumulation_trains_with_one_window_per_step(tokenizer, prompt_dataset, tmp_path, monkeypatch):
    windows = []
    original = PAECRegularizer.build_step_window

    def counting(self, ctx, batches):
        windows.append(len(batches))
        return original(self, ctx, batches)

    monkeypatch.setattr(PAECRegularizer, "build_step_window", counting)
    trainer = make(tokenizer, prompt_dataset, tmp_path, max_steps=2, gradient_accumulation_steps=2,
                   per_device_train_batch_size=8, paec_anchor_steps=1, paec_rho_min=2.0)  # fmt: skip
    trainer.train()
    assert windows == [2, 2]  # one no-grad pass over the step's two micro-batches, once per optimizer step
    history = [e for e in trainer.state.log_history if "entropy/paec_penalty_active" in e]
    assert [e["entropy/paec_penalty_active"] for e in history] == [0.0, 1.0]
    assert history[1]["entropy/paec_penalty"] > 0 and all(math.isfinite(e["loss"]) for e in history)


def test_captured_hidden_states_are_the_lm_head_input(tokenizer, prompt_dataset, tmp_path):
    # The hidden states the hook keeps, projected through the head, give back TRL's own per-token entropies.
    captured = {}

    class Recording(PAECGRPOTrainer):
        def extra_loss(self, per_token_logps, entropies, mask, inputs):
            captured["hidden"] = self.context(self.get_component("paec")).hidden_states()
            captured["entropies"] = entropies.detach()
            captured["mask"] = mask
            return super().extra_loss(per_token_logps, entropies, mask, inputs)

    model, _ = load_tiny_policy()
    trainer = Recording(
        model=model, reward_funcs=countdown_reward, processing_class=tokenizer, train_dataset=prompt_dataset,
        args=PAECGRPOConfig(**cpu_grpo_kwargs(tmp_path, per_device_train_batch_size=16, num_generations=8,
                                              max_completion_length=12)),
    )  # fmt: skip
    inputs = first_batch(trainer)
    trainer.compute_loss(trainer.model, inputs)
    assert not captured["hidden"].requires_grad
    logits = captured["hidden"] @ trainer.model.get_output_embeddings().weight.T / trainer.temperature
    log_probs = logits.log_softmax(-1)
    entropies = -(log_probs.exp() * log_probs).sum(-1)
    mask = captured["mask"].bool()
    torch.testing.assert_close(entropies[mask], captured["entropies"][mask], atol=1e-5, rtol=1e-5)
    # Outside the loss pass there is nothing to read.
    with pytest.raises(RuntimeError, match="only available inside a loss pass"):
        trainer.context(trainer.get_component("paec")).hidden_states()


def test_training_anchor_floor_and_metrics(tokenizer, prompt_dataset, tmp_path):
    # rho_min 2: the floor sits above the anchor, so the penalty acts from the first step after the anchor.
    trainer = make(tokenizer, prompt_dataset, tmp_path, max_steps=4, paec_anchor_steps=2, paec_rho_min=2.0)
    before = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    trainer.train()
    history = [e for e in trainer.state.log_history if "entropy/paec_masked_entropy" in e]
    assert len(history) == 4
    masked = [e["entropy/paec_masked_entropy"] for e in history]
    anchor = trainer.paec_anchor.value
    # the anchor is the mask-weighted mean entropy of steps 1 and 2 (one micro-batch each, equal weights only
    # approximately: each step's weight is its mask sum)
    assert min(masked[:2]) - 1e-6 <= anchor <= max(masked[:2]) + 1e-6
    # no floor before the anchor exists (a NaN mean, which the log keeps as None)
    assert history[0]["entropy/paec_floor"] is None and history[1]["entropy/paec_floor"] is None
    assert history[2]["entropy/paec_floor"] == pytest.approx(2.0 * anchor)
    assert [e["entropy/paec_penalty_active"] for e in history] == [0.0, 0.0, 1.0, 1.0]
    assert history[3]["entropy/paec_penalty"] > 0
    for entry in history:
        assert entry["entropy/paec_masked_entropy"] > entry["entropy/paec_unmasked_entropy"]
        assert 0.05 < entry["entropy/paec_mask_share"] < 0.35  # about the top 20%
        assert entry["entropy/paec_nucleus_size"] >= 1 and entry["entropy/paec_top2_gap"] >= 0
        assert 0 < entry["entropy/paec_projected_share"] <= 1
    changed = [name for name, p in trainer.model.named_parameters() if not torch.equal(p, before[name])]
    assert changed
    # the card cites the paper, lists the method's fields and shows the curves with the grouped entropy panel
    trainer.create_model_card()
    card = (tmp_path / "README.md").read_text()
    assert "arXiv:2606.08543" in card and "| `paec_rho_min` | 2 |" in card and "training_curves.png" in card


def test_no_penalty_ablation_trains_like_grpo_and_still_logs(tokenizer, prompt_dataset, tmp_path):
    trainer = make(tokenizer, prompt_dataset, tmp_path, paec_use_penalty=False, paec_anchor_steps=1, paec_rho_min=5.0)
    inputs = first_batch(trainer)
    trainer.paec_anchor.value = 1.0
    loss = trainer.compute_loss(trainer.model, inputs)
    torch.testing.assert_close(loss, GRPOTrainer._compute_loss(trainer, trainer.model, inputs))
    metrics = trainer._metrics["train"]
    assert metrics["entropy/paec_penalty"][-1] == 0.0 and metrics["entropy/paec_penalty_active"][-1] == 0.0
    assert metrics["entropy/paec_masked_entropy"][-1] > 0


def test_plain_grpo_config_uses_paec_defaults(tokenizer, prompt_dataset, tmp_path):
    trainer = make(tokenizer, prompt_dataset, tmp_path, config_class=GRPOConfig)
    assert trainer.paec["paec_rho"] == 0.8 and trainer.paec["paec_anchor_steps"] == 4
    assert trainer.method_hyperparameters() == {
        name: field.default for name, field in PAECGRPOConfig.__dataclass_fields__.items() if name.startswith("paec_")
    }


@pytest.mark.parametrize("fsdp_version", [1, 2])
def test_fsdp1_is_refused(fsdp_version, tokenizer, prompt_dataset, tmp_path, monkeypatch):
    # The statistics read the LM head's weight after the forward, which FSDP1 has resharded by then (FSDP2 leaves a
    # DTensor, gathered with full_tensor()). No FSDP on a CPU: give the accelerator the plugin accelerate would set.
    accelerator_init = Accelerator.__init__

    def init_with_fsdp_plugin(self, *args, **kwargs):
        accelerator_init(self, *args, **kwargs)
        plugin = SimpleNamespace(
            fsdp_version=fsdp_version, activation_checkpointing=False, state_dict_type="FULL_STATE_DICT"
        )
        # accelerate sets it only under FSDP; the state is shared: removed again after the test
        monkeypatch.setattr(self.state, "fsdp_plugin", plugin, raising=False)

    monkeypatch.setattr(Accelerator, "__init__", init_with_fsdp_plugin)
    if fsdp_version == 1:
        with pytest.raises(ValueError, match=r"PAEC.*FSDP1.*`fsdp_version: 2`.*DDP.*DeepSpeed") as refusal:
            make(tokenizer, prompt_dataset, tmp_path)
        # As soon as the accelerator exists, before GRPOTrainer goes on (reference model, vLLM).
        assert "create_accelerator_and_postprocess" in {entry.name for entry in refusal.traceback}
    else:
        trainer = make(tokenizer, prompt_dataset, tmp_path)
        assert trainer.accelerator.state.fsdp_plugin.fsdp_version == 2


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="`paec_rho` must be in \\[0, 1\\), got 1.0"):
        PAECGRPOConfig(output_dir="x", use_cpu=True, bf16=False, paec_rho=1.0)
    with pytest.raises(ValueError, match="`paec_anchor_steps` must be an integer >= 1, got 0"):
        PAECGRPOConfig(output_dir="x", use_cpu=True, bf16=False, paec_anchor_steps=0)
    with pytest.raises(ValueError, match=r"`paec_scope` must be one of \('step', 'micro_batch'\), got 'epoch'"):
        PAECGRPOConfig(output_dir="x", use_cpu=True, bf16=False, paec_scope="epoch")
    layout = r"`paec_scope='step'` works over the 2 micro-batches .*`steps_per_generation` \(3\) must be a multiple"
    with pytest.raises(ValueError, match=layout + r".*`paec_scope='micro_batch'`"):
        PAECGRPOConfig(**cpu_grpo_kwargs("x", gradient_accumulation_steps=2, steps_per_generation=3))
    PAECGRPOConfig(
        **cpu_grpo_kwargs("x", gradient_accumulation_steps=2, steps_per_generation=3), paec_scope="micro_batch"
    )


@pytest.mark.parametrize("anchor_steps", [1, 3])
def test_resume_keeps_the_anchor(anchor_steps, tokenizer, prompt_dataset, tmp_path):
    # anchor_steps 1: frozen before the checkpoint at step 2; 3: still being collected at the checkpoint.
    kwargs = dict(max_steps=4, save_strategy="steps", save_steps=2, paec_anchor_steps=anchor_steps)
    first = make(tokenizer, prompt_dataset, tmp_path / "run", **kwargs)
    first.train()
    saved = json.loads((tmp_path / "run" / "checkpoint-2" / "trainer_state.json").read_text())
    saved_anchor = saved["stateful_callbacks"]["PAECAnchor"]["attributes"]
    assert (saved_anchor["value"] is not None) == (anchor_steps == 1)

    resumed = make(tokenizer, prompt_dataset, tmp_path / "run", **kwargs)
    assert resumed.paec_anchor.value is None
    resumed.train(resume_from_checkpoint=str(tmp_path / "run" / "checkpoint-2"))
    assert resumed.paec_anchor.value is not None
    assert resumed.paec_anchor.value == pytest.approx(first.paec_anchor.value, rel=1e-6)
    if anchor_steps == 1:
        assert resumed.paec_anchor.value == saved_anchor["value"]
    # a second train() from scratch collects a new anchor instead of keeping the old one
    first.paec_anchor.total = -1.0
    first.train()
    assert first.paec_anchor.total >= 0


def test_lora_policy(tokenizer, prompt_dataset, tmp_path):
    from peft import LoraConfig

    trainer = PAECGRPOTrainer(
        model=load_tiny_policy()[0], reward_funcs=countdown_reward, processing_class=tokenizer,
        train_dataset=prompt_dataset, peft_config=LoraConfig(r=4, target_modules=["q_proj", "v_proj"]),
        args=PAECGRPOConfig(**cpu_grpo_kwargs(tmp_path, per_device_train_batch_size=16, num_generations=8,
                                              max_completion_length=12, paec_anchor_steps=1, paec_rho_min=2.0)),
    )  # fmt: skip
    trainer.train()
    history = [e for e in trainer.state.log_history if "entropy/paec_penalty" in e]
    assert history[-1]["entropy/paec_penalty"] > 0


def test_masked_and_unmasked_entropy_share_one_panel(tmp_path):
    from trl_entropy.plotting import plot_training_curves

    history = [
        {"step": step, "reward": 0.1 * step, "entropy": 0.5, "entropy/paec_masked_entropy": 1.0 - 0.1 * step,
         "entropy/paec_unmasked_entropy": 0.3, "entropy/paec_floor": 0.8 if step > 1 else None,
         "entropy/paec_penalty": 0.0}
        for step in range(1, 5)
    ]  # fmt: skip
    png = tmp_path / "curves.png"
    plotted = plot_training_curves(history, png)
    assert png.stat().st_size > 0
    # the three PAEC entropy lines come together, before the other method metrics
    group = ["entropy/paec_masked_entropy", "entropy/paec_unmasked_entropy", "entropy/paec_floor"]
    start = plotted.index(group[0])
    assert plotted[start : start + 3] == group and plotted[-1] == "entropy/paec_penalty"
