# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Position-based advantage shaping (Deng et al., arXiv 2508.02260); METHODS.md, position-based shaping."""

import math

import torch


def check_position_advantage_params(
    gamma: float, direction: float, scale: float, center: float, cap: float | None, prefix: str = ""
) -> None:
    r"""
    Raise a `ValueError` unless `gamma >= 0`, `direction`, `scale` and `center` are finite, and `cap` is `None` or
    `>= 0`.

    A negative `gamma` or `cap` would make the bonus point against the advantage, which could shrink it or flip its
    sign; non-finite values would turn the bonus into NaN.

    Args:
        gamma (`float`):
            Bonus amplitude.
        direction (`float`):
            Sign of the sigmoid slope.
        scale (`float`):
            Steepness of the sigmoid.
        center (`float`):
            Relative position of the sigmoid midpoint.
        cap (`float` or `None`):
            Cap of the bonus relative to `|A|`, or `None` for no cap.
        prefix (`str`, *optional*, defaults to `""`):
            Prefix of the parameter names in the error message, e.g. `"position_advantage_"` for config fields.
    """
    if not gamma >= 0:  # `not >=` also rejects NaN
        raise ValueError(f"`{prefix}gamma` must be >= 0 (valid range: [0, inf)), got {gamma}.")
    for name, value in (("direction", direction), ("scale", scale), ("center", center)):
        if not math.isfinite(value):
            raise ValueError(f"`{prefix}{name}` must be finite (valid range: (-inf, inf)), got {value}.")
    if cap is not None and not cap >= 0:
        raise ValueError(f"`{prefix}cap` must be None or >= 0 (valid range: [0, inf)), got {cap}.")


def relative_positions(mask: torch.Tensor) -> torch.Tensor:
    r"""
    Relative position \\(l_t = (t - 1) / |o|\\) of each valid token in its completion, where \\(t = 1, \dots, |o|\\)
    counts the valid tokens only and \\(|o|\\) is the number of valid tokens.

    Positions are the cumulative count of valid tokens, so the result does not assume right padding: any mask works,
    including left padding or holes.

    Args:
        mask (`torch.Tensor`):
            Mask of shape `(B, T)`; non-zero entries mark valid tokens.

    Returns:
        `torch.Tensor`: Relative positions of shape `(B, T)` in `float32`, in `[0, 1)` at valid positions and `0` at
        invalid ones.

    Examples:
    ```python
    >>> relative_positions(torch.tensor([[1, 1, 1, 1, 0], [0, 1, 1, 0, 1]]))
    tensor([[0.0000, 0.2500, 0.5000, 0.7500, 0.0000],
            [0.0000, 0.0000, 0.3333, 0.0000, 0.6667]])
    ```
    """
    if mask.dim() != 2:
        raise ValueError(f"`mask` must have shape (B, T), got {tuple(mask.shape)}.")
    valid = mask != 0
    rank = valid.cumsum(dim=-1) - 1  # t - 1 at valid positions
    length = valid.sum(dim=-1, keepdim=True).clamp(min=1)
    return torch.where(valid, rank.float() / length, 0.0)


def position_bonus(
    mask: torch.Tensor, gamma: float = 0.1, direction: float = 1.0, scale: float = 15.0, center: float = 0.5
) -> torch.Tensor:
    r"""
    Position bonus of the position-based shaping of [Decomposing the Entropy-Performance Exchange: The Missing Keys to
    Unlocking Effective Reinforcement Learning](https://huggingface.co/papers/2508.02260):

    $$b_t = \gamma \cdot \sigma\big(d \cdot m \cdot (l_t - c)\big),$$

    with \\(l_t\\) the relative position of [`relative_positions`], \\(d\\) = `direction`, \\(m\\) = `scale` and
    \\(c\\) = `center`. The paper writes the shift as \\(\sigma(m (l + 0.5))\\), which is nearly constant on
    \\([0, 1)\\); the authors' code uses \\(l - 0.5\\), which this function follows (`center=0.5`).

    Args:
        mask (`torch.Tensor`):
            Mask of shape `(B, T)`; non-zero entries mark valid tokens.
        gamma (`float`, *optional*, defaults to `0.1`):
            Bonus amplitude. Must be `>= 0`.
        direction (`float`, *optional*, defaults to `1.0`):
            Sign of the slope: `1.0` favours tokens near the end of the completion, `-1.0` tokens near the start. Any
            finite value is accepted; a magnitude other than 1 only multiplies `scale`.
        scale (`float`, *optional*, defaults to `15.0`):
            Steepness of the sigmoid. Must be finite.
        center (`float`, *optional*, defaults to `0.5`):
            Relative position where the bonus is `gamma / 2`. Must be finite.

    Returns:
        `torch.Tensor`: Bonus of shape `(B, T)` in `float32`, in `[0, gamma]` and `0` at invalid positions.

    Examples:
    ```python
    >>> position_bonus(torch.tensor([[1, 1, 1, 1, 0]]))
    tensor([[5.5278e-05, 2.2977e-03, 5.0000e-02, 9.7702e-02, 0.0000e+00]])
    ```
    """
    check_position_advantage_params(gamma, direction, scale, center, cap=None)
    positions = relative_positions(mask)
    bonus = gamma * torch.sigmoid(direction * scale * (positions - center))
    return torch.where(mask != 0, bonus, 0.0)


