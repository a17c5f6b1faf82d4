# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
import math

import pytest
import torch

from trl_entropy.functional.position_shaping import (
    position_bonus,
    position_shaped_advantages,
    relative_positions,
)
from trl_entropy.functional.ppl_shaping import (
    completion_log_perplexity,
    finite_token_mask,
    ppl_advantage_weights,
    ppl_shaped_advantages,
)


def _single_token_logps(lnppl: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    # One valid token with logp = -lnPPL, followed by a padding token holding -inf (which must be ignored).
    logps = torch.tensor([[-value, -math.inf] for value in lnppl])
    mask = torch.tensor([[1, 0]] * len(lnppl))
    return logps, mask


# --------------------------------------------------------------------------------------------------------------------
# Perplexity-based shaping
# --------------------------------------------------------------------------------------------------------------------


def test_completion_log_perplexity_hand_values():
    # Row 0: -(-1 - 3) / 2 = 2 (the padded -inf is ignored); row 1: -(-0.5 - 0.5 - 2) / 3 = 1; row 2: no tokens -> 0.
    logps = torch.tensor([[-1.0, -3.0, -math.inf], [-0.5, -0.5, -2.0], [-7.0, -7.0, -7.0]], dtype=torch.float64)
    mask = torch.tensor([[True, True, False], [True, True, True], [False, False, False]])
    out = completion_log_perplexity(logps, mask)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, torch.tensor([2.0, 1.0, 0.0]))


def test_completion_log_perplexity_leaves_non_finite_tokens_out_of_the_mean():
    # Sampling log-probs after top-p / top-k filtering can be -inf (or NaN) at a valid token: such a token is left out
    # of its completion's mean, not counted as 0. Row 0: -(-1 - 3) / 2 = 2; row 1: -(-2 - 4) / 2 = 3; row 2: +inf and
    # -inf left out, -(-6) / 1 = 6; row 3: no finite valid token -> 0, as a completion without tokens.
    logps = torch.tensor(
        [
            [-1.0, -math.inf, -3.0, 0.0],
            [math.nan, -2.0, -4.0, -8.0],
            [math.inf, -6.0, -math.inf, 0.0],
            [-math.inf, math.nan, 0.0, 0.0],
        ]
    )
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 0], [1, 1, 1, 0], [1, 1, 0, 0]])
    torch.testing.assert_close(completion_log_perplexity(logps, mask), torch.tensor([2.0, 3.0, 6.0, 0.0]))
    assert finite_token_mask(logps, mask).tolist() == [
        [True, False, True, False],
        [False, True, True, False],
        [False, True, False, False],
        [False, False, False, False],
    ]
    # In the weights, a completion without a finite token is left out of its group's statistics and gets factor 1; the
    # others are weighted as if it were not there: lnPPL 2, 3, 6 (mean 11/3) as in a group of those three alone.
    weights = ppl_advantage_weights(logps, mask, num_generations=4, alpha=0.1, exclude_outliers=False, clamp=None)
    mean, std = 11 / 3, math.sqrt(((2 - 11 / 3) ** 2 + (3 - 11 / 3) ** 2 + (6 - 11 / 3) ** 2) / 3)
    expected = torch.tensor([1 - 0.1 * (x - mean) / std for x in (2.0, 3.0, 6.0)] + [1.0])
    torch.testing.assert_close(weights, expected)


