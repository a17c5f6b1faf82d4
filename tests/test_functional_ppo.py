# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""PPO's critic-side functions (outcome rewards, GAE, whitening, clipped value loss) against values computed by hand."""

import math

import pytest
import torch

from trl_entropy.functional.ppo import (
    check_ppo_params,
    clipped_value_loss,
    explained_variance,
    gae,
    masked_mean_var,
    masked_sums,
    mean_var_from_sums,
    outcome_token_rewards,
    whiten,
)


# ---------------------------------------------------------------- outcome rewards


def test_outcome_rewards_on_the_last_valid_token():
    # Lengths 3, 1, 0 (empty) and 2: rewards land at positions 2, 0, nowhere and 1.
    mask = torch.tensor([[1, 1, 1], [1, 0, 0], [0, 0, 0], [1, 1, 0]])
    rewards = torch.tensor([1.0, 0.5, 2.0, -1.0], dtype=torch.float64)
    out = outcome_token_rewards(rewards, mask)
    expected = torch.tensor([[0.0, 0.0, 1.0], [0.5, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, expected)
    # A bool mask and a float mask give the same result.
    torch.testing.assert_close(outcome_token_rewards(rewards, mask.bool()), expected)
    torch.testing.assert_close(outcome_token_rewards(rewards, mask.float()), expected)


def test_outcome_rewards_shape_errors():
    with pytest.raises(ValueError, match=r"`rewards` must have shape \(B,\) with B = 2, got \(3,\)"):
        outcome_token_rewards(torch.ones(3), torch.ones(2, 4))
    with pytest.raises(ValueError, match=r"`mask` must have shape \(B, T\), got \(4,\)"):
        outcome_token_rewards(torch.ones(4), torch.ones(4))


# ---------------------------------------------------------------- GAE


def test_gae_gamma_lam_one_is_outcome_minus_value():
    # gamma = lam = 1: A_t = sum_{k >= t} r_k - V_t = R - V_t.
    #   A = 1 - [0.2, 0.5, 0.9, 1.5] = [0.8, 0.5, 0.1, -0.5]
    mask = torch.ones(1, 4)
    rewards = outcome_token_rewards(torch.tensor([1.0]), mask)
    values = torch.tensor([[0.2, 0.5, 0.9, 1.5]])
    advantages, returns = gae(rewards, values, mask, return_returns=True)
    torch.testing.assert_close(advantages, torch.tensor([[0.8, 0.5, 0.1, -0.5]]))
    # The returns are A + V = R on every token.
    torch.testing.assert_close(returns, torch.ones(1, 4))


def test_gae_step_by_step():
    # gamma = 0.9, lam = 0.8 (gamma * lam = 0.72), r = [0, 0, 1], V = [0.5, 0.6, 0.7]:
    #   t = 2: delta = 1 + 0.9 * 0 - 0.7 = 0.3;          A_2 = 0.3
    #   t = 1: delta = 0 + 0.9 * 0.7 - 0.6 = 0.03;       A_1 = 0.03 + 0.72 * 0.3 = 0.246
    #   t = 0: delta = 0 + 0.9 * 0.6 - 0.5 = 0.04;       A_0 = 0.04 + 0.72 * 0.246 = 0.21712
    #   returns = A + V = [0.71712, 0.846, 1.0]
    rewards = torch.tensor([[0.0, 0.0, 1.0]])
    values = torch.tensor([[0.5, 0.6, 0.7]])
    advantages, returns = gae(rewards, values, torch.ones(1, 3), gamma=0.9, lam=0.8, return_returns=True)
    torch.testing.assert_close(advantages, torch.tensor([[0.21712, 0.246, 0.3]]))
    torch.testing.assert_close(returns, torch.tensor([[0.71712, 0.846, 1.0]]))


def test_gae_lam_zero_is_the_td_error():
    # lam = 0: A_t = delta_t. gamma = 0.5, r = [0.1, 1], V = [0.4, 0.2]:
    #   t = 1: 1 + 0 - 0.2 = 0.8 ; t = 0: 0.1 + 0.5 * 0.2 - 0.4 = -0.2
    out = gae(torch.tensor([[0.1, 1.0]]), torch.tensor([[0.4, 0.2]]), torch.ones(1, 2), gamma=0.5, lam=0.0)
    torch.testing.assert_close(out, torch.tensor([[-0.2, 0.8]]))


def test_gae_rows_of_different_lengths_match_each_row_alone():
    # Row 0: 3 tokens (the step-by-step case above); row 1: 2 tokens, r = [0, 2], V = [1.0, 1.5]:
    #   t = 1: delta = 2 - 1.5 = 0.5;                     A_1 = 0.5
    #   t = 0: delta = 0.9 * 1.5 - 1.0 = 0.35;            A_0 = 0.35 + 0.72 * 0.5 = 0.71
    # Row 1's padding holds a large value and reward: neither may reach its valid tokens.
    rewards = torch.tensor([[0.0, 0.0, 1.0], [0.0, 2.0, 7.0]])
    values = torch.tensor([[0.5, 0.6, 0.7], [1.0, 1.5, 100.0]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    advantages, returns = gae(rewards, values, mask, gamma=0.9, lam=0.8, return_returns=True)
    expected = torch.tensor([[0.21712, 0.246, 0.3], [0.71, 0.5, 0.0]])
    torch.testing.assert_close(advantages, expected)
    torch.testing.assert_close(returns, torch.tensor([[0.71712, 0.846, 1.0], [1.71, 2.0, 0.0]]))
    # Each row alone, without padding, gives the same numbers.
    alone = gae(rewards[1:, :2], values[1:, :2], torch.ones(1, 2), gamma=0.9, lam=0.8)
    torch.testing.assert_close(alone, expected[1:, :2])
    alone = gae(rewards[:1], values[:1], torch.ones(1, 3), gamma=0.9, lam=0.8)
    torch.testing.assert_close(alone, expected[:1])


def test_gae_ignores_anything_at_masked_positions():
    torch.manual_seed(0)
    rewards, values = torch.randn(3, 6), torch.randn(3, 6)
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0]])
    reference = gae(rewards, values, mask, gamma=0.95, lam=0.9, return_returns=True)
    padding = mask == 0
    noisy_rewards = torch.where(padding, torch.full_like(rewards, float("nan")), rewards)
    noisy_values = torch.where(padding, torch.full_like(values, 1e6), values)
    noisy = gae(noisy_rewards, noisy_values, mask, gamma=0.95, lam=0.9, return_returns=True)
    for reference_out, noisy_out in zip(reference, noisy, strict=True):
        torch.testing.assert_close(noisy_out, reference_out)
        assert (reference_out[padding] == 0).all()


def test_gae_skips_a_hole_inside_a_row():
    # Mask [1, 0, 1]: the masked token is skipped, so the row is the 2-token row r = [0, 1], V = [0.5, 0.7]:
    #   t = 2: A = 1 - 0.7 = 0.3 ; t = 0: delta = 0.9 * 0.7 - 0.5 = 0.13, A = 0.13 + 0.72 * 0.3 = 0.346
    rewards = torch.tensor([[0.0, 5.0, 1.0]])
    values = torch.tensor([[0.5, 9.0, 0.7]])
    out = gae(rewards, values, torch.tensor([[1, 0, 1]]), gamma=0.9, lam=0.8)
    torch.testing.assert_close(out, torch.tensor([[0.346, 0.0, 0.3]]))


def test_gae_has_no_gradient_and_keeps_float64():
    values = torch.tensor([[0.5, 0.6]], dtype=torch.float64, requires_grad=True)
    out = gae(torch.tensor([[0.0, 1.0]]), values, torch.ones(1, 2))
    assert not out.requires_grad and out.dtype == torch.float64
    # bf16 inputs are computed in float32.
    assert gae(torch.zeros(1, 2, dtype=torch.bfloat16), torch.zeros(1, 2), torch.ones(1, 2)).dtype == torch.float32


def test_gae_errors():
    r, v, m = torch.zeros(2, 3), torch.zeros(2, 3), torch.ones(2, 3)
    with pytest.raises(ValueError, match=r"`gamma` must be in \[0, 1\], got 1.5"):
        gae(r, v, m, gamma=1.5)
    with pytest.raises(ValueError, match=r"`lam` must be in \[0, 1\], got -0.1"):
        gae(r, v, m, lam=-0.1)
    with pytest.raises(ValueError, match=r"`gamma` must be in \[0, 1\], got nan"):
        gae(r, v, m, gamma=float("nan"))
    with pytest.raises(ValueError, match=r"`rewards`, `values`, `mask` must share one shape"):
        gae(r, torch.zeros(2, 4), m)
    with pytest.raises(ValueError, match=r"`rewards` must have shape \(B, T\)"):
        gae(torch.zeros(3), torch.zeros(3), torch.ones(3))


# ---------------------------------------------------------------- statistics and whitening


def test_masked_statistics_by_hand():
    # Valid: 1, 2, 3, 4 (the masked 50 and -50 are ignored). Sum 10, sum of squares 1 + 4 + 9 + 16 = 30, n = 4.
    # Mean 2.5; sum of squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5 -> unbiased 5 / 3, population 5 / 4.
    values = torch.tensor([[1.0, 2.0, 3.0, 50.0], [4.0, -50.0, 0.0, 0.0]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0]])
    total, total_of_squares, count = masked_sums(values, mask)
    assert (total.item(), total_of_squares.item(), count.item()) == (10.0, 30.0, 4.0)
    mean, var = masked_mean_var(values, mask)
    assert mean.item() == pytest.approx(2.5) and var.item() == pytest.approx(5 / 3)
    assert masked_mean_var(values, mask, unbiased=False)[1].item() == pytest.approx(5 / 4)


