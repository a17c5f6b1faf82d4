# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""SENT's low-entropy covariance KL against selections and penalties computed by hand."""

import math

import pytest
import torch

from trl_entropy.functional import (
    kl_estimate,
    low_entropy_cov_coefficients,
    low_entropy_cov_kl,
    low_entropy_cov_selection,
)


def test_hand_computed_selection_one_row():
    # Valid tokens 0..4; n = 5, L = floor(0.8 * 5) = 4 lowest entropies: tokens 0, 1, 2, 3 (token 4 has 9.0).
    entropies = torch.tensor([[0.1, 0.2, 0.3, 0.4, 9.0]])
    logps = torch.tensor([[-1.0, -2.0, -3.0, -4.0, -5.0]])
    advantages = torch.tensor([[1.0, -1.0, 1.0, -1.0, 0.0]])
    # On L: mean A = 0, mean logp = -2.5; cov = (1)(1.5), (-1)(0.5), (1)(-0.5), (-1)(-1.5) = 1.5, -0.5, -0.5, 1.5.
    # ratio 0.25: k = floor(0.25 * 4) = 1. Top: first of the tied 1.5s = token 0. Bottom: last of the ranking
    # (descending, stable: 0, 3, 1, 2) = token 2.
    selection = low_entropy_cov_selection(entropies, logps, advantages, torch.ones(1, 5), ratio=0.25)
    assert selection.low_entropy.tolist() == [[True, True, True, True, False]]
    assert selection.high_cov.tolist() == [[True, False, False, False, False]]
    assert selection.low_cov.tolist() == [[False, False, True, False, False]]
    coefficients = low_entropy_cov_coefficients(entropies, logps, advantages, torch.ones(1, 5), ratio=0.25)
    assert torch.allclose(coefficients, torch.tensor([[0.2, 0.0, 0.05, 0.0, 0.0]]))


def test_hand_computed_selection_two_rows_with_padding_and_sequence_advantages():
    # Row 0 has 4 valid tokens, row 1 has 2 (the rest is padding, with low entropies that must be ignored).
    entropies = torch.tensor([[0.5, 0.1, 2.0, 0.3], [0.2, 0.4, 0.0, 0.0]])
    logps = torch.tensor([[-0.5, -0.1, -3.0, -0.2], [-0.4, -1.0, 0.0, 0.0]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]], dtype=torch.float32)
    advantages = torch.tensor([2.0, -1.0])  # one per completion
    # n = 6, L = floor(4.8) = 4: entropies 0.1 (0,1), 0.2 (1,0), 0.3 (0,3), 0.4 (1,1); out: 0.5 (0,0), 2.0 (0,2).
    # A on L: 2, -1, 2, -1 (mean 0.5); logp on L: -0.1, -0.4, -0.2, -1.0 (mean -0.425).
    # cov: 1.5 * 0.325 = 0.4875, -1.5 * 0.025 = -0.0375, 1.5 * 0.225 = 0.3375, -1.5 * -0.575 = 0.8625.
    # ratio 0.5: k = 2; top two: (1,1) 0.8625, (0,1) 0.4875; bottom two: (0,3) 0.3375, (1,0) -0.0375.
    selection = low_entropy_cov_selection(entropies, logps, advantages, mask, low_entropy_share=0.8, ratio=0.5)
    assert selection.low_entropy.tolist() == [[False, True, False, True], [True, True, False, False]]
    assert selection.high_cov.tolist() == [[False, True, False, False], [False, True, False, False]]
    assert selection.low_cov.tolist() == [[False, False, False, True], [True, False, False, False]]

    old_logps = logps + torch.tensor([[0.0, 0.3, 0.0, -0.2], [0.1, -0.4, 0.0, 0.0]])
    penalty = low_entropy_cov_kl(
        entropies, logps, old_logps, advantages, mask, low_entropy_share=0.8, ratio=0.5, coef=0.1
    )
    expected = torch.tensor([[0.0, 0.2 * 0.3, 0.0, 0.05 * 0.2], [0.05 * 0.1, 0.2 * 0.4, 0.0, 0.0]])
    assert torch.allclose(penalty, expected)


def test_at_least_one_token_at_each_end_with_the_default_ratio():
    # 0.0002 of 8 tokens is 0: the authors' rule keeps max(1, .) tokens at each end.
    torch.manual_seed(0)
    entropies, logps = torch.rand(2, 5), -torch.rand(2, 5)
    advantages = torch.tensor([1.0, -1.0])
    selection = low_entropy_cov_selection(entropies, logps, advantages, torch.ones(2, 5))
    assert selection.low_entropy.sum().item() == 8  # floor(0.8 * 10)
    assert selection.high_cov.sum().item() == 1 and selection.low_cov.sum().item() == 1
    assert not (selection.high_cov & selection.low_cov).any()
    assert (selection.high_cov | selection.low_cov).le(selection.low_entropy).all()