def test_plain_z_score():
    # lnPPL = 1, 2, 3, 4 (from multi-token completions of different lengths).
    # Quartiles (linear): Q1 at rank 0.75 -> 1.75, Q3 at rank 2.25 -> 3.25, IQR 1.5, fences [-0.5, 5.5]: all kept.
    # mu = 2.5, population var = (2.25 + 0.25 + 0.25 + 2.25) / 4 = 1.25, sigma = 1.118034
    # w = (-1.5, -0.5, 0.5, 1.5) / 1.118034 = (-1.341641, -0.447214, 0.447214, 1.341641)
    # alpha = 0.1: factor = 1 - 0.1 w = (1.1341641, 1.0447214, 0.9552786, 0.8658359), inside [0.8, 1.2]
    logps = torch.tensor([[-1.0, 0.0, 0.0], [-1.0, -3.0, 0.0], [-2.0, -3.0, -4.0], [-4.0, 0.0, 0.0]])
    mask = torch.tensor([[1, 0, 0], [1, 1, 0], [1, 1, 1], [1, 0, 0]])
    weights = ppl_advantage_weights(logps, mask, num_generations=4, alpha=0.1)
    assert weights.dtype == torch.float32 and weights.shape == (4,)
    torch.testing.assert_close(weights, torch.tensor([1.1341641, 1.0447214, 0.9552786, 0.8658359]))
    # Low perplexity gets the larger weight.
    assert weights[0] > 1 > weights[3]


def test_iqr_exclusion_changes_mean_and_std():
    # lnPPL = 1, 2, 3, 20. Q1 at rank 0.75 -> 1 + 0.75 * 1 = 1.75; Q3 at rank 2.25 -> 3 + 0.25 * 17 = 7.25.
    # IQR = 5.5, fences [1.75 - 8.25, 7.25 + 8.25] = [-6.5, 15.5]: 20 is an outlier.
    # Kept {1, 2, 3}: mu = 2, population var = 2 / 3, sigma = 0.8164966.
    # w = (-1, 0, 1, 18) / 0.8164966 = (-1.2247449, 0, 1.2247449, 22.045408) -- the outlier still gets a weight.
    # alpha = 0.01, clamp=None: factor = (1.0122474, 1, 0.9877526, 0.7795459)
    logps, mask = _single_token_logps([1.0, 2.0, 3.0, 20.0])
    weights = ppl_advantage_weights(logps, mask, num_generations=4, clamp=None)
    torch.testing.assert_close(weights, torch.tensor([1.0122474, 1.0, 0.9877526, 0.7795459]))
    # With the default clamp, the outlier's factor binds at 0.8.
    weights = ppl_advantage_weights(logps, mask, num_generations=4)
    torch.testing.assert_close(weights, torch.tensor([1.0122474, 1.0, 0.9877526, 0.8]))

    # Without exclusion: mu = 6.5, var = (30.25 + 20.25 + 12.25 + 182.25) / 4 = 61.25, sigma = 7.8262379,
    # w = (-5.5, -4.5, -3.5, 13.5) / 7.8262379 = (-0.7027642, -0.5749889, -0.4472136, 1.7249668)
    # factor = (1.0070276, 1.0057499, 1.0044721, 0.9827503)
    weights = ppl_advantage_weights(logps, mask, num_generations=4, exclude_outliers=False)
    torch.testing.assert_close(weights, torch.tensor([1.0070276, 1.0057499, 1.0044721, 0.9827503]))


def test_groups_are_independent_and_vectorised():
    # Two groups in one batch give the same weights as each group alone (plain group from test_plain_z_score with
    # alpha = 0.01: factor = 1 - 0.01 w = (1.0134164, 1.0044721, 0.9955279, 0.9865836)).
    logps, mask = _single_token_logps([1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 20.0])
    weights = ppl_advantage_weights(logps, mask, num_generations=4, clamp=None)
    expected = torch.tensor([1.0134164, 1.0044721, 0.9955279, 0.9865836, 1.0122474, 1.0, 0.9877526, 0.7795459])
    torch.testing.assert_close(weights, expected)


