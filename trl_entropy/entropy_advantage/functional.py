# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Entropy-based advantage shaping (Cheng et al., arXiv 2506.14758); METHODS.md section 1."""

import torch


def check_entropy_advantage_params(alpha: float, kappa: float, prefix: str = "") -> None:
    r"""
    Raise a `ValueError` unless `alpha >= 0` and `kappa > 1`.

    Outside this range the shaping loses the two properties that make it safe: `alpha < 0` makes the bonus negative,
    and `kappa <= 1` lets the bonus reach or exceed `|A|`, so a negative advantage could become zero or positive.

    Args:
        alpha (`float`):
            Entropy coefficient.
        kappa (`float`):
            Clip divisor of the advantage magnitude.
        prefix (`str`, *optional*, defaults to `""`):
            Prefix of the parameter names in the error message, e.g. `"entropy_advantage_"` for config fields.
    """
    if not alpha >= 0:  # `not >=` also rejects NaN
        raise ValueError(f"`{prefix}alpha` must be >= 0 (valid range: [0, inf)), got {alpha}.")
    if not kappa > 1:
        raise ValueError(f"`{prefix}kappa` must be > 1 (valid range: (1, inf)), got {kappa}.")


def entropy_advantage(
    advantages: torch.Tensor, entropies: torch.Tensor, alpha: float = 0.4, kappa: float = 2.0
) -> torch.Tensor:
    r"""
    Entropy-based advantage shaping of [Reasoning with Exploration: An Entropy
    Perspective](https://huggingface.co/papers/2506.14758):

    $$\psi_t = \min\left(\alpha \cdot \mathrm{sg}(H_t), \frac{|A_t|}{\kappa}\right), \qquad A'_t = A_t + \psi_t.$$

    The entropy term is detached, so no gradient flows through `entropies`. Because `psi_t >= 0` and
    `psi_t <= |A_t| / kappa` with `kappa > 1`, a zero advantage stays zero and the sign of a non-zero advantage never
    flips: for `A_t < 0`, `A'_t <= A_t (1 - 1 / kappa) < 0`.

    Args:
        advantages (`torch.Tensor`):
            Advantages of shape `(B,)` (one per completion, as TRL's GRPO computes them) or `(B, T)` (per token).
        entropies (`torch.Tensor`):
            Per-token entropies of the current policy in nats, shape `(B, T)`.
        alpha (`float`, *optional*, defaults to `0.4`):
            Entropy coefficient. The paper uses `0.4` for GRPO and `0.1` for PPO. Must be `>= 0`.
        kappa (`float`, *optional*, defaults to `2.0`):
            The bonus is clipped at `|A_t| / kappa`. Must be `> 1`.

    Returns:
        `torch.Tensor`: Shaped advantages `A'` of shape `(B, T)`, in the dtype of `advantages`.

    Examples:
    ```python
    >>> advantages = torch.tensor([1.0, -1.0])
    >>> entropies = torch.tensor([[0.5, 2.0], [0.5, 2.0]])
    >>> entropy_advantage(advantages, entropies, alpha=0.4, kappa=2.0)
    tensor([[ 1.2000,  1.5000],
            [-0.8000, -0.5000]])
    ```
    """
    check_entropy_advantage_params(alpha, kappa)
    if entropies.dim() != 2:
        raise ValueError(f"`entropies` must have shape (B, T), got {tuple(entropies.shape)}.")
    if advantages.dim() == 1:
        advantages = advantages.unsqueeze(1)
    if advantages.dim() != 2 or advantages.size(0) != entropies.size(0):
        raise ValueError(
            f"`advantages` must have shape (B,) or (B, T) with B = {entropies.size(0)}, got {tuple(advantages.shape)}."
        )
    psi = torch.minimum(alpha * entropies.detach().to(advantages.dtype), advantages.abs() / kappa)
    return advantages + psi