def test_sums_of_shards_give_the_statistics_of_the_whole_batch():
    # Two "processes": summing their sums (what an all-reduce does) gives the statistics of the concatenation.
    torch.manual_seed(1)
    values, mask = torch.randn(6, 5), (torch.rand(6, 5) > 0.3).int()
    shards = [masked_sums(values[:2], mask[:2]), masked_sums(values[2:], mask[2:])]
    summed = [a + b for a, b in zip(*shards, strict=True)]
    global_mean, global_var = mean_var_from_sums(*summed)
    mean, var = masked_mean_var(values, mask)
    torch.testing.assert_close(global_mean, mean)
    torch.testing.assert_close(global_var, var)
    valid = values[mask > 0].double()
    torch.testing.assert_close(var, valid.var(unbiased=True))


def test_degenerate_statistics():
    # No valid entry: mean 0, var 0. One valid entry: the unbiased variance is undefined -> 0; population 0.
    assert [s.item() for s in masked_mean_var(torch.ones(2, 2), torch.zeros(2, 2))] == [0.0, 0.0]
    assert [s.item() for s in masked_mean_var(torch.tensor([3.0, 9.0]), torch.tensor([1, 0]))] == [3.0, 0.0]
    # Rounding never makes the variance negative.
    constant = torch.full((1000,), 0.1)
    assert masked_mean_var(constant, torch.ones(1000))[1].item() >= 0