def test_sigma_floor():
    # All equal lnPPL: sigma = 0 -> 1, w = 0, factor exactly 1.
    logps, mask = _single_token_logps([2.5] * 4)
    assert torch.equal(ppl_advantage_weights(logps, mask, num_generations=4), torch.ones(4))

    # lnPPL = 2, 2, 2, 5: Q1 = 2, Q3 at rank 2.25 -> 2 + 0.25 * 3 = 2.75, IQR 0.75, upper fence 3.875 -> 5 excluded.
    # Kept {2, 2, 2}: mu = 2, sigma = 0 -> 1. w = (0, 0, 0, 3), factor = (1, 1, 1, 0.97).
    logps, mask = _single_token_logps([2.0, 2.0, 2.0, 5.0])
    weights = ppl_advantage_weights(logps, mask, num_generations=4)
    torch.testing.assert_close(weights, torch.tensor([1.0, 1.0, 1.0, 0.97]))

    # G = 2, lnPPL = 0 and 1e-7: mu = 5e-8, sigma = 5e-8 < 1e-6 -> 1, so w = -/+5e-8 and the factor is ~1.
    # With sigma_floor=False, w = -/+1 and factor = (1.01, 0.99).
    logps, mask = _single_token_logps([0.0, 1e-7])
    torch.testing.assert_close(ppl_advantage_weights(logps, mask, num_generations=2), torch.ones(2))
    weights = ppl_advantage_weights(logps, mask, num_generations=2, sigma_floor=False)
    torch.testing.assert_close(weights, torch.tensor([1.01, 0.99]))


def test_clamp_binds_at_both_ends_and_can_be_disabled():
    # lnPPL = 1, 2, 3, 4 with alpha = 0.5: w = (-1.341641, -0.447214, 0.447214, 1.341641),
    # factor = 1 - 0.5 w = (1.6708204, 1.2236068, 0.7763932, 0.3291796).
    logps, mask = _single_token_logps([1.0, 2.0, 3.0, 4.0])
    weights = ppl_advantage_weights(logps, mask, num_generations=4, alpha=0.5)
    torch.testing.assert_close(weights, torch.tensor([1.2, 1.2, 0.8, 0.8]))
    weights = ppl_advantage_weights(logps, mask, num_generations=4, alpha=0.5, clamp=None)
    torch.testing.assert_close(weights, torch.tensor([1.6708204, 1.2236068, 0.7763932, 0.3291796]))
    weights = ppl_advantage_weights(logps, mask, num_generations=4, alpha=0.5, clamp=(0.5, 1.5))
    torch.testing.assert_close(weights, torch.tensor([1.5, 1.2236068, 0.7763932, 0.5]))


def test_alpha_zero_gives_exactly_ones():
    generator = torch.Generator().manual_seed(0)
    logps = -torch.rand(12, 7, generator=generator) * 5
    mask = torch.rand(12, 7, generator=generator) > 0.3
    mask[3] = False
    weights = ppl_advantage_weights(logps, mask, num_generations=4, alpha=0.0, clamp=None)
    assert torch.equal(weights, torch.ones(12))


def test_zero_length_completions():
    # Group 0: lnPPL = 1, 2, 3 and one completion without tokens, which is left out of the statistics.
    # Over {1, 2, 3}: Q1 = 1.5, Q3 = 2.5, fences [0, 4], all kept; mu = 2, sigma = 0.8164966.
    # w = (-1.2247449, 0, 1.2247449) and 0 for the empty completion; alpha = 0.1: factor = (1.1224745, 1, 0.8775255, 1)
    # Group 1: a single valid completion (sigma = 0 -> 1, w = 0) and three empty ones: all factors 1.
    # Group 2: no valid completion at all: all factors 1.
    logps = torch.tensor([[-1.0, 0.0], [-2.0, 0.0], [-9.0, -9.0], [-3.0, 0.0]] + [[-4.0, 0.0]] * 4 + [[-5.0, 0.0]] * 4)
    mask = torch.tensor([[1, 0], [1, 0], [0, 0], [1, 0]] + [[1, 1]] + [[0, 0]] * 7)
    weights = ppl_advantage_weights(logps, mask, num_generations=4, alpha=0.1)
    expected = torch.tensor([1.1224745, 1.0, 1.0, 0.8775255] + [1.0] * 8)
    torch.testing.assert_close(weights, expected)
    assert torch.isfinite(weights).all()


