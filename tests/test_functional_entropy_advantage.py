# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
import pytest
import torch

from trl_entropy.functional import entropy_advantage


def test_hand_computed_values():
    # psi = min(alpha * H, |A| / kappa) with alpha = 0.4, kappa = 2:
    #   A = 1.0:  H = 0.5 -> min(0.2, 0.5) = 0.2 ; H = 2.0 -> min(0.8, 0.5) = 0.5 (clip binds)
    #   A = -1.0: H = 0.5 -> -1 + 0.2 = -0.8     ; H = 2.0 -> -1 + 0.5 = -0.5
    #   A = 0.3:  H = 0.1 -> min(0.04, 0.15) = 0.04 -> 0.34 ; H = 1.0 -> min(0.4, 0.15) = 0.15 -> 0.45
    advantages = torch.tensor([1.0, -1.0, 0.3])
    entropies = torch.tensor([[0.5, 2.0], [0.5, 2.0], [0.1, 1.0]])
    expected = torch.tensor([[1.2, 1.5], [-0.8, -0.5], [0.34, 0.45]])
    torch.testing.assert_close(entropy_advantage(advantages, entropies), expected)


def test_hand_computed_values_other_alpha_kappa_and_token_level_advantages():
    # alpha = 0.1, kappa = 4: A = [[2, -2]], H = [[3, 10]] -> psi = [min(0.3, 0.5), min(1.0, 0.5)] = [0.3, 0.5]
    advantages = torch.tensor([[2.0, -2.0]])
    entropies = torch.tensor([[3.0, 10.0]])
    out = entropy_advantage(advantages, entropies, alpha=0.1, kappa=4.0)
    torch.testing.assert_close(out, torch.tensor([[2.3, -1.5]]))


def test_alpha_zero_is_identity():
    advantages = torch.randn(4, 5)
    entropies = torch.rand(4, 5) * 3
    torch.testing.assert_close(entropy_advantage(advantages, entropies, alpha=0.0), advantages)


def test_properties_on_random_inputs():
    generator = torch.Generator().manual_seed(0)
    advantages = torch.randn(64, generator=generator)
    advantages[::7] = 0.0
    entropies = torch.rand(64, 32, generator=generator) * 5
    for alpha, kappa in [(0.4, 2.0), (1.0, 1.01), (10.0, 3.0)]:
        shaped = entropy_advantage(advantages, entropies, alpha=alpha, kappa=kappa)
        base = advantages.unsqueeze(1).expand_as(shaped)
        psi = shaped - base
        assert shaped.shape == (64, 32)
        assert (psi >= 0).all()  # the bonus is never negative
        assert (shaped[base == 0] == 0).all()  # a zero advantage stays zero
        assert (torch.sign(shaped) == torch.sign(base)).all()  # no sign flip
        assert (psi <= base.abs() / kappa + 1e-7).all()  # the clip
        negative = base < 0
        assert (shaped[negative] <= base[negative] * (1 - 1 / kappa) + 1e-7).all()


def test_no_gradient_through_entropy():
    advantages = torch.tensor([0.5, -2.0], requires_grad=True)
    entropies = torch.tensor([[0.1, 0.2], [0.3, 0.4]], requires_grad=True)
    entropy_advantage(advantages, entropies).sum().backward()
    assert entropies.grad is None
    assert advantages.grad is not None


@pytest.mark.parametrize(
    ("alpha", "kappa", "message"),
    [
        (-0.1, 2.0, r"`alpha` must be >= 0 \(valid range: \[0, inf\)\), got -0.1"),
        (float("nan"), 2.0, r"`alpha` must be >= 0 .* got nan"),
        (0.4, 1.0, r"`kappa` must be > 1 \(valid range: \(1, inf\)\), got 1.0"),
        (0.4, 0.5, r"`kappa` must be > 1 .* got 0.5"),
    ],
)
def test_invalid_parameters(alpha, kappa, message):
    with pytest.raises(ValueError, match=message):
        entropy_advantage(torch.ones(2), torch.ones(2, 3), alpha=alpha, kappa=kappa)


def test_shape_errors():
    with pytest.raises(ValueError, match="entropies"):
        entropy_advantage(torch.ones(2), torch.ones(2))
    with pytest.raises(ValueError, match="advantages"):
        entropy_advantage(torch.ones(3), torch.ones(2, 4))