def test_selection_is_the_exact_share_on_a_large_batch():
    torch.manual_seed(1)
    entropies, logps = torch.rand(50, 200), -torch.rand(50, 200) * 3
    mask = (torch.rand(50, 200) > 0.1).float()
    advantages = torch.randn(50)
    selection = low_entropy_cov_selection(entropies, logps, advantages, mask, ratio=0.01)
    n = int(mask.sum())
    num_low = math.floor(0.8 * n)
    assert selection.low_entropy.sum().item() == num_low
    assert selection.high_cov.sum().item() == selection.low_cov.sum().item() == math.floor(0.01 * num_low)
    low_entropies = entropies[selection.low_entropy]
    assert low_entropies.max() <= entropies[(mask > 0) & ~selection.low_entropy].min()
    # The selected ends are the extremes of the covariance on L.
    a = advantages.unsqueeze(1).expand_as(entropies)[selection.low_entropy]
    lp = logps[selection.low_entropy]
    cov = torch.zeros_like(entropies)
    cov[selection.low_entropy] = (a - a.mean()) * (lp - lp.mean())
    assert cov[selection.high_cov].min() >= cov[selection.low_entropy & ~selection.high_cov].max()
    assert cov[selection.low_cov].max() <= cov[selection.low_entropy & ~selection.low_cov].min()


def test_zero_when_on_policy_and_gradient_only_through_current_logps():
    torch.manual_seed(2)
    entropies, mask = torch.rand(3, 6), torch.ones(3, 6)
    logps = (-torch.rand(3, 6)).requires_grad_()
    advantages = torch.randn(3)
    on_policy = low_entropy_cov_kl(entropies, logps, logps.detach(), advantages, mask, ratio=0.2)
    on_policy.sum().backward()
    assert on_policy.abs().sum().item() == 0 and logps.grad.abs().sum().item() == 0

    logps.grad = None
    old = logps.detach() + 0.1
    penalty = low_entropy_cov_kl(entropies, logps, old, advantages, mask, ratio=0.2, coef=0.1)
    penalty.sum().backward()
    coefficients = low_entropy_cov_coefficients(entropies, logps, advantages, mask, ratio=0.2, coef=0.1)
    # d/dlogp c |logp - old| = -c (old is above logp): the penalty pulls log-probs back towards the old policy.
    assert torch.allclose(logps.grad, -coefficients)
    assert coefficients.gt(0).sum().item() == 2 * math.floor(0.2 * math.floor(0.8 * 18))


def test_no_valid_tokens_and_no_low_entropy_tokens():
    empty = low_entropy_cov_selection(torch.rand(2, 3), torch.rand(2, 3), torch.ones(2), torch.zeros(2, 3))
    assert not any(s.any() for s in empty)
    # One valid token: floor(0.8 * 1) = 0 tokens in L.
    mask = torch.tensor([[1.0, 0.0, 0.0]])
    one = low_entropy_cov_selection(torch.rand(1, 3), torch.rand(1, 3), torch.ones(1), mask)
    assert not one.low_entropy.any()
    # Two valid tokens, share 1: L holds both, k = 1 at each end, top and bottom disjoint.
    two = low_entropy_cov_selection(
        torch.tensor([[0.1, 0.2]]), torch.tensor([[-1.0, -2.0]]), torch.tensor([[1.0, -1.0]]), torch.ones(1, 2), 1.0
    )
    assert two.high_cov.tolist() == [[True, False]] and two.low_cov.tolist() == [[False, True]]


def test_kl_estimates():
    logps = torch.tensor([[-1.0, -2.0]])
    target = torch.tensor([[-1.5, -1.0]])
    assert torch.allclose(kl_estimate(logps, target, "abs"), torch.tensor([[0.5, 1.0]]))
    delta = target - logps  # -0.5, 1.0
    assert torch.allclose(kl_estimate(logps, target, "k3"), delta.exp() - delta - 1)
    assert (kl_estimate(logps, target, "k3") >= 0).all()
    with pytest.raises(ValueError, match="`estimator` must be one of"):
        kl_estimate(logps, target, "k2")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"low_entropy_share": 0.0}, r"`low_entropy_share` must be in \(0, 1\], got 0.0"),
        ({"low_entropy_share": 1.5}, r"`low_entropy_share` must be in \(0, 1\], got 1.5"),
        ({"ratio": 0.0}, r"`ratio` must be in \(0, 0.5\], got 0.0"),
        ({"ratio": 0.6}, r"`ratio` must be in \(0, 0.5\]"),
        ({"coef": -0.1}, r"`coef` must be a finite number >= 0, got -0.1"),
        ({"high_mult": float("nan")}, r"`high_mult` must be a finite number >= 0"),
        ({"low_mult": -1.0}, r"`low_mult` must be a finite number >= 0"),
    ],
)
def test_invalid_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        low_entropy_cov_coefficients(torch.rand(1, 3), torch.rand(1, 3), torch.ones(1), torch.ones(1, 3), **kwargs)


def test_shape_errors():
    with pytest.raises(ValueError, match="must share one"):
        low_entropy_cov_selection(torch.rand(2, 3), torch.rand(2, 4), torch.ones(2), torch.ones(2, 3))
    with pytest.raises(ValueError, match="`advantages` must have shape"):
        low_entropy_cov_selection(torch.rand(2, 3), torch.rand(2, 3), torch.ones(3), torch.ones(2, 3))