def _loop_reference(lnppl, valid, num_generations, alpha, exclude_outliers, sigma_floor, clamp):
    # Straightforward per-group implementation of the documented definition, to check the vectorised one.
    out = torch.ones_like(lnppl)
    for start in range(0, lnppl.numel(), num_generations):
        x = lnppl[start : start + num_generations]
        v = valid[start : start + num_generations]
        values = x[v]
        if values.numel() == 0:
            continue
        kept = values
        if exclude_outliers:
            q1, q3 = torch.quantile(values, 0.25), torch.quantile(values, 0.75)
            iqr = q3 - q1
            kept = values[(values >= q1 - 1.5 * iqr) & (values <= q3 + 1.5 * iqr)]
            if kept.numel() < 2:
                kept = values
        mu, sigma = kept.mean(), kept.std(unbiased=False)
        if sigma < 1e-6 if sigma_floor else sigma == 0:
            sigma = torch.tensor(1.0)
        factor = torch.where(v, 1 - alpha * (x - mu) / sigma, torch.ones_like(x))
        if clamp is not None:
            factor = factor.clamp(*clamp)
        out[start : start + num_generations] = factor
    return out


@pytest.mark.parametrize("exclude_outliers", [True, False])
@pytest.mark.parametrize("clamp", [(0.8, 1.2), None])
def test_matches_loop_reference_on_random_inputs(exclude_outliers, clamp):
    generator = torch.Generator().manual_seed(1)
    num_generations = 8
    logps = -torch.rand(64, 16, generator=generator) * 3
    logps[::11] *= 10  # a few high-perplexity outliers
    mask = torch.rand(64, 16, generator=generator) > 0.4
    mask[::9] = False  # some completions without tokens
    weights = ppl_advantage_weights(
        logps, mask, num_generations, alpha=0.2, exclude_outliers=exclude_outliers, clamp=clamp
    )
    lnppl = completion_log_perplexity(logps, mask)
    expected = _loop_reference(lnppl, mask.any(dim=-1), num_generations, 0.2, exclude_outliers, True, clamp)
    torch.testing.assert_close(weights, expected)


def test_no_gradient():
    logps = -torch.rand(4, 3, requires_grad=True)
    weights = ppl_advantage_weights(logps, torch.ones(4, 3), num_generations=2)
    assert not weights.requires_grad


def test_ppl_shaped_advantages():
    weights = torch.tensor([1.2, 0.9])
    # (B,): [1 * 1.2, -2 * 0.9] = [1.2, -1.8]
    torch.testing.assert_close(ppl_shaped_advantages(torch.tensor([1.0, -2.0]), weights), torch.tensor([1.2, -1.8]))
    # (B, T): the weight of row i multiplies every token of row i.
    advantages = torch.tensor([[1.0, 0.5], [-2.0, 0.0]])
    expected = torch.tensor([[1.2, 0.6], [-1.8, 0.0]])
    torch.testing.assert_close(ppl_shaped_advantages(advantages, weights), expected)
    with pytest.raises(ValueError, match="advantages"):
        ppl_shaped_advantages(torch.ones(3), weights)


