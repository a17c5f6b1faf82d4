# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Clip-Cov and KL-Cov (arXiv 2505.22617): covariance, selections and the KL-Cov term against hand-computed values."""

import math

import pytest
import torch

from trl_entropy.functional import (
    check_clip_cov_params,
    check_kl_cov_params,
    clip_cov_selection,
    covariance_summary,
    kl_cov_penalty,
    kl_cov_selection,
    ppo_clipped_tokens,
    selection_count,
    split_valid_token_vector,
    token_covariance,
    valid_token_vector,
)


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------------------------------------------------------
# Covariance
# ---------------------------------------------------------------------------------------------------------------------


def test_covariance_by_hand_with_padding_and_sequence_advantages():
    advantages = torch.tensor([1.0, -1.0])
    logps = torch.tensor([[-1.0, -3.0], [-2.0, -9.0]])  # (1, 1) is padding: its -9 must not enter the mean
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    # Valid A: 1, 1, -1 (mean 1/3, a token mean); valid logp: -1, -3, -2 (mean -2).
    # cov = (2/3)(1), (2/3)(-1), (-4/3)(0); 0 on padding.
    expected = torch.tensor([[2 / 3, -2 / 3], [0.0, 0.0]])
    assert torch.allclose(token_covariance(advantages, logps, mask), expected)


def test_covariance_token_advantages_and_no_gradient():
    advantages = torch.tensor([[2.0, 0.0, -2.0]])
    logps = torch.tensor([[-1.0, -2.0, -6.0]], requires_grad=True)
    # mean A = 0, mean logp = -3: cov = 2 * 2, 0 * 1, -2 * -3
    cov = token_covariance(advantages, logps, torch.ones(1, 3))
    assert cov.tolist() == [[4.0, 0.0, 6.0]]
    assert not cov.requires_grad


def test_covariance_without_valid_tokens_is_zero():
    cov = token_covariance(torch.tensor([1.0]), torch.tensor([[-1.0, -2.0]]), torch.zeros(1, 2))
    assert cov.tolist() == [[0.0, 0.0]]
    low, mean, high = covariance_summary(cov, torch.zeros(1, 2))
    assert math.isnan(low) and math.isnan(mean) and math.isnan(high)


def test_covariance_summary_over_valid_tokens_only():
    cov = torch.tensor([[1.0, -2.0], [4.0, 100.0]])
    low, mean, high = covariance_summary(cov, torch.tensor([[1.0, 1.0], [1.0, 0.0]]))
    assert (low.item(), mean.item(), high.item()) == (-2.0, 1.0, 4.0)


def test_covariance_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"must have shape \(B,\) or \(B, T\)"):
        token_covariance(torch.ones(3), torch.zeros(2, 4), torch.ones(2, 4))
    with pytest.raises(ValueError, match="must share one"):
        token_covariance(torch.ones(2), torch.zeros(2, 4), torch.ones(2, 3))


# ---------------------------------------------------------------------------------------------------------------------
# The count: max(1, floor(ratio * n)), as the authors' int() truncation
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ratio, num_valid, expected",
    [
        (0.0002, 0, 0),  # nothing valid: nothing selected
        (0.0002, 1, 1),  # 0.0002 rounds down to 0, raised to the minimum of 1
        (0.0002, 4999, 1),
        (0.0002, 9999, 1),  # 1.9998 -> 1 (truncation, not rounding)
        (0.0002, 10000, 2),
        (0.0002, 14999, 2),
        (0.002, 1000, 2),
        (0.3, 10, 3),  # 0.3 * 10 is 2.9999999999999996 in floats: still 3
        (1.0, 5, 5),
    ],
)
def test_selection_count(ratio, num_valid, expected):
    assert selection_count(ratio, num_valid) == expected


# ---------------------------------------------------------------------------------------------------------------------
# Clip-Cov
# ---------------------------------------------------------------------------------------------------------------------

# A = 2, -2 per completion (mean 0); logp rows -1, -3 and -3, -1 (mean -2): cov = 2, -2 / 2, -2.
ADVANTAGES = torch.tensor([2.0, -2.0])
LOGPS = torch.tensor([[-1.0, -3.0], [-3.0, -1.0]])
MASK = torch.ones(2, 2)


def test_clip_cov_by_hand():
    cov = token_covariance(ADVANTAGES, LOGPS, MASK)
    assert cov.tolist() == [[2.0, -2.0], [2.0, -2.0]]
    # Candidates (1 < cov < 5): (0, 0) and (1, 0). ratio 0.5: k = 2 = all candidates.
    selected = clip_cov_selection(cov, MASK, ratio=0.5, generator=generator())
    assert selected.tolist() == [[True, False], [True, False]]
    # ratio 0.25: k = 1 of the 2 candidates.
    selected = clip_cov_selection(cov, MASK, ratio=0.25, generator=generator())
    assert selected.sum() == 1 and (selected & (cov > 1)).sum() == 1
    # k counts all valid tokens: ratio 1.0 gives k = 4, still only the 2 candidates.
    assert clip_cov_selection(cov, MASK, ratio=1.0, generator=generator()).sum() == 2


