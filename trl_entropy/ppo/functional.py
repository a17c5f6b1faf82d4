# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""PPO with a critic on LLM completions: outcome token rewards, GAE, whitening, the clipped value loss and the
explained variance of the critic.

Conventions shared by every function: tensors of completion tokens have shape `(B, T)`, right-padded; `mask` marks
the valid tokens (a position is valid where `mask > 0`; bool, integer and float masks are accepted, float masks are
not used as weights). `values[:, t]` is the critic's value of the state before completion token `t`. A completion
ends after its last valid token (the value after it is `0`), truncated completions included: there is no
bootstrapping.
"""

import math

import torch


def _check(name: str, value, valid: bool, valid_range: str) -> None:
    if not valid:
        raise ValueError(f"`{name}` must be {valid_range}, got {value!r}.")


def _check_same_shape(**tensors: torch.Tensor) -> None:
    shapes = {name: tuple(tensor.shape) for name, tensor in tensors.items()}
    if len(set(shapes.values())) != 1:
        listed = ", ".join(f"`{name}` {shape}" for name, shape in shapes.items())
        raise ValueError(f"{', '.join(f'`{name}`' for name in shapes)} must share one shape, got {listed}.")


def _float_dtype(*tensors: torch.Tensor) -> torch.dtype:
    # At least float32: bf16 sums over thousands of tokens lose the digits these statistics need.
    dtype = torch.float32
    for tensor in tensors:
        dtype = torch.promote_types(dtype, tensor.dtype)
    return dtype


def check_ppo_params(gamma: float, lam: float, value_clip: float | None, prefix: str = "") -> None:
    r"""
    Raise a `ValueError` naming the first invalid parameter, its value and its valid range.

    Args:
        gamma (`float`):
            Discount factor of [`gae`], in `[0, 1]`.
        lam (`float`):
            GAE's `lambda` of [`gae`], in `[0, 1]`.
        value_clip (`float` or `None`):
            Clip range of [`clipped_value_loss`], `> 0`, or `None` for no clipping.
        prefix (`str`, *optional*, defaults to `""`):
            Prefix of the names in the message, e.g. `"ppo_"` for config fields.
    """
    # Chained comparisons are False for NaN, so NaN is rejected too.
    _check(f"{prefix}gamma", gamma, 0 <= gamma <= 1, "in [0, 1]")
    _check(f"{prefix}lam", lam, 0 <= lam <= 1, "in [0, 1]")
    _check(
        f"{prefix}value_clip", value_clip, value_clip is None or value_clip > 0, "> 0 (valid range: (0, inf)) or None"
    )


def outcome_token_rewards(rewards: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    r"""
    Token rewards of an outcome reward: the reward of completion `i` on its last valid token, `0` elsewhere,

    $$r_{i,t} = R_i \cdot \mathbb{1}[t = t^\text{last}_i], \qquad t^\text{last}_i = \max\{t : m_{i,t} > 0\}.$$

    A row without a valid token gets no reward.

    Args:
        rewards (`torch.Tensor`):
            One reward per completion, `(B,)`.
        mask (`torch.Tensor`):
            Mask of the valid completion tokens, `(B, T)`.

    Returns:
        `torch.Tensor`: Token rewards, `(B, T)`, float32.

    Examples:
    ```python
    >>> mask = torch.tensor([[1, 1, 1], [1, 0, 0], [0, 0, 0]])
    >>> outcome_token_rewards(torch.tensor([1.0, 0.5, 2.0]), mask)
    tensor([[0.0000, 0.0000, 1.0000],
            [0.5000, 0.0000, 0.0000],
            [0.0000, 0.0000, 0.0000]])
    ```
    """
    if mask.dim() != 2:
        raise ValueError(f"`mask` must have shape (B, T), got {tuple(mask.shape)}.")
    if rewards.dim() != 1 or rewards.size(0) != mask.size(0):
        raise ValueError(f"`rewards` must have shape (B,) with B = {mask.size(0)}, got {tuple(rewards.shape)}.")
    valid = mask > 0
    positions = torch.arange(mask.size(1), device=mask.device).expand_as(mask)
    last = torch.where(valid, positions, -1).max(dim=1).values if mask.size(1) > 0 else None
    token_rewards = torch.zeros(mask.shape, dtype=torch.float32, device=mask.device)
    if last is not None:
        rows = (last >= 0).nonzero(as_tuple=True)[0]
        token_rewards[rows, last[rows]] = rewards.detach().to(device=mask.device, dtype=torch.float32)[rows]
    return token_rewards


@torch.no_grad()
def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    mask: torch.Tensor,
    gamma: float = 1.0,
    lam: float = 1.0,
    return_returns: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    r"""
    Generalized advantage estimation ([Schulman et al., 2015](https://huggingface.co/papers/1506.02438)) over the
    valid tokens of each completion:

    $$\delta_t = r_t + \gamma V_{t+1} - V_t, \qquad A_t = \delta_t + \gamma \lambda A_{t+1},$$

    where `t + 1` is the next valid token of the row; after the last valid token `V = 0` and `A = 0` (the completion
    is over), so nothing at a padded position reaches a valid one. Masked positions inside a row (e.g. tool outputs)
    are skipped: the trajectory continues at the next valid token, with one discount step per valid token. With
    `gamma = lam = 1` and an outcome reward `R`, `A_t = R - V_t`.

    The returns, the critic's regression targets, are `R_t = A_t + V_t` (the `lambda`-returns). No gradient flows:
    the inputs are detached.

    Args:
        rewards (`torch.Tensor`):
            Token rewards, `(B, T)`, e.g. from [`outcome_token_rewards`].
        values (`torch.Tensor`):
            Values of the state before each completion token, `(B, T)`.
        mask (`torch.Tensor`):
            Mask of the valid completion tokens, `(B, T)`.
        gamma (`float`, *optional*, defaults to `1.0`):
            Discount factor, in `[0, 1]`.
        lam (`float`, *optional*, defaults to `1.0`):
            GAE's `lambda`, in `[0, 1]`: `0` gives the one-step TD error, `1` the Monte-Carlo return minus `V_t`.
        return_returns (`bool`, *optional*, defaults to `False`):
            Also return the returns `A + V`.

    Returns:
        `torch.Tensor` or `tuple[torch.Tensor, torch.Tensor]`: The advantages `(B, T)`, `0` at masked positions, in
        the promoted dtype of `rewards` and `values` (at least float32); with `return_returns=True`, the tuple
        `(advantages, returns)`, the returns also `0` at masked positions.

    Examples:
    ```python
    >>> rewards = torch.tensor([[0.0, 0.0, 1.0]])
    >>> values = torch.tensor([[0.5, 0.6, 0.7]])
    >>> gae(rewards, values, torch.ones(1, 3), gamma=1.0, lam=1.0)  # R - V_t
    tensor([[0.5000, 0.4000, 0.3000]])
    ```
    """
    _check("gamma", gamma, 0 <= gamma <= 1, "in [0, 1]")
    _check("lam", lam, 0 <= lam <= 1, "in [0, 1]")
    if rewards.dim() != 2:
        raise ValueError(f"`rewards` must have shape (B, T), got {tuple(rewards.shape)}.")
    _check_same_shape(rewards=rewards, values=values, mask=mask)
    dtype = _float_dtype(rewards, values)
    valid = mask > 0
    # `where`, not a product: a NaN or inf at a padded position must not reach the valid ones.
    rewards = torch.where(valid, rewards.detach().to(dtype), 0)
    values = torch.where(valid, values.detach().to(dtype), 0)
    advantages = torch.zeros_like(values)
    next_value = torch.zeros(values.size(0), dtype=dtype, device=values.device)
    next_advantage = torch.zeros_like(next_value)
    for t in reversed(range(values.size(1))):
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        advantage = delta + gamma * lam * next_advantage
        advantages[:, t] = torch.where(valid[:, t], advantage, 0)
        next_value = torch.where(valid[:, t], values[:, t], next_value)
        next_advantage = torch.where(valid[:, t], advantage, next_advantage)
    if not return_returns:
        return advantages
    return advantages, torch.where(valid, advantages + values, 0)


def masked_sums(values: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""
    Sufficient statistics of the valid entries: $\sum_t x_t$, $\sum_t x_t^2$ and the number of valid entries `n`.

    Summing them across processes (an all-reduce) and passing the totals to [`mean_var_from_sums`] gives the
    statistics of the global batch; on one process, [`masked_mean_var`] is exactly that computation.

    Args:
        values (`torch.Tensor`):
            Values, any shape.
        mask (`torch.Tensor`):
            Mask of the valid entries, the shape of `values`.

    Returns:
        `tuple[torch.Tensor, torch.Tensor, torch.Tensor]`: `(sum, sum_of_squares, count)`, 0-dim float64 tensors on
        the device of `values` (float64 so that the variance `sum_of_squares / n - mean^2` keeps its digits).
    """
    _check_same_shape(values=values, mask=mask)
    valid = mask > 0
    x = torch.where(valid, values.to(torch.float64), 0)
    return x.sum(), (x * x).sum(), valid.sum().to(torch.float64)


def mean_var_from_sums(
    total: torch.Tensor, total_of_squares: torch.Tensor, count: torch.Tensor, unbiased: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""
    Mean and variance from the sums of [`masked_sums`]:

    $$\mu = \frac{S_1}{n}, \qquad \sigma^2 = \frac{S_2 - n \mu^2}{n - 1} \ \text{(unbiased)} \quad \text{or} \quad
    \frac{S_2 - n \mu^2}{n} \ \text{(population)}.$$

    Degenerate cases: with `n = 0` the mean is `0`; the variance is `0` when it is undefined (`n < 2` unbiased,
    `n = 0` population), and never negative (rounding is clamped away).

    Args:
        total (`torch.Tensor`), total_of_squares (`torch.Tensor`), count (`torch.Tensor`):
            `S_1`, `S_2` and `n`, as returned by [`masked_sums`] (possibly summed across processes).
        unbiased (`bool`, *optional*, defaults to `True`):
            Divide by `n - 1` (Bessel's correction) instead of `n`.

    Returns:
        `tuple[torch.Tensor, torch.Tensor]`: `(mean, var)`, 0-dim float64 tensors.
    """
    total, total_of_squares, count = (
        torch.as_tensor(s, dtype=torch.float64) for s in (total, total_of_squares, count)
    )
    mean = total / count.clamp(min=1)
    dof = count - 1 if unbiased else count
    var = ((total_of_squares - count * mean * mean) / dof.clamp(min=1)).clamp(min=0)
    return mean, torch.where(dof > 0, var, 0)


def masked_mean_var(
    values: torch.Tensor, mask: torch.Tensor, unbiased: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""
    Mean and variance of the valid entries, $\mu = \frac{1}{n} \sum_t x_t$ and
    $\sigma^2 = \frac{1}{n - 1} \sum_t (x_t - \mu)^2$ (or $\frac{1}{n}$ with `unbiased=False`), computed as
    `mean_var_from_sums(*masked_sums(values, mask), unbiased)` so that a cross-process version matches it exactly.

    Args:
        values (`torch.Tensor`):
            Values, any shape.
        mask (`torch.Tensor`):
            Mask of the valid entries, the shape of `values`.
        unbiased (`bool`, *optional*, defaults to `True`):
            Divide by `n - 1` (Bessel's correction) instead of `n`.

    Returns:
        `tuple[torch.Tensor, torch.Tensor]`: `(mean, var)`, 0-dim float64 tensors; see [`mean_var_from_sums`] for
        fewer than two valid entries.
    """
    return mean_var_from_sums(*masked_sums(values, mask), unbiased=unbiased)


def whiten(
    values: torch.Tensor,
    mask: torch.Tensor,
    shift_mean: bool = True,
    eps: float = 1e-8,
    mean: torch.Tensor | float | None = None,
    var: torch.Tensor | float | None = None,
) -> torch.Tensor:
    r"""
    Whiten the valid entries (PPO's advantage normalisation):

    $$\hat x_t = \frac{x_t - \mu}{\sigma + \epsilon}, \qquad \text{or, with `shift_mean=False` (scale only),} \qquad
    \hat x_t = \frac{x_t - \mu}{\sigma + \epsilon} + \mu,$$

    with `mu` and `sigma^2` the mean and the unbiased variance (`n - 1`, as most PPO code) of the valid entries, see
    [`masked_mean_var`]. Masked entries are `0` in the output. For the statistics of the global batch, all-reduce
    [`masked_sums`], pass them through [`mean_var_from_sums`] and give the result as `mean` and `var`.

    Args:
        values (`torch.Tensor`):
            Values to whiten, any shape (usually advantages `(B, T)`).
        mask (`torch.Tensor`):
            Mask of the valid entries, the shape of `values`.
        shift_mean (`bool`, *optional*, defaults to `True`):
            Center on `0`; with `False` only the scale changes and the mean stays `mu`.
        eps (`float`, *optional*, defaults to `1e-8`):
            Added to the standard deviation, `>= 0`.
        mean (`torch.Tensor` or `float`, *optional*):
            Precomputed mean to use instead of the local one; give it together with `var`.
        var (`torch.Tensor` or `float`, *optional*):
            Precomputed variance to use instead of the local one; give it together with `mean`.

    Returns:
        `torch.Tensor`: Whitened values, the shape and dtype of `values`, `0` at masked positions.

    Examples:
    ```python
    >>> values = torch.tensor([[1.0, 2.0, 3.0, 100.0]])
    >>> whiten(values, torch.tensor([[1, 1, 1, 0]]))  # mean 2, unbiased std 1; the masked 100 is ignored
    tensor([[-1.,  0.,  1.,  0.]])
    ```
    """
    _check("eps", eps, eps >= 0, ">= 0 (valid range: [0, inf))")
    if (mean is None) != (var is None):
        raise ValueError(f"`mean` and `var` must be given together, got mean={mean!r} and var={var!r}.")
    _check_same_shape(values=values, mask=mask)
    if mean is None:
        mean, var = masked_mean_var(values, mask)
    else:
        mean = torch.as_tensor(mean, dtype=torch.float64, device=values.device)
        var = torch.as_tensor(var, dtype=torch.float64, device=values.device)
        if mean.numel() != 1 or var.numel() != 1 or (var < 0).any():
            raise ValueError(f"`mean` and `var` must be scalars with `var` >= 0, got mean={mean!r} and var={var!r}.")
    mean, var = mean.to(values.device), var.to(values.device)
    whitened = (values.to(torch.float64) - mean) / (var.sqrt() + eps)
    if not shift_mean:
        whitened = whitened + mean
    return torch.where(mask > 0, whitened, 0).to(values.dtype)


def clipped_value_loss(
    values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    mask: torch.Tensor,
    clip_range: float | None = 0.2,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""
    PPO's clipped value loss, a token mean over the valid tokens of the batch:

    $$V^\text{clip}_t = V^\text{old}_t + \mathrm{clamp}(V_t - V^\text{old}_t, -\varepsilon, \varepsilon), \qquad
    \mathcal{L} = \frac{1}{2 n} \sum_{t\,\text{valid}} \max\left((V_t - R_t)^2, (V^\text{clip}_t - R_t)^2\right).$$

    The gradient flows through `values` only (`old_values` and `returns` are detached); where the clipped term is the
    larger and `V_t` is outside `V^old_t ± epsilon`, that token has no gradient. With `clip_range=None`,
    $\mathcal{L} = \frac{1}{2n} \sum_t (V_t - R_t)^2$.

    Args:
        values (`torch.Tensor`):
            Values of the current critic, with gradient, e.g. `(B, T)`.
        old_values (`torch.Tensor`):
            Values of the critic that scored the batch (the ones used in [`gae`]), the shape of `values`.
        returns (`torch.Tensor`):
            Regression targets, e.g. the returns of [`gae`], the shape of `values`.
        mask (`torch.Tensor`):
            Mask of the valid tokens, the shape of `values`.
        clip_range (`float` or `None`, *optional*, defaults to `0.2`):
            `epsilon`, `> 0`, in the units of the values; `None` disables clipping.

    Returns:
        `tuple[torch.Tensor, torch.Tensor]`: The loss (0-dim, at least float32, with gradient; `0` still connected to
        `values` when no token is valid) and the clip fraction (0-dim float32, no gradient): the share of valid
        tokens where the clipped term is strictly larger, `0` without clipping or without a valid token.

    Examples:
    ```python
    >>> values = torch.tensor([[1.0, 0.5]], requires_grad=True)
    >>> old_values, returns = torch.tensor([[0.5, 0.4]]), torch.tensor([[2.0, 1.0]])
    >>> loss, clip_fraction = clipped_value_loss(values, old_values, returns, torch.ones(1, 2))
    >>> loss, clip_fraction  # 0.5 * ((0.7 - 2)^2 + (0.5 - 1)^2) / 2, the first token clipped
    (tensor(0.4850, grad_fn=<DivBackward0>), tensor(0.5000))
    ```
    """
    _check("clip_range", clip_range, clip_range is None or clip_range > 0, "> 0 (valid range: (0, inf)) or None")
    _check_same_shape(values=values, old_values=old_values, returns=returns, mask=mask)
    dtype = _float_dtype(values)
    valid = mask > 0
    predicted = values.to(dtype)
    targets = returns.detach().to(dtype)
    losses = (predicted - targets) ** 2
    clipped = torch.zeros_like(valid)
    if clip_range is not None:
        anchors = old_values.detach().to(dtype)
        clipped_values = anchors + (predicted - anchors).clamp(-clip_range, clip_range)
        clipped_losses = (clipped_values - targets) ** 2
        clipped = valid & (clipped_losses > losses)
        losses = torch.maximum(losses, clipped_losses)
    count = valid.sum().clamp(min=1)
    loss = 0.5 * torch.where(valid, losses, 0).sum() / count
    return loss, (clipped.sum() / count).to(torch.float32)


@torch.no_grad()
def explained_variance(values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    r"""
    Explained variance of the critic over the valid tokens, a standard diagnostic:

    $$\mathrm{EV} = 1 - \frac{\mathrm{Var}[R - V]}{\mathrm{Var}[R]},$$

    `1` for a perfect critic, `0` for one no better than a constant, negative for a worse one. Both variances use the
    same divisor (which cancels); the result is NaN when `Var[R] = 0` or no token is valid.

    Args:
        values (`torch.Tensor`):
            Values of the critic, e.g. `(B, T)`.
        returns (`torch.Tensor`):
            Returns, the shape of `values`.
        mask (`torch.Tensor`):
            Mask of the valid tokens, the shape of `values`.

    Returns:
        `torch.Tensor`: The explained variance, 0-dim float32, no gradient.

    Examples:
    ```python
    >>> explained_variance(torch.tensor([1.0, 2.0, 2.0, 5.0]), torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.ones(4))
    tensor(0.6000)
    ```
    """
    _check_same_shape(values=values, returns=returns, mask=mask)
    valid = mask > 0
    targets = returns.detach().to(torch.float64)[valid]
    residuals = targets - values.detach().to(torch.float64)[valid]
    # Two passes in float64: a constant `returns` gives a variance of exactly 0, hence NaN, not a rounding residue.
    # Without a valid token both means are NaN, and so is the result.
    var_returns = (targets - targets.mean()).square().mean()
    var_residuals = (residuals - residuals.mean()).square().mean()
    ratio = var_residuals / torch.where(var_returns > 0, var_returns, math.nan)
    return (1 - ratio).to(torch.float32)