def test_batch_not_divisible_by_num_generations():
    logps, mask = _single_token_logps([1.0] * 6)
    with pytest.raises(ValueError, match=r"batch size \(6\) must be divisible by `num_generations` \(4\)"):
        ppl_advantage_weights(logps, mask, num_generations=4)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha": -0.1}, r"`alpha` must be >= 0 \(valid range: \[0, inf\)\), got -0.1"),
        ({"alpha": float("nan")}, r"`alpha` must be >= 0 .* got nan"),
        ({"num_generations": 0}, r"`num_generations` must be an integer >= 1 \(valid range: \[1, inf\)\), got 0"),
        (
            {"clamp": (1.1, 1.2)},
            r"`clamp` must be None or \(low, high\) with 0 < low <= 1 <= high .* got \(1.1, 1.2\)",
        ),
        ({"clamp": (0.8, 0.9)}, r"`clamp` .* got \(0.8, 0.9\)"),
        ({"clamp": (0.0, 1.2)}, r"`clamp` .* got \(0.0, 1.2\)"),
        ({"clamp": (0.8,)}, r"`clamp` must be None or a pair"),
    ],
)
def test_ppl_invalid_parameters(kwargs, message):
    kwargs = {"num_generations": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        ppl_advantage_weights(-torch.ones(4, 3), torch.ones(4, 3), **kwargs)


# --------------------------------------------------------------------------------------------------------------------
# Position-based shaping
# --------------------------------------------------------------------------------------------------------------------

# Length-4 completion: l = 0, 0.25, 0.5, 0.75; 15 * (l - 0.5) = -7.5, -3.75, 0, 3.75.
# sigmoid(-7.5) = 1 / (1 + e^7.5) = 1 / (1 + 1808.0424) = 0.00055277864
# sigmoid(-3.75) = 1 / (1 + e^3.75) = 1 / (1 + 42.521082) = 0.022977370
# sigmoid(0) = 0.5, sigmoid(3.75) = 1 - 0.022977370 = 0.97702263, sigmoid(7.5) = 0.99944722
# Default bonus (gamma = 0.1): (5.5277864e-5, 0.0022977370, 0.05, 0.097702263)
BONUS_4 = [5.5277864e-5, 0.0022977370, 0.05, 0.097702263]


def test_relative_positions():
    mask = torch.tensor([[1, 1, 1, 1, 0, 0], [0, 1, 1, 0, 1, 0], [0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 0, 0]])
    expected = torch.tensor(
        [
            [0.0, 0.25, 0.5, 0.75, 0.0, 0.0],  # right padding, |o| = 4
            [0.0, 0.0, 1 / 3, 0.0, 2 / 3, 0.0],  # holes, |o| = 3: positions counted over valid tokens only
            [0.0, 0.0, 0.0, 0.0, 0.0, 0.5],  # left padding, |o| = 2
            [0.0] * 6,  # no valid token
        ]
    )
    out = relative_positions(mask)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, expected)


def test_position_bonus_hand_values():
    mask = torch.tensor([[1, 1, 1, 1, 0, 0]])
    torch.testing.assert_close(position_bonus(mask), torch.tensor([BONUS_4 + [0.0, 0.0]]))
    # direction = -1: gamma * sigmoid(-15 (l - 0.5)) = 0.1 * (0.99944722, 0.97702263, 0.5, 0.022977370)
    torch.testing.assert_close(
        position_bonus(mask, direction=-1.0), torch.tensor([[0.099944722, 0.097702263, 0.05, 0.0022977370, 0.0, 0.0]])
    )
    # gamma = 0 gives no bonus.
    assert torch.equal(position_bonus(mask, gamma=0.0), torch.zeros(1, 6))


def test_position_shaped_hand_values_default():
    # A = 1: cap 0.5 * 1 = 0.5 does not bind -> 1 + b. A = -1: -1 - b. Padding positions keep A.
    mask = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 0, 0]])
    out = position_shaped_advantages(torch.tensor([1.0, -1.0]), mask)
    expected = torch.tensor([[1 + b for b in BONUS_4] + [1.0, 1.0], [-1 - b for b in BONUS_4] + [-1.0, -1.0]])
    torch.testing.assert_close(out, expected)


