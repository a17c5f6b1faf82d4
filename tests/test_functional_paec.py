# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""PAEC's pure functions against values computed by hand and against a naive float64 reference."""

import math

import pytest
import torch

from trl_entropy.functional import (
    check_paec_params,
    decision_score,
    decision_statistics,
    nucleus_entropy,
    nucleus_statistics,
    paec_penalty,
    soft_mask,
    top2_gap,
)


def naive_nucleus(logits: torch.Tensor, top_p: float):
    """Full sort in float64, one row at a time: the definition, written plainly."""
    entropies, sizes = [], []
    for row in logits.reshape(-1, logits.size(-1)).double():
        probs = row.softmax(-1).sort(descending=True).values
        kept, mass = [], 0.0
        for p in probs.tolist():
            kept.append(p)
            mass += p
            if top_p < 1 and mass >= top_p:  # top_p = 1: the whole distribution
                break
        q = torch.tensor(kept, dtype=torch.float64) / sum(kept)
        entropies.append(float(-(q * q.log()).sum()))
        sizes.append(len(kept))
    shape = logits.shape[:-1]
    return torch.tensor(entropies, dtype=torch.float64).view(shape), torch.tensor(sizes, dtype=torch.float64).view(
        shape
    )


def test_nucleus_entropy_by_hand():
    # p = (0.5, 0.3, 0.2): with top_p 0.7 the nucleus is {0.5, 0.3} -> q = (0.625, 0.375)
    logits = torch.tensor([0.5, 0.3, 0.2]).log()
    expected = -(0.625 * math.log(0.625) + 0.375 * math.log(0.375))
    assert nucleus_entropy(logits, 0.7).item() == pytest.approx(expected, abs=1e-6)
    # top_p 0.5: the best token alone reaches it -> entropy 0
    assert nucleus_entropy(logits, 0.5).item() == pytest.approx(0.0, abs=1e-7)
    # top_p 1.0: the whole distribution
    full = -(0.5 * math.log(0.5) + 0.3 * math.log(0.3) + 0.2 * math.log(0.2))
    assert nucleus_entropy(logits, 1.0).item() == pytest.approx(full, abs=1e-6)
    stats = nucleus_statistics(logits, 0.7)
    assert stats.nucleus_size.item() == 2
    assert stats.top2_gap.item() == pytest.approx(math.log(0.5 / 0.3), abs=1e-6)


def test_top2_gap_by_hand():
    logits = torch.tensor([[1.0, 3.0, 2.5], [0.0, 0.0, -1.0]])
    torch.testing.assert_close(top2_gap(logits), torch.tensor([0.5, 0.0]))
    with pytest.raises(ValueError, match="at least 2"):
        top2_gap(torch.zeros(3, 1))


def test_uniform_nucleus_is_log_of_its_size():
    # 8 equal tokens, top_p 0.5: exactly 4 tokens reach 0.5 -> entropy log 4
    logits = torch.zeros(8)
    stats = nucleus_statistics(logits, 0.5)
    assert stats.nucleus_size.item() == 4
    assert stats.nucleus_entropy.item() == pytest.approx(math.log(4), abs=1e-5)


@pytest.mark.parametrize("top_p", [0.3, 0.9, 0.95, 1.0])
@pytest.mark.parametrize("scale", [0.05, 1.0, 6.0])
def test_nucleus_matches_naive_reference(top_p, scale):
    # A vocabulary of 300 makes near-uniform rows (scale 0.05) overflow the first 64 candidates: the growth path runs.
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 300) * scale
    stats = nucleus_statistics(logits, top_p)
    entropy, size = naive_nucleus(logits, top_p)
    torch.testing.assert_close(stats.nucleus_entropy.double(), entropy, atol=1e-5, rtol=1e-5)
    # sizes may differ by one token only where the running mass lands within float32 rounding of top_p
    assert (stats.nucleus_size.double() - size).abs().max() <= 1
    assert (stats.nucleus_size.double() == size).float().mean() >= 0.9
    assert stats.nucleus_entropy.shape == (2, 5)
    if scale == 0.05 and top_p >= 0.9:
        assert stats.nucleus_size.min() > 64  # the growth path was exercised


def test_decision_statistics_tiles_equal_full_logits():
    torch.manual_seed(0)
    hidden = torch.randn(3, 7, 16)
    weight = torch.randn(50, 16) * 0.5
    bias = torch.randn(50) * 0.1
    mask = torch.rand(3, 7) > 0.3
    temperature, scale, softcap = 0.7, 1.3, 5.0
    # Naive: the whole (B, T, V) logits at once
    logits = softcap * torch.tanh((hidden @ weight.T + bias) * scale / softcap) / temperature
    full = nucleus_statistics(logits, 0.9)
    for tile_size in (1, 4, 100):
        tiled = decision_statistics(
            hidden, weight, bias, top_p=0.9, temperature=temperature, logit_scale=scale, softcap=softcap,
            mask=mask, tile_size=tile_size,
        )  # fmt: skip
        for name, value, reference in zip(tiled._fields, tiled, full, strict=True):
            # tolerance: float32 rounding of the (tiled vs whole) matmul
            torch.testing.assert_close(value[mask], reference[mask], atol=1e-5, rtol=1e-5, msg=name)
            assert (value[~mask] == 0).all(), name