def test_whiten_by_hand():
    # Valid 1, 2, 3, 4: mean 2.5, unbiased std sqrt(5 / 3) = 1.2909944.
    #   (1 - 2.5) / 1.2909944 = -1.1618950, (2 - 2.5) / 1.2909944 = -0.3872983, then +0.3872983, +1.1618950.
    values = torch.tensor([[1.0, 2.0, 3.0, 50.0], [4.0, -50.0, 0.0, 0.0]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0]])
    out = whiten(values, mask)
    expected = torch.tensor([[-1.1618950, -0.3872983, 0.3872983, 0.0], [1.1618950, 0.0, 0.0, 0.0]])
    torch.testing.assert_close(out, expected)
    valid = out[mask > 0]
    assert valid.mean().item() == pytest.approx(0.0, abs=1e-6)
    assert valid.std(unbiased=True).item() == pytest.approx(1.0, abs=1e-6)
    assert (out[mask == 0] == 0).all()


def test_whiten_scale_only_keeps_the_mean():
    # shift_mean=False: (x - 2.5) / 1.2909944 + 2.5 -> 1.3381050, 2.1127017, 2.8872983, 3.6618950.
    values = torch.tensor([[1.0, 2.0, 3.0, 4.0, 9.0]])
    mask = torch.tensor([[1, 1, 1, 1, 0]])
    out = whiten(values, mask, shift_mean=False)
    torch.testing.assert_close(out, torch.tensor([[1.3381050, 2.1127017, 2.8872983, 3.6618950, 0.0]]))
    assert out[mask > 0].mean().item() == pytest.approx(2.5)


def test_whiten_uses_precomputed_statistics():
    # Global mean 1, var 4 (std 2): (x - 1) / 2 on the valid entries, whatever the local statistics are.
    values = torch.tensor([[1.0, 3.0, 7.0]])
    mask = torch.tensor([[1, 1, 0]])
    out = whiten(values, mask, mean=torch.tensor(1.0), var=torch.tensor(4.0))
    torch.testing.assert_close(out, torch.tensor([[0.0, 1.0, 0.0]]))
    out = whiten(values, mask, shift_mean=False, mean=1.0, var=4.0)  # (x - 1) / 2 + 1
    torch.testing.assert_close(out, torch.tensor([[1.0, 2.0, 0.0]]))
    # Local statistics passed explicitly give the default result.
    mean, var = masked_mean_var(values, mask)
    torch.testing.assert_close(whiten(values, mask, mean=mean, var=var), whiten(values, mask))