def test_position_shaped_cap():
    # A = 0.02: cap * |A| = 0.01 binds on the last two tokens: min(b, 0.01) = (5.528e-5, 0.0022977, 0.01, 0.01)
    # -> A' = (0.02005528, 0.02229774, 0.03, 0.03). With cap=None: (0.02005528, 0.02229774, 0.07, 0.11770226).
    mask = torch.ones(1, 4, dtype=torch.long)
    advantages = torch.tensor([0.02])
    torch.testing.assert_close(
        position_shaped_advantages(advantages, mask), torch.tensor([[0.02005528, 0.02229774, 0.03, 0.03]])
    )
    torch.testing.assert_close(
        position_shaped_advantages(advantages, mask, cap=None),
        torch.tensor([[0.02005528, 0.02229774, 0.07, 0.11770226]]),
    )
    # cap = 0 turns the shaping off.
    assert torch.equal(position_shaped_advantages(advantages, mask, cap=0.0), advantages.expand(1, 4))


def test_position_shaped_token_level_advantages():
    # (B, T) advantages with direction -1: b = 0.1 * (0.99944722, 0.97702263, 0.5, 0.022977370); cap 0.5 |A|.
    #   A = (2, -0.1, 0, 3): min(b, cap |A|) = (0.099944722, 0.05, 0, 0.0022977370)
    #   A' = (2.0999447, -0.15, 0, 3.0022977)
    advantages = torch.tensor([[2.0, -0.1, 0.0, 3.0]])
    out = position_shaped_advantages(advantages, torch.ones(1, 4), direction=-1.0)
    torch.testing.assert_close(out, torch.tensor([[2.0999447, -0.15, 0.0, 3.0022977]]))


def test_position_shaped_properties_on_random_inputs():
    generator = torch.Generator().manual_seed(0)
    mask = torch.rand(32, 24, generator=generator) > 0.3
    mask[::5] = False
    for advantages in (torch.randn(32, generator=generator), torch.randn(32, 24, generator=generator)):
        advantages[::3] = 0.0  # zero advantages
        for kwargs in ({}, {"cap": None, "gamma": 2.0}, {"direction": -1.0, "scale": 3.0, "center": 0.2}):
            shaped = position_shaped_advantages(advantages, mask, **kwargs)
            base = advantages.unsqueeze(1).expand_as(shaped) if advantages.dim() == 1 else advantages
            assert shaped.shape == (32, 24)
            assert (shaped[base == 0] == 0).all()  # a zero advantage stays zero
            assert (torch.sign(shaped) == torch.sign(base)).all()  # no sign flip
            assert (shaped.abs() >= base.abs()).all()  # the bonus only increases |A|
            assert torch.equal(shaped[~mask], base[~mask])  # no bonus on padding
            if kwargs.get("cap", 0.5) is not None:
                assert ((shaped - base).abs() <= 0.5 * base.abs() + 1e-7).all()


def test_position_shaped_keeps_dtype():
    out = position_shaped_advantages(torch.tensor([1.0, -1.0], dtype=torch.float64), torch.ones(2, 3))
    assert out.dtype == torch.float64


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"gamma": -0.1}, r"`gamma` must be >= 0 \(valid range: \[0, inf\)\), got -0.1"),
        ({"gamma": float("nan")}, r"`gamma` must be >= 0 .* got nan"),
        ({"direction": float("inf")}, r"`direction` must be finite \(valid range: \(-inf, inf\)\), got inf"),
        ({"scale": float("nan")}, r"`scale` must be finite .* got nan"),
        ({"center": float("-inf")}, r"`center` must be finite .* got -inf"),
        ({"cap": -0.5}, r"`cap` must be None or >= 0 \(valid range: \[0, inf\)\), got -0.5"),
    ],
)
def test_position_invalid_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        position_shaped_advantages(torch.ones(2), torch.ones(2, 3), **kwargs)


def test_position_shape_errors():
    with pytest.raises(ValueError, match="advantages"):
        position_shaped_advantages(torch.ones(3), torch.ones(2, 4))
    with pytest.raises(ValueError, match="advantages"):
        position_shaped_advantages(torch.ones(2, 3), torch.ones(2, 4))
    with pytest.raises(ValueError, match="mask"):
        relative_positions(torch.ones(4))
