# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Token-level analysis quantities by hand and against autograd, the batch sums, and the training callback."""

import json
import math

import pytest
import torch
from conftest import completion_logits, cpu_grpo_kwargs, first_batch

from trl_entropy.analysis.batch import analysis_metrics, analysis_profiles, batch_analysis_sums
from trl_entropy.analysis.callback import ANALYSIS_FILENAME, EntropyAnalysisCallback, load_analysis_records
from trl_entropy.analysis.tokens import (
    clipped_advantage_factor,
    gradient_norm_proxy,
    position_bins,
    positional_profile_sums,
    token_statistics,
    u_shape_statistic,
)
from trl_entropy.functional.paec import nucleus_statistics


def test_clipped_advantage_factor_by_hand():
    advantages = torch.tensor([1.0, -1.0])
    # ratios exp(0) = 1, exp(0.3) ~ 1.35, exp(-0.3) ~ 0.74
    logps = torch.tensor([[0.0, 0.3, -0.3], [0.0, 0.3, -0.3]])
    old = torch.zeros(2, 3)
    alpha = clipped_advantage_factor(advantages, logps, old, loss_type="grpo", epsilon_low=0.2, epsilon_high=0.2)
    r = math.exp(0.3)
    # A > 0: clipped above 1.2 (0 at r = 1.35), not below; A < 0: clipped below 0.8 (0 at r = 0.74), not above.
    expected = torch.tensor([[1.0, 0.0, math.exp(-0.3)], [-1.0, -r, 0.0]])
    assert torch.allclose(alpha, expected)
    # on-policy: alpha = A broadcast over tokens
    assert torch.equal(clipped_advantage_factor(advantages, logps), torch.tensor([[1.0] * 3, [-1.0] * 3]))
    # two-sided clipping removes r > delta for negative advantages too
    alpha = clipped_advantage_factor(advantages, logps, old, loss_type="dapo", epsilon_high=0.5, delta=1.3)
    assert alpha[1, 1] == 0 and alpha[0, 1] == 0
    # CISPO: TRL clamps the ratio at epsilon_high itself, and never zeroes
    alpha = clipped_advantage_factor(advantages, logps, old, loss_type="cispo", epsilon_high=1.2)
    assert torch.allclose(alpha, torch.tensor([[1.0, 1.2, math.exp(-0.3)], [-1.0, -1.2, -math.exp(-0.3)]]))
    with pytest.raises(ValueError, match="loss_type.*'sapo'"):
        clipped_advantage_factor(advantages, logps, loss_type="sapo")