def test_whiten_keeps_dtype_and_handles_constant_values():
    values = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.bfloat16)
    assert whiten(values, torch.ones(1, 3)).dtype == torch.bfloat16
    # Constant valid values: (x - mean) = 0 exactly, so 0 and not NaN.
    assert (whiten(torch.full((2, 3), 0.7), torch.ones(2, 3)) == 0).all()


def test_whiten_errors():
    values, mask = torch.ones(1, 3), torch.ones(1, 3)
    with pytest.raises(ValueError, match="`mean` and `var` must be given together"):
        whiten(values, mask, mean=0.0)
    with pytest.raises(ValueError, match="`var` >= 0"):
        whiten(values, mask, mean=0.0, var=-1.0)
    with pytest.raises(ValueError, match=r"`eps` must be >= 0 \(valid range: \[0, inf\)\), got -1.0"):
        whiten(values, mask, eps=-1.0)
    with pytest.raises(ValueError, match="must share one shape"):
        whiten(values, torch.ones(1, 4))


# ---------------------------------------------------------------- clipped value loss


def _value_loss_case():
    # clip_range 0.2; row 0 has 3 valid tokens, row 1 has 1 (then padding with extreme numbers):
    #   a: V 1.0, V_old 0.5, R 0.0 -> V_clip 0.7; (V - R)^2 = 1.00, (V_clip - R)^2 = 0.49 -> 1.00, not clipped
    #   b: V 1.0, V_old 0.5, R 2.0 -> V_clip 0.7; (V - R)^2 = 1.00, (V_clip - R)^2 = 1.69 -> 1.69, clipped
    #   c: V 0.5, V_old 0.4, R 1.0 -> V_clip 0.5 (inside the range); both 0.25 -> 0.25, not clipped (a tie)
    #   d: V 2.0, V_old 1.0, R 2.0 -> V_clip 1.2; (V - R)^2 = 0.00, (V_clip - R)^2 = 0.64 -> 0.64, clipped
    # loss = 0.5 * (1.00 + 1.69 + 0.25 + 0.64) / 4 = 0.5 * 3.58 / 4 = 0.4475; clip fraction = 2 / 4 = 0.5
    values = torch.tensor([[1.0, 1.0, 0.5], [2.0, 100.0, -100.0]])
    old_values = torch.tensor([[0.5, 0.5, 0.4], [1.0, 0.0, 0.0]])
    returns = torch.tensor([[0.0, 2.0, 1.0], [2.0, -100.0, 100.0]])
    mask = torch.tensor([[1, 1, 1], [1, 0, 0]])
    return values, old_values, returns, mask


def test_clipped_value_loss_by_hand():
    values, old_values, returns, mask = _value_loss_case()
    values.requires_grad_()
    loss, clip_fraction = clipped_value_loss(values, old_values, returns, mask, clip_range=0.2)
    assert loss.item() == pytest.approx(0.4475)
    assert clip_fraction.item() == pytest.approx(0.5)
    assert not clip_fraction.requires_grad
    loss.backward()
    # dL/dV = 0.5 / 4 * d max / dV = 0.125 * ...:
    #   a: unclipped term, 2 (V - R) = 2               -> 0.25
    #   b, d: clipped term with V outside V_old ± 0.2  -> 0 (clamp has no gradient there)
    #   c: tie, both terms have slope 2 (V - R) = -1; max splits the gradient evenly -> 0.125 * -1 = -0.125
    #   padding -> 0
    torch.testing.assert_close(values.grad, torch.tensor([[0.25, 0.0, -0.125], [0.0, 0.0, 0.0]]))


def test_clipped_value_loss_gradient_flows_through_values_only():
    values, old_values, returns, mask = _value_loss_case()
    values.requires_grad_()
    old_values.requires_grad_()
    returns.requires_grad_()
    loss, _ = clipped_value_loss(values, old_values, returns, mask)
    loss.backward()
    assert values.grad is not None
    assert old_values.grad is None and returns.grad is None


def test_no_clipping_is_half_the_mse():
    # clip_range=None: 0.5 * mean((V - R)^2) = 0.5 * (1.00 + 1.00 + 0.25 + 0.00) / 4 = 0.28125.
    values, old_values, returns, mask = _value_loss_case()
    loss, clip_fraction = clipped_value_loss(values, old_values, returns, mask, clip_range=None)
    assert loss.item() == pytest.approx(0.28125)
    assert clip_fraction.item() == 0
    valid = mask > 0
    torch.testing.assert_close(loss, 0.5 * torch.nn.functional.mse_loss(values[valid], returns[valid]))