def position_shaped_advantages(
    advantages: torch.Tensor,
    mask: torch.Tensor,
    gamma: float = 0.1,
    direction: float = 1.0,
    scale: float = 15.0,
    center: float = 0.5,
    cap: float | None = 0.5,
) -> torch.Tensor:
    r"""
    Position-based advantage shaping of [Decomposing the Entropy-Performance Exchange: The Missing Keys to Unlocking
    Effective Reinforcement Learning](https://huggingface.co/papers/2508.02260):

    $$A'_t = A_t + \mathrm{sign}(A_t) \cdot \min\big(b_t, \mathrm{cap} \cdot |A_t|\big),$$

    with \\(b_t\\) the bonus of [`position_bonus`] (see there for the `center` convention). The bonus is added with
    the sign of the advantage and is non-negative (`gamma >= 0`, `cap >= 0`, the sigmoid is positive), so
    \\(|A'_t| = |A_t| + \min(b_t, \mathrm{cap} |A_t|) \geq |A_t|\\) and \\(\mathrm{sign}(A'_t) = \mathrm{sign}(A_t)\\):
    the sign never flips, and a zero advantage stays zero because \\(\mathrm{sign}(0) = 0\\). Invalid positions get no
    bonus.

    Args:
        advantages (`torch.Tensor`):
            Advantages of shape `(B,)` (one per completion, as TRL's GRPO computes them) or `(B, T)` (per token).
        mask (`torch.Tensor`):
            Mask of shape `(B, T)`; non-zero entries mark valid tokens.
        gamma (`float`, *optional*, defaults to `0.1`):
            Bonus amplitude. Must be `>= 0`.
        direction (`float`, *optional*, defaults to `1.0`):
            Sign of the sigmoid slope: `1.0` favours late tokens, `-1.0` early tokens. Must be finite.
        scale (`float`, *optional*, defaults to `15.0`):
            Steepness of the sigmoid. Must be finite.
        center (`float`, *optional*, defaults to `0.5`):
            Relative position of the sigmoid midpoint. Must be finite.
        cap (`float` or `None`, *optional*, defaults to `0.5`):
            The bonus is capped at `cap * |A_t|`. Must be `>= 0`; `None` disables the cap.

    Returns:
        `torch.Tensor`: Shaped advantages of shape `(B, T)`, in the dtype of `advantages`.

    Examples:
    ```python
    >>> advantages = torch.tensor([1.0, -0.02])
    >>> mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 1]])
    >>> position_shaped_advantages(advantages, mask)
    tensor([[ 1.0001,  1.0023,  1.0500,  1.0977],
            [-0.0201, -0.0223, -0.0300, -0.0300]])
    ```
    """
    check_position_advantage_params(gamma, direction, scale, center, cap)
    if mask.dim() != 2:
        raise ValueError(f"`mask` must have shape (B, T), got {tuple(mask.shape)}.")
    if advantages.dim() == 1:
        advantages = advantages.unsqueeze(1)
    if advantages.dim() != 2 or advantages.size(0) != mask.size(0) or advantages.size(1) not in (1, mask.size(1)):
        raise ValueError(
            f"`advantages` must have shape (B,) or (B, T) with (B, T) = {tuple(mask.shape)}, got "
            f"{tuple(advantages.shape)}."
        )
    advantages = advantages.expand(mask.shape)
    bonus = position_bonus(mask, gamma=gamma, direction=direction, scale=scale, center=center).to(advantages.dtype)
    if cap is not None:
        bonus = torch.minimum(bonus, cap * advantages.abs())
    return advantages + torch.sign(advantages) * bonus
