# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Position metrics (`task/`): the pure sums by hand, and their wiring into the trainers on real loss passes."""

import pytest
import torch
from conftest import completion_logits, cpu_grpo_kwargs, first_batch

from trl_entropy.position_metrics import POSITION_LABELS_KEY, PositionMetrics, position_metric_sums


def test_position_metric_sums_by_hand():
    # Row 0: decision, forced, dead, then past the end; row 1: forced, decision, decision, and a masked-out position.
    viable = torch.tensor([[3, 1, 0, -1], [1, 2, 5, 1]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0], [1.0, 1.0, 1.0, 0.0]])
    entropy = torch.tensor([[0.9, 0.1, 0.2, 7.0], [0.3, 0.5, 0.7, 9.0]])
    psi = torch.tensor([[0.4, 0.0, 0.1, 5.0], [0.2, 0.2, 0.6, 5.0]])
    selected = torch.tensor([[1.0, 0.6, 0.0, 1.0], [0.4, 0.5, 0.0, 1.0]])
    sums = position_metric_sums(viable, mask, entropy, {"psi": (psi, "value"), "sel": (selected, "selection")})
    means = {name: float(total) / float(count) for name, (total, count) in sums.items()}
    # 6 valid positions: decisions (0,0) (1,1) (1,2); forced (0,1) (1,0); dead (0,2).
    assert means["decision_share"] == pytest.approx(3 / 6)
    assert means["forced_share"] == pytest.approx(2 / 6)
    assert means["dead_share"] == pytest.approx(1 / 6)
    assert means["entropy_decision"] == pytest.approx((0.9 + 0.5 + 0.7) / 3)
    assert means["entropy_forced"] == pytest.approx((0.1 + 0.3) / 2)
    assert means["psi_decision"] == pytest.approx((0.4 + 0.2 + 0.6) / 3)
    assert means["psi_forced"] == pytest.approx((0.0 + 0.2) / 2)
    # Selected (>= 0.5, valid): (0,0) decision, (0,1) forced, (1,1) decision.
    assert means["sel_precision"] == pytest.approx(2 / 3)
    assert means["sel_recall"] == pytest.approx(2 / 3)
    assert means["sel_forced_share"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="kind 'other'"):
        position_metric_sums(viable, mask, entropy, {"x": (psi, "other")})


def token_class_labeller(inputs, completion_ids, tokenizer):
    """A labeller that depends on the tokens only: operators are decisions (2), digits forced (1), anything else dead
    (0), `-1` after the first EOS. The labels of a row can therefore be recomputed from its tokens after TRL's
    shuffle, which checks that they travelled with their rows."""
    assert len(inputs) == completion_ids.size(0)
    labels = torch.zeros_like(completion_ids)
    for token in "+-*":
        labels[completion_ids == tokenizer.convert_tokens_to_ids(token)] = 2
    for digit in "0123456789":
        labels[completion_ids == tokenizer.convert_tokens_to_ids(digit)] = 1
    is_eos = (completion_ids == tokenizer.eos_token_id).long()
    after_eos = (is_eos.cumsum(1) - is_eos) > 0
    labels[after_eos] = -1
    return labels


def make_trainer(trainer_class, config_class, tokenizer, prompt_dataset, tmp_path, callbacks=None, **overrides):
    from trl_entropy.tasks import countdown_reward, load_tiny_policy

    model, _ = load_tiny_policy()
    args = config_class(**cpu_grpo_kwargs(tmp_path, per_device_train_batch_size=16, num_generations=8,
                                          max_completion_length=12, **overrides))  # fmt: skip
    return trainer_class(
        model=model, reward_funcs=countdown_reward, processing_class=tokenizer, train_dataset=prompt_dataset,
        args=args, callbacks=callbacks,
    )  # fmt: skip


def logged(trainer, name):
    values = trainer._metrics["train"][name]
    assert len(values) == 1, (name, values)
    return values[0]


def test_entropy_advantage_position_metrics_match_an_offline_recomputation(tokenizer, prompt_dataset, tmp_path):
    from trl_entropy import EntropyAdvantageGRPOConfig, EntropyAdvantageGRPOTrainer

    trainer = make_trainer(EntropyAdvantageGRPOTrainer, EntropyAdvantageGRPOConfig, tokenizer, prompt_dataset,
                           tmp_path, callbacks=[PositionMetrics(token_class_labeller)])  # fmt: skip
    inputs = first_batch(trainer)
    labels = inputs[POSITION_LABELS_KEY]
    assert torch.equal(labels, token_class_labeller([None] * len(labels), inputs["completion_ids"], tokenizer))
    trainer.compute_loss(trainer.model, inputs)

    mask = inputs["completion_mask"].bool()
    valid = mask & (labels >= 0)
    decision, forced = valid & (labels >= 2), valid & (labels == 1)
    assert decision.any() and forced.any()
    log_probs = completion_logits(trainer, inputs).log_softmax(-1)
    entropy = -(log_probs.exp() * log_probs).sum(-1)
    psi = torch.minimum(0.4 * entropy, inputs["advantages"].abs().unsqueeze(1) / 2.0)
    assert logged(trainer, "task/decision_share") == pytest.approx(decision.sum().item() / valid.sum().item())
    assert logged(trainer, "task/forced_share") == pytest.approx(forced.sum().item() / valid.sum().item())
    assert logged(trainer, "task/entropy_decision") == pytest.approx(entropy[decision].mean().item(), abs=1e-5)
    assert logged(trainer, "task/entropy_forced") == pytest.approx(entropy[forced].mean().item(), abs=1e-5)
    assert logged(trainer, "task/entropy_advantage_psi_decision") == pytest.approx(
        psi[decision].mean().item(), abs=1e-5
    )
    assert logged(trainer, "task/entropy_advantage_psi_forced") == pytest.approx(psi[forced].mean().item(), abs=1e-5)