def test_a_wide_clip_range_never_binds():
    values, old_values, returns, mask = _value_loss_case()
    wide, clip_fraction = clipped_value_loss(values, old_values, returns, mask, clip_range=10.0)
    plain, _ = clipped_value_loss(values, old_values, returns, mask, clip_range=None)
    torch.testing.assert_close(wide, plain)
    assert clip_fraction.item() == 0


def test_clipped_value_loss_empty_mask():
    values = torch.randn(2, 3, requires_grad=True)
    loss, clip_fraction = clipped_value_loss(values, torch.zeros(2, 3), torch.ones(2, 3), torch.zeros(2, 3))
    assert loss.item() == 0 and clip_fraction.item() == 0
    loss.backward()  # connected to the graph, with a zero gradient
    assert (values.grad == 0).all()


def test_clipped_value_loss_errors():
    v = torch.zeros(1, 2)
    for bad in (0.0, -0.2, float("nan")):
        with pytest.raises(ValueError, match=r"`clip_range` must be > 0 \(valid range: \(0, inf\)\) or None"):
            clipped_value_loss(v, v, v, v, clip_range=bad)
    with pytest.raises(ValueError, match=r"`values`, `old_values`, `returns`, `mask` must share one shape"):
        clipped_value_loss(v, v, torch.zeros(1, 3), v)


# ---------------------------------------------------------------- explained variance


def test_explained_variance_by_hand():
    # Valid R = [1, 2, 3, 4], V = [1, 2, 2, 5] (the padding is ignored):
    #   R - V = [0, 0, 1, -1]: mean 0, Var = (0 + 0 + 1 + 1) / 4 = 0.5
    #   Var[R] = (2.25 + 0.25 + 0.25 + 2.25) / 4 = 1.25 -> EV = 1 - 0.5 / 1.25 = 0.6
    returns = torch.tensor([[1.0, 2.0, 3.0], [4.0, 30.0, 0.0]])
    values = torch.tensor([[1.0, 2.0, 2.0], [5.0, -30.0, 0.0]])
    mask = torch.tensor([[1, 1, 1], [1, 0, 0]])
    assert explained_variance(values, returns, mask).item() == pytest.approx(0.6)
    # A perfect critic explains everything; a constant one (V = mean R) nothing.
    assert explained_variance(returns, returns, mask).item() == pytest.approx(1.0)
    assert explained_variance(torch.full_like(returns, 2.5), returns, mask).item() == pytest.approx(0.0)


def test_explained_variance_is_nan_without_variance():
    assert math.isnan(explained_variance(torch.rand(2, 3), torch.full((2, 3), 0.3), torch.ones(2, 3)).item())
    assert math.isnan(explained_variance(torch.rand(2, 3), torch.rand(2, 3), torch.zeros(2, 3)).item())


# ---------------------------------------------------------------- parameter validation


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"gamma": 1.1}, r"`ppo_gamma` must be in \[0, 1\], got 1.1"),
        ({"gamma": -0.5}, r"`ppo_gamma` must be in \[0, 1\], got -0.5"),
        ({"lam": 2.0}, r"`ppo_lam` must be in \[0, 1\], got 2.0"),
        ({"lam": float("nan")}, r"`ppo_lam` must be in \[0, 1\], got nan"),
        ({"value_clip": 0.0}, r"`ppo_value_clip` must be > 0 \(valid range: \(0, inf\)\) or None, got 0.0"),
        ({"value_clip": -1.0}, r"`ppo_value_clip` must be > 0 .* or None, got -1.0"),
    ],
)
def test_invalid_ppo_params(kwargs, message):
    params = {"gamma": 1.0, "lam": 0.95, "value_clip": 0.2} | kwargs
    with pytest.raises(ValueError, match=message):
        check_ppo_params(**params, prefix="ppo_")


def test_valid_ppo_params():
    for gamma, lam, value_clip in [(0.0, 0.0, None), (1.0, 1.0, 0.2), (0.99, 0.95, 10.0)]:
        check_ppo_params(gamma, lam, value_clip)  # no error
    with pytest.raises(ValueError, match=r"^`gamma` must be in \[0, 1\]"):  # no prefix by default
        check_ppo_params(2.0, 1.0, None)