def test_clip_cov_band_is_strict_and_no_candidate_selects_nothing():
    cov = torch.tensor([[1.0, 5.0, 0.5, 7.0, -3.0]])  # none strictly inside (1, 5)
    selected = clip_cov_selection(cov, torch.ones(1, 5), ratio=1.0, generator=generator())
    assert not selected.any()
    selected = clip_cov_selection(cov, torch.ones(1, 5), ratio=1.0, lower=0.9, upper=5.1, generator=generator())
    assert selected.tolist() == [[True, True, False, False, False]]


def test_clip_cov_ignores_padding_and_excluded_tokens():
    cov = torch.tensor([[3.0, 3.0, 3.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])  # the last token is padding, in the band
    exclude = torch.tensor([[True, False, False]])  # e.g. already clipped by PPO
    for seed in range(20):
        selected = clip_cov_selection(cov, mask, ratio=1.0, generator=generator(seed), exclude=exclude)
        assert selected.tolist() == [[False, True, False]]


def test_clip_cov_tiny_ratio_selects_one_token():
    cov = torch.full((4, 50), 2.0)  # 200 valid tokens, all candidates: k = max(1, floor(0.0002 * 200)) = 1
    assert clip_cov_selection(cov, torch.ones(4, 50), generator=generator()).sum() == 1


def test_clip_cov_draw_is_reproducible_and_uniform():
    cov = torch.full((2, 5), 2.0)
    mask = torch.ones(2, 5)
    first = [clip_cov_selection(cov, mask, ratio=0.1, generator=generator(7)) for _ in range(2)]
    assert torch.equal(*first)
    draws = generator(3)
    picks = torch.stack([clip_cov_selection(cov, mask, ratio=0.1, generator=draws) for _ in range(400)])
    assert (picks.sum(dim=(1, 2)) == 1).all()  # k = 1 each time
    counts = picks.sum(0).flatten()
    assert (counts > 15).all()  # every candidate drawn (40 expected of 400), none favoured
    # A generator seeded the same way repeats the whole sequence of draws.
    again = generator(3)
    repeat = torch.stack([clip_cov_selection(cov, mask, ratio=0.1, generator=again) for _ in range(400)])
    assert torch.equal(picks, repeat)


def test_ppo_clipped_tokens_by_hand():
    old = torch.zeros(1, 4)
    logps = torch.log(torch.tensor([[1.5, 1.5, 0.5, 0.5]]))
    advantages = torch.tensor([[1.0, -1.0, 1.0, -1.0]])
    # r = 1.5 > 1.2 clips A > 0 only; r = 0.5 < 0.8 clips A < 0 only.
    assert ppo_clipped_tokens(logps, old, advantages).tolist() == [[True, False, False, True]]
    assert not ppo_clipped_tokens(logps, old, advantages, epsilon_low=1.0, epsilon_high=1.0).any()


# ---------------------------------------------------------------------------------------------------------------------
# KL-Cov
# ---------------------------------------------------------------------------------------------------------------------


def test_kl_cov_top_k_by_hand_with_ties():
    cov = torch.tensor([[0.5, 2.0], [2.0, -1.0]])
    # k = floor(0.25 * 4) = 1: of the tie at 2.0, the first in row-major order.
    assert kl_cov_selection(cov, torch.ones(2, 2), ratio=0.25).tolist() == [[False, True], [False, False]]
    assert kl_cov_selection(cov, torch.ones(2, 2), ratio=0.75).tolist() == [[True, True], [True, False]]


def test_kl_cov_ignores_padding_and_small_ratio_gives_one_token():
    cov = torch.tensor([[0.1, 0.3, 9.0], [0.2, -0.5, 8.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]])  # the large covariances are padding
    assert kl_cov_selection(cov, mask, ratio=0.0002).tolist() == [[False, True, False], [False, False, False]]
    assert not kl_cov_selection(cov, torch.zeros(2, 3), ratio=0.5).any()  # no valid token: k = 0


def test_kl_cov_penalty_by_hand_and_gradient():
    logps = torch.tensor([[-1.0, -2.0, -0.5]], requires_grad=True)
    old = torch.tensor([[-1.5, -1.0, -0.5]])
    selected = torch.tensor([[True, True, False]])
    penalty = kl_cov_penalty(logps, old, selected, coef=0.1)
    assert torch.allclose(penalty, torch.tensor([[0.05, 0.1, 0.0]]))
    penalty.sum().backward()
    assert torch.allclose(logps.grad, torch.tensor([[0.1, -0.1, 0.0]]))  # coef * sign(logp - logp_old)
    same = logps.detach().clone().requires_grad_()
    kl_cov_penalty(same, same.detach(), selected).sum().backward()
    assert (same.grad == 0).all()  # on-policy: zero with no gradient


# ---------------------------------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"ratio": 0.0, "lower": 1.0, "upper": 5.0}, r"`clip_cov_ratio` must be in \(0, 1\], got 0.0"),
        ({"ratio": 1e-4, "lower": math.inf, "upper": 5.0}, r"`clip_cov_lb` must be a finite number, got inf"),
        (
            {"ratio": 1e-4, "lower": 1.0, "upper": 1.0},
            r"`clip_cov_ub` must be a finite number > `clip_cov_lb` \(1.0\), got 1.0",
        ),
    ],
)
def test_clip_cov_param_messages(kwargs, message):
    with pytest.raises(ValueError, match=message):
        check_clip_cov_params(**kwargs, prefix="clip_cov_")