def test_gradient_norm_proxy_equals_the_autograd_gradient_norm():
    # A tiny "model": hidden states h and an LM head W; the clipped loss of TRL on its log-probs. The gradient of
    # token t's loss with respect to its logits has norm |alpha_t| ||e(o_t) - pi_t||, and with respect to W
    # |alpha_t| ||e(o_t) - pi_t|| ||h_t||.
    torch.manual_seed(0)
    B, T, H, V = 2, 5, 6, 11
    hidden = torch.randn(B, T, H)
    weight = torch.randn(V, H)
    tokens = torch.randint(0, V, (B, T))
    advantages = torch.tensor([0.7, -1.3])
    old = (hidden @ weight.T).log_softmax(-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1) + 0.25 * torch.randn(B, T)
    eps = 0.2

    def token_loss(w, b, t):
        logits = (hidden[b, t] @ w.T).unsqueeze(0)
        logits.retain_grad()
        logp = logits.log_softmax(-1)[0, tokens[b, t]]
        ratio = (logp - old[b, t]).exp()
        loss = -torch.min(ratio * advantages[b], ratio.clamp(1 - eps, 1 + eps) * advantages[b])
        return loss, logits, logp

    with torch.no_grad():
        logps = (hidden @ weight.T).log_softmax(-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
    alpha = clipped_advantage_factor(advantages, logps, old, loss_type="grpo", epsilon_low=eps, epsilon_high=eps)
    stats = token_statistics(hidden, weight, None, tokens, tile_size=3)
    proxy = gradient_norm_proxy(alpha, stats.direction_norm, stats.hidden_norm)
    num_clipped = 0
    for b in range(B):
        for t in range(T):
            w = weight.clone().requires_grad_(True)
            loss, logits, _ = token_loss(w, b, t)
            loss.backward()
            assert logits.grad.norm() == pytest.approx(float(alpha[b, t].abs() * stats.direction_norm[b, t]), abs=1e-5)
            assert w.grad.norm() == pytest.approx(float(proxy[b, t]), rel=1e-4, abs=1e-6)
            num_clipped += int(alpha[b, t] == 0)
    assert 0 < num_clipped < B * T  # both cases were exercised


def test_token_statistics_match_full_logits_and_skip_masked_positions():
    torch.manual_seed(1)
    hidden = torch.randn(3, 4, 8)
    weight = torch.randn(13, 8)
    bias = torch.randn(13)
    tokens = torch.randint(0, 13, (3, 4))
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0], [1, 1, 1, 1]])
    stats = token_statistics(hidden, weight, bias, tokens, temperature=0.7, top_p=0.9, mask=mask, tile_size=2)
    probs = ((hidden @ weight.T + bias) / 0.7).softmax(-1)
    one_hot = torch.nn.functional.one_hot(tokens, 13).float()
    valid = mask.bool()
    assert torch.allclose(stats.direction_norm[valid], (one_hot - probs).norm(dim=-1)[valid], atol=1e-5)
    assert torch.allclose(stats.hidden_norm[valid], hidden.norm(dim=-1)[valid])
    expected_size = nucleus_statistics((hidden @ weight.T + bias) / 0.7, 0.9).nucleus_size
    assert torch.equal(stats.branching[valid], expected_size[valid])
    entropy = -(probs * probs.log()).sum(-1)
    assert torch.allclose(stats.entropy[valid], entropy[valid], atol=1e-5)
    for field in stats:
        assert (field[~valid] == 0).all()


def test_position_bins_and_profile_sums_by_hand():
    mask = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 0, 0, 0]])
    # (t - 1) / (|o| - 1): row 0 0, 1/3, 2/3, 1 -> bins (3 bins) 0, 1, 2, 2; row 1 0, 1 -> 0, 2
    assert position_bins(mask, 3).tolist() == [[0, 1, 2, 2, -1], [0, 2, -1, -1, -1]]
    values = torch.tensor([[1.0, 2.0, 3.0, 4.0, 99.0], [10.0, 20.0, 99.0, 99.0, 99.0]])
    sums, counts = positional_profile_sums(values, mask, 3)
    assert sums.tolist() == [11.0, 2.0, 27.0] and counts.tolist() == [2.0, 1.0, 3.0]
    sums, counts = positional_profile_sums(values, mask, 3, rows=torch.tensor([False, True]))
    assert sums.tolist() == [10.0, 0.0, 20.0] and counts.tolist() == [1.0, 0.0, 1.0]
    # the first and last tokens of any length land in the first and last of 10 bins
    for length in range(2, 13):
        bins = position_bins(torch.ones(1, length), 10)[0]
        assert bins[0] == 0 and bins[-1] == 9, (length, bins)
    assert position_bins(torch.ones(1, 1), 10).tolist() == [[0]]
    with pytest.raises(ValueError, match="num_bins.*2"):
        position_bins(mask, 2)


def test_u_shape_statistic_by_hand():
    shape = u_shape_statistic([3.0, 1.0, 2.0, 4.0])
    assert shape["ends"] == 3.5 and shape["middle"] == 1.5 and shape["difference"] == 2.0
    assert shape["u_shaped"] is True
    assert u_shape_statistic([3.0, 1.0, 2.0, 1.0])["u_shaped"] is False  # last bin below the middle
    assert u_shape_statistic([1.0, math.nan, 2.0, 4.0])["middle"] == 2.0  # empty bins skipped
    with pytest.raises(ValueError, match="3 bins"):
        u_shape_statistic([1.0, 2.0])