def test_decision_statistics_never_holds_more_than_a_tile(monkeypatch):
    import trl_entropy.paec.functional as paec

    seen = []
    original = paec.nucleus_statistics

    def recording(logits, top_p):
        seen.append(logits.shape)
        return original(logits, top_p)

    monkeypatch.setattr(paec, "nucleus_statistics", recording)
    hidden = torch.randn(4, 10, 8)
    weight = torch.randn(1000, 8)
    paec.decision_statistics(hidden, weight, top_p=0.9, tile_size=6)
    assert all(shape[0] <= 6 and len(shape) == 2 for shape in seen) and len(seen) == 7  # ceil(40 / 6)
    # the default tile holds at most 2**22 logits
    assert paec.DEFAULT_TILE_LOGITS // 151936 * 151936 <= 2**22


def test_confident_positions_have_zero_nucleus_entropy():
    # The trainer skips positions with full entropy <= -log(top_p): there p_1 >= top_p, so the nucleus is one token.
    torch.manual_seed(1)
    logits = torch.randn(2000, 40) * 8
    top_p = 0.95
    log_probs = logits.log_softmax(-1)
    entropy = -(log_probs.exp() * log_probs).sum(-1)
    confident = entropy <= -math.log(top_p)
    assert confident.any()
    stats = nucleus_statistics(logits, top_p)
    assert (stats.nucleus_size[confident] == 1).all()
    assert (stats.nucleus_entropy[confident] == 0).all()


def test_decision_score_by_hand():
    entropy = torch.tensor([math.log(4) / 2, 0.0, math.log(4)])
    gap = torch.tensor([math.log(2), 0.0, 0.0])
    normalizer = math.log(4)
    e = torch.tensor([0.5, 0.0, 1.0])
    c = torch.tensor([0.5, 1.0, 1.0])
    geometric = decision_score(entropy, gap, entropy_weight=0.5, combination="geometric", normalizer=normalizer)
    torch.testing.assert_close(geometric, (e * c).sqrt())
    arithmetic = decision_score(entropy, gap, entropy_weight=0.25, combination="arithmetic", normalizer=normalizer)
    torch.testing.assert_close(arithmetic, 0.25 * e + 0.75 * c)
    torch.testing.assert_close(decision_score(entropy, gap, entropy_weight=1.0, normalizer=normalizer), e)
    torch.testing.assert_close(decision_score(entropy, gap, entropy_weight=0.0, normalizer=normalizer), c)
    # per-position normaliser (log of the nucleus size); size 1 -> normaliser 0 -> e = 0
    per_position = decision_score(
        entropy, gap, entropy_weight=1.0, normalizer=torch.tensor([math.log(2), 0.0, math.log(8)])
    )
    torch.testing.assert_close(per_position, torch.tensor([1.0, 0.0, 2 / 3]))


def test_soft_mask_by_hand():
    scores = torch.tensor([[0.1, 0.2, 0.3, 0.4, 0.5], [0.6, 0.7, 0.8, 0.9, 0.0]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]])
    reference = scores[mask.bool()]  # 9 valid scores; share strictly below s: 0/9 ... 8/9
    hard = soft_mask(scores, mask, reference, rho=0.7, temperature=0.0)
    # share below >= 0.7 for 0.8 (7/9 = 0.78) and 0.9 (8/9)
    torch.testing.assert_close(hard, torch.tensor([[0.0, 0, 0, 0, 0], [0, 0, 1, 1, 0]]))
    soft = soft_mask(scores, mask, reference, rho=0.7, temperature=0.1)
    below = torch.tensor([[0, 1, 2, 3, 4], [5, 6, 7, 8, 0]]) / 9
    expected = torch.sigmoid((below - 0.7) / 0.1) * mask
    torch.testing.assert_close(soft, expected)
    assert (soft[mask.bool()].diff() > 0).all()  # monotone in the score
    # zero-score positions are never kept, even when ties put them above the quantile
    zeros = torch.zeros(1, 4)
    assert (soft_mask(zeros, torch.ones(1, 4), zeros.flatten(), rho=0.0, temperature=0.0) == 0).all()