def test_paec_mask_precision_and_recall(tokenizer, prompt_dataset, tmp_path):
    from trl_entropy import PAECGRPOConfig, PAECGRPOTrainer

    # With the mask off every valid position is selected: precision is the share of decisions, recall is 1.
    trainer = make_trainer(PAECGRPOTrainer, PAECGRPOConfig, tokenizer, prompt_dataset, tmp_path,
                           callbacks=[PositionMetrics(token_class_labeller)], paec_use_mask=False)  # fmt: skip
    trainer.compute_loss(trainer.model, first_batch(trainer))
    assert logged(trainer, "task/paec_mask_precision") == pytest.approx(logged(trainer, "task/decision_share"))
    assert logged(trainer, "task/paec_mask_recall") == pytest.approx(1.0)
    assert logged(trainer, "task/paec_mask_forced_share") == pytest.approx(logged(trainer, "task/forced_share"))

    # With the mask on, a share of positions is dropped: the figures are shares, and recall falls below 1.
    trainer = make_trainer(PAECGRPOTrainer, PAECGRPOConfig, tokenizer, prompt_dataset, tmp_path / "mask",
                           callbacks=[PositionMetrics(token_class_labeller)])  # fmt: skip
    trainer.compute_loss(trainer.model, first_batch(trainer))
    for name in ("precision", "recall", "forced_share"):
        assert 0.0 <= logged(trainer, f"task/paec_mask_{name}") <= 1.0
    assert logged(trainer, "task/paec_mask_recall") < 1.0


def test_sent_selected_forced_share(tokenizer, prompt_dataset, tmp_path):
    from trl_entropy import SENTGRPOConfig, SENTGRPOTrainer

    trainer = make_trainer(SENTGRPOTrainer, SENTGRPOConfig, tokenizer, prompt_dataset, tmp_path,
                           callbacks=[PositionMetrics(token_class_labeller)], num_iterations=2,
                           sent_cov_ratio=0.2)  # fmt: skip
    trainer.compute_loss(trainer.model, first_batch(trainer))
    share = logged(trainer, "task/sent_selected_forced_share")
    assert 0.0 <= share <= 1.0
    assert logged(trainer, "task/sent_selected_precision") + share <= 1.0 + 1e-6


def test_without_the_callback_nothing_is_labelled_or_logged(tokenizer, prompt_dataset, tmp_path):
    from trl_entropy import EntropyAdvantageGRPOConfig, EntropyAdvantageGRPOTrainer

    trainer = make_trainer(
        EntropyAdvantageGRPOTrainer, EntropyAdvantageGRPOConfig, tokenizer, prompt_dataset, tmp_path
    )
    inputs = first_batch(trainer)
    assert POSITION_LABELS_KEY not in inputs
    trainer.compute_loss(trainer.model, inputs)
    assert not [name for name in trainer._metrics["train"] if name.startswith("task/")]
    with pytest.raises(RuntimeError, match="only be called from"):
        trainer.record_token_values("x", torch.zeros(2, 3))


def test_a_labeller_of_the_wrong_shape_is_refused(tokenizer, prompt_dataset, tmp_path):
    from trl_entropy import EntropyAdvantageGRPOConfig, EntropyAdvantageGRPOTrainer

    def short(inputs, completion_ids, tokenizer):
        return torch.zeros(completion_ids.size(0), 1, dtype=torch.long)

    trainer = make_trainer(EntropyAdvantageGRPOTrainer, EntropyAdvantageGRPOConfig, tokenizer, prompt_dataset,
                           tmp_path, callbacks=[PositionMetrics(short)])  # fmt: skip
    with pytest.raises(ValueError, match="labels of shape"):
        first_batch(trainer)


def test_the_recipe_script_logs_position_metrics_on_the_steps_task(tmp_path):
    # The recipe script attaches the countdown-steps labeller by itself; the real solver labels every position.
    import yaml
    from conftest import build_tiny_model
    from transformers import AutoTokenizer

    from trl_entropy.scripts import train
    from trl_entropy.tasks import TINY_POLICY_PATH
    from trl_entropy.tasks.countdown_steps import STEP_SEPARATOR

    tokenizer = AutoTokenizer.from_pretrained(TINY_POLICY_PATH)
    tokenizer.add_tokens([STEP_SEPARATOR])
    build_tiny_model(tokenizer).save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    recipe = {
        "method": "entropy_advantage", "model_name_or_path": str(tmp_path / "model"),
        "dataset_name": "trl-entropy/countdown-steps", "reward_funcs": ["countdown_steps"], "task_train_size": 16,
        "task_eval_problems": 0, "per_device_train_batch_size": 8, "num_generations": 4, "max_completion_length": 8,
        "max_steps": 2, "logging_steps": 1, "use_cpu": True, "bf16": False, "report_to": "none",
        "save_strategy": "no", "disable_tqdm": True,
    }  # fmt: skip
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    trainer = train.main(["--config", str(tmp_path / "recipe.yaml"), "--output_dir", str(tmp_path / "out")])
    logged = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logged) == 2
    for entry in logged:
        shares = entry["task/decision_share"] + entry["task/forced_share"] + entry["task/dead_share"]
        assert shares == pytest.approx(1.0)
        # A random policy: the first character of a completion is a decision (several numbers can start a step).
        assert entry["task/decision_share"] > 0
        assert "task/entropy_advantage_psi_decision" in entry