def test_batch_analysis_sums_by_hand():
    entropies = torch.tensor([[0.5, 0.1, 0.3, 9.0], [1.0, 2.0, 3.0, 4.0]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    correct = torch.tensor([True, False])
    sums = batch_analysis_sums(
        entropies,
        mask,
        correct=correct,
        token_texts=[["7", "*", "5"], ["So", " x", "=", "3"]],
        completion_texts=["7*5", "So x=3"],
        num_bins=3,
    )
    assert sums["entropy/all"] == (pytest.approx(0.9 + 10.0), 7.0)
    assert sums["entropy/correct"] == (pytest.approx(0.9), 3.0)
    assert sums["entropy/incorrect"] == (pytest.approx(10.0), 4.0)
    # row 0 (length 3) bins 0, 1, 2; row 1 (length 4) bins 0, 1, 2, 2
    assert sums["entropy/all/bin0"] == (pytest.approx(0.5 + 1.0), 2.0)
    assert sums["entropy/all/bin1"] == (pytest.approx(0.1 + 2.0), 2.0)
    assert sums["entropy/incorrect/bin2"] == (pytest.approx(7.0), 2.0)
    assert sum(sums[f"role/{role}/share"][0] for role in ("formal_reasoning", "logical_structuring",
               "metacognitive", "semantic_support")) == 7  # fmt: skip
    assert sums["quality/garbled"] == (0.0, 2.0)
    metrics = analysis_metrics(sums, 3)
    assert metrics["entropy"] == pytest.approx(10.9 / 7)
    assert metrics["entropy_correct"] == pytest.approx(0.3)
    profile = analysis_profiles(sums, 3)["entropy"]["all"]
    assert profile == pytest.approx([1.5 / 2, 2.1 / 2, 7.3 / 3])
    assert metrics["entropy_u_shape"] == pytest.approx((1.5 / 2 + 7.3 / 3) / 2 - 2.1 / 2)
    with pytest.raises(ValueError, match="Completion 0 has 3 valid tokens but 2"):
        batch_analysis_sums(entropies, mask, token_texts=[["7", "*"], ["a", "b", "c", "d"]])


def test_callback_arguments_are_validated():
    with pytest.raises(ValueError, match="every_n_steps.*0"):
        EntropyAnalysisCallback(every_n_steps=0)
    with pytest.raises(ValueError, match="top_p.*1.5"):
        EntropyAnalysisCallback(top_p=1.5)
    with pytest.raises(ValueError, match="num_bins"):
        EntropyAnalysisCallback(num_bins=1)


def test_callback_values_match_an_offline_recomputation(tokenizer, prompt_dataset, tmp_path):
    from trl_entropy import EntropyAdvantageGRPOConfig, EntropyAdvantageGRPOTrainer
    from trl_entropy.entropy_grpo_trainer import COMPLETION_REWARDS_KEY
    from trl_entropy.tasks import countdown_reward, load_tiny_policy

    model, _ = load_tiny_policy()
    callback = EntropyAnalysisCallback(every_n_steps=1, num_bins=4)
    args = EntropyAdvantageGRPOConfig(**cpu_grpo_kwargs(tmp_path, per_device_train_batch_size=16, num_generations=8,
                                                        max_completion_length=12))  # fmt: skip
    trainer = EntropyAdvantageGRPOTrainer(model=model, reward_funcs=countdown_reward, processing_class=tokenizer,
                                          train_dataset=prompt_dataset, args=args, callbacks=[callback])  # fmt: skip
    inputs = first_batch(trainer)
    trainer.compute_loss(trainer.model, inputs)
    logged = callback.step_metrics()

    # Offline: full logits from the ordinary forward, the shaped advantages recomputed, the reward threshold.
    mask = inputs["completion_mask"]
    logits = completion_logits(trainer, inputs)
    logps = logits.log_softmax(-1)
    probs = logps.exp()
    entropies = -(probs * logps).sum(-1)
    tokens = inputs["completion_ids"]
    sampled = logps.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
    direction = (torch.nn.functional.one_hot(tokens, logits.size(-1)).float() - probs).norm(dim=-1)
    from trl_entropy.functional import entropy_advantage

    advantages = entropy_advantage(inputs["advantages"].unsqueeze(-1), entropies, alpha=args.entropy_advantage_alpha,
                                   kappa=args.entropy_advantage_kappa)  # fmt: skip
    input_ids = torch.cat([inputs["prompt_ids"], tokens], dim=1)
    attention = torch.cat([inputs["prompt_mask"], mask], dim=1)
    with torch.no_grad():
        hidden = trainer.model.model(input_ids=input_ids, attention_mask=attention).last_hidden_state
    hidden_norm = hidden[:, -tokens.size(1) - 1 : -1].norm(dim=-1)
    alpha = clipped_advantage_factor(advantages, sampled)
    gradient_norm = alpha.abs() * direction * hidden_norm
    rows = [ids[keep].tolist() for ids, keep in zip(tokens, mask > 0, strict=True)]
    sums = batch_analysis_sums(
        entropies, mask, correct=inputs[COMPLETION_REWARDS_KEY] >= 1.0, gradient_norm=gradient_norm,
        branching=nucleus_statistics(logits, 0.95).nucleus_size * mask,
        token_texts=[[tokenizer.decode([t], skip_special_tokens=True) for t in row] for row in rows],
        completion_texts=tokenizer.batch_decode(rows, skip_special_tokens=True), num_bins=4,
    )  # fmt: skip
    offline = analysis_metrics(sums, 4)
    assert set(offline) == set(logged)
    for name, value in offline.items():
        if math.isnan(value):
            assert math.isnan(logged[name]), name
        else:
            assert logged[name] == pytest.approx(value, rel=1e-3, abs=1e-5), name
    assert logged["gradient_norm"] > 0 and logged["branching"] >= 1


def test_callback_in_a_training_run_logs_and_writes_every_analysed_step(tokenizer, prompt_dataset, tmp_path):
    from trl import GRPOConfig

    from trl_entropy import EntropyGRPOTrainer
    from trl_entropy.tasks import countdown_reward, load_tiny_policy

    model, _ = load_tiny_policy()
    args = GRPOConfig(**cpu_grpo_kwargs(tmp_path, max_steps=4, gradient_accumulation_steps=2,
                                        max_completion_length=12))  # fmt: skip
    callback = EntropyAnalysisCallback(every_n_steps=2)
    trainer = EntropyGRPOTrainer(model=model, reward_funcs=countdown_reward, processing_class=tokenizer,
                                 train_dataset=prompt_dataset, args=args, callbacks=[callback])  # fmt: skip
    trainer.train()
    records = load_analysis_records(tmp_path)
    assert [record["step"] for record in records] == [1, 2, 4]
    # two micro-batches of 8 completions per step
    assert all(record["sums"]["quality/any_issue"][1] == 16 for record in records)
    logged_steps = [entry["step"] for entry in trainer.state.log_history if "analysis/entropy" in entry]
    assert logged_steps == [1, 2, 4]
    for entry, record in zip([e for e in trainer.state.log_history if "analysis/entropy" in e], records, strict=True):
        assert entry["analysis/entropy"] == pytest.approx(record["metrics"]["entropy"])
    assert len(records[0]["profiles"]["entropy"]["all"]) == 10
    assert records[0]["stage"] in ("rising", "plateau")
    # a second train() from scratch in the same directory starts the file afresh
    trainer.train()
    with open(tmp_path / ANALYSIS_FILENAME) as f:
        assert [json.loads(line)["step"] for line in f] == [1, 2, 4]


def test_drop_records_after_keeps_the_steps_up_to_the_checkpoint(tmp_path):
    from trl_entropy.token_entropy import drop_records_after

    path = tmp_path / "records.jsonl"
    path.write_text("".join(json.dumps({"step": step}) + "\n" for step in (1, 2, 3, 4, 5)) + "\n")
    drop_records_after(str(path), 3)  # resumed from checkpoint-3: steps 4 and 5 are trained again
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [1, 2, 3]
    drop_records_after(str(path), 0)  # from scratch: an earlier run's records go
    assert path.read_text() == ""
    drop_records_after(str(tmp_path / "missing.jsonl"), 2)
    assert not (tmp_path / "missing.jsonl").exists()