def test_soft_mask_keeps_about_the_top_share():
    torch.manual_seed(0)
    scores = torch.rand(64, 100)
    mask = torch.ones(64, 100)
    for temperature in (0.0, 0.05):
        kept = soft_mask(scores, mask, scores.flatten(), rho=0.8, temperature=temperature)
        assert kept.mean().item() == pytest.approx(0.2, abs=0.01)


def test_paec_penalty_by_hand_and_zero_when_healthy():
    entropies = torch.tensor([[1.0, 0.2, 0.6], [0.4, 2.0, 0.0]], requires_grad=True)
    weights = torch.tensor([[1.0, 0.5, 0.0], [0.5, 0.0, 0.0]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    # Hbar = (1.0 + 0.1 + 0.2) / 2 = 0.65; floor 0.8 -> 2 * 0.15^2 = 0.045
    penalty = paec_penalty(entropies, weights, mask, floor=0.8, beta=2.0)
    assert penalty.item() == pytest.approx(0.045, abs=1e-6)
    penalty.backward()
    # d/dH_t = -2 beta (floor - Hbar) m_t / sum(m) = -0.6 * m_t / 2
    expected = -0.6 * weights / 2
    torch.testing.assert_close(entropies.grad, expected)
    # the gradient flows only through masked positions
    assert (entropies.grad[weights == 0] == 0).all() and (entropies.grad[weights > 0] != 0).all()
    healthy = paec_penalty(entropies, weights, mask, floor=0.5, beta=2.0)
    assert healthy.item() == 0.0
    assert paec_penalty(entropies, weights, mask, floor=0.8, beta=0.0).item() == 0.0
    empty = paec_penalty(entropies, torch.zeros(2, 3), mask, floor=0.8, beta=2.0)
    assert empty.item() == 0.0 and empty.requires_grad


def test_paec_penalty_of_a_part_of_a_larger_set():
    # The set: both rows above; each row is one part (a micro-batch, or a process). Hbar = 0.65 over the set.
    entropies = torch.tensor([[1.0, 0.2, 0.6], [0.4, 2.0, 0.0]], requires_grad=True)
    weights = torch.tensor([[1.0, 0.5, 0.0], [0.5, 0.0, 0.0]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    whole = paec_penalty(entropies, weights, mask, floor=0.8, beta=2.0)
    (expected,) = torch.autograd.grad(whole, entropies)
    total, weight = (weights * entropies).sum().detach(), weights.sum()
    for num_parts in (1, 2):
        parts = [
            paec_penalty(entropies[i : i + 1], weights[i : i + 1], mask[i : i + 1], floor=0.8, beta=2.0,
                         step_total=total, step_weight=weight, num_parts=num_parts)
            for i in range(2)
        ]  # fmt: skip
        # every part's value is the set's penalty; its gradient is num_parts times its share of the set's
        assert [part.item() for part in parts] == pytest.approx([whole.item()] * 2, abs=1e-7)
        (grad,) = torch.autograd.grad(sum(parts) / num_parts, entropies)
        torch.testing.assert_close(grad, expected)
    # a part without masked positions is the set's penalty with no gradient, still connected
    empty = paec_penalty(entropies, torch.zeros(2, 3), mask, floor=0.8, beta=2.0, step_total=total,
                         step_weight=weight, num_parts=2)  # fmt: skip
    assert empty.item() == pytest.approx(whole.item()) and empty.requires_grad
    assert (torch.autograd.grad(empty, entropies)[0] == 0).all()
    with pytest.raises(ValueError, match="`step_total` and `step_weight` must be given together"):
        paec_penalty(entropies, weights, mask, floor=0.8, beta=2.0, step_total=total)


def test_parameter_checks_name_the_field():
    good = dict(
        top_p=0.95, entropy_weight=0.5, score_combination="geometric", entropy_normalization="vocab", rho=0.8,
        mask_temperature=0.05, anchor_steps=4, rho_min=0.8, beta=1.0, tile_size=None, mask_scope="global",
    )  # fmt: skip
    check_paec_params(**good)
    bad = {
        "top_p": (0.0, "paec_top_p"),
        "entropy_weight": (1.5, "paec_entropy_weight"),
        "score_combination": ("max", "paec_score_combination"),
        "entropy_normalization": ("log", "paec_entropy_normalization"),
        "rho": (1.0, "paec_rho"),
        "mask_temperature": (-0.1, "paec_mask_temperature"),
        "anchor_steps": (0, "paec_anchor_steps"),
        "rho_min": (0.0, "paec_rho_min"),
        "beta": (-1.0, "paec_beta"),
        "tile_size": (0, "paec_tile_size"),
        "mask_scope": ("world", "paec_mask_scope"),
        "scope": ("epoch", "paec_scope"),
    }
    for name, (value, field) in bad.items():
        with pytest.raises(ValueError, match=f"`{field}` must .*got {value!r}"[:40]):
            check_paec_params(**{**good, name: value})