def test_kl_cov_param_messages():
    with pytest.raises(ValueError, match=r"`kl_cov_ratio` must be in \(0, 1\], got 1.5"):
        check_kl_cov_params(1.5, 1.0, prefix="kl_cov_")
    with pytest.raises(ValueError, match=r"`kl_cov_coef` must be a finite number >= 0, got -0.1"):
        check_kl_cov_params(0.002, -0.1, prefix="kl_cov_")
    with pytest.raises(ValueError, match=r"`upper` must be a finite number > `lower`"):
        clip_cov_selection(torch.zeros(1, 1), torch.ones(1, 1), upper=0.5)


# ---------------------------------------------------------------------------------------------------------------------
# One selection set from several micro-batches (the global scope)
# ---------------------------------------------------------------------------------------------------------------------


def test_valid_token_vector_by_hand_and_back():
    values = [torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([5.0, 6.0])]  # the second: one per completion
    masks = [torch.tensor([[1.0, 0.0], [1.0, 1.0]]), torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])]
    row = valid_token_vector(values, masks)
    assert torch.equal(row, torch.tensor([[1.0, 3.0, 4.0, 5.0, 5.0]]))  # micro-batch by micro-batch, row-major
    first, second = split_valid_token_vector(row, masks)
    assert torch.equal(first, torch.tensor([[1.0, 0.0], [3.0, 4.0]]))
    assert torch.equal(second, torch.tensor([[5.0, 5.0, 0.0], [0.0, 0.0, 0.0]]))
    selected = split_valid_token_vector(row > 3, masks)  # booleans stay booleans, False at padding
    assert selected[1].dtype == torch.bool and torch.equal(
        selected[1], torch.tensor([[True, True, False]] + [[False] * 3])
    )
    with pytest.raises(ValueError, match="The vector has 4 values for 5 valid tokens"):
        split_valid_token_vector(row[:, :4], masks)
    with pytest.raises(ValueError, match=r"must have shape \(B,\) or \(B, T\) with \(B, T\) = \(2, 2\), got \(2, 3\)"):
        valid_token_vector([torch.ones(2, 3)], [torch.ones(2, 2)])


def test_selection_on_the_row_equals_selection_on_the_hand_padded_batch():
    # Two micro-batches of different widths; the functions on their row of valid tokens give what they give on one
    # batch stacking both, padded by hand.
    gen = generator(3)
    masks = [(torch.rand(3, 4, generator=gen) > 0.3).float(), (torch.rand(2, 6, generator=gen) > 0.3).float()]
    logps = [-2 * torch.rand(m.shape, generator=gen) for m in masks]
    advantages = [torch.randn(m.size(0), generator=gen) for m in masks]
    padded_mask = torch.cat([torch.nn.functional.pad(masks[0], (0, 2)), masks[1]])
    padded_logps = torch.cat([torch.nn.functional.pad(logps[0], (0, 2)), logps[1]])
    cov = token_covariance(torch.cat(advantages), padded_logps, padded_mask)
    row_cov = token_covariance(valid_token_vector(advantages, masks), valid_token_vector(logps, masks),
                               torch.ones(1, int(padded_mask.sum())))  # fmt: skip
    torch.testing.assert_close(row_cov, cov[padded_mask > 0].unsqueeze(0))
    ones = torch.ones_like(row_cov)
    expected = kl_cov_selection(cov, padded_mask, ratio=0.25)[padded_mask > 0]
    assert torch.equal(kl_cov_selection(row_cov, ones, ratio=0.25)[0], expected)
    expected = clip_cov_selection(cov, padded_mask, 0.25, -1.0, 1.0, generator=generator(5))[padded_mask > 0]
    assert torch.equal(clip_cov_selection(row_cov, ones, 0.25, -1.0, 1.0, generator=generator(5))[0], expected)
