# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Clip-Cov and KL-Cov (Cui et al., arXiv 2505.22617, "The Entropy Mechanism of Reinforcement Learning for Reasoning
Language Models"); METHODS.md section 9.

The paper shows that the change of policy entropy in a policy-gradient step is driven by the covariance between a
token's log-probability and its advantage, and controls entropy by acting on the few tokens of largest covariance:

- token covariance over the `n` valid tokens of one selection set (a micro-batch in the authors' code):
  `cov_t = (A_t - mean A) (logp_t - mean logp)`, the means taken over the same valid tokens;
- Clip-Cov: the candidates are the tokens with `lb < cov_t < ub`; `k = max(1, floor(ratio * n))` of them (all of
  them when there are fewer) are drawn uniformly at random and get no policy gradient;
- KL-Cov: the `k = max(1, floor(ratio * n))` tokens of largest `cov_t` get the extra loss `coef * |logp_t -
  logp_old,t|`.

The selection set is a micro-batch of one process in the authors' code and the whole step over all processes in the
paper. [`valid_token_vector`] and [`split_valid_token_vector`] turn several `(B, T)` tensors (the micro-batches of a
step, with their padding) into one `(1, n)` row of their valid tokens and back, so that the same functions serve both:
applied to the row of every micro-batch of every process, they give exactly what they give on one hand-padded batch
that stacks those micro-batches.

Every function here is free of trainer state and of gradient, except [`kl_cov_penalty`] (gradient through `logps`).
"""

import math

import torch

from ..tensor_checks import check_value as _check
from ..tensor_checks import token_advantages as _token_advantages


def check_clip_cov_params(ratio: float, lower: float, upper: float, prefix: str = "") -> None:
    r"""
    Raise a `ValueError` naming the first invalid parameter of [`clip_cov_selection`], its value and its valid range.

    Args:
        ratio (`float`), lower (`float`), upper (`float`):
            The share of valid tokens selected and the bounds of the covariance band.
        prefix (`str`, *optional*, defaults to `""`):
            Prefix of the names in the message, e.g. `"clip_cov_"` for the config fields `clip_cov_ratio`,
            `clip_cov_lb` and `clip_cov_ub` (the names are then `ratio`, `lb` and `ub`).
    """
    names = ("ratio", "lb", "ub") if prefix else ("ratio", "lower", "upper")
    _check(prefix + names[0], ratio, 0 < ratio <= 1, "in (0, 1]")
    _check(prefix + names[1], lower, math.isfinite(lower), "a finite number")
    _check(
        prefix + names[2],
        upper,
        math.isfinite(upper) and upper > lower,
        f"a finite number > `{prefix + names[1]}` ({lower})",
    )


def _check_coef(name: str, coef: float) -> None:
    _check(name, coef, coef >= 0 and math.isfinite(coef), "a finite number >= 0")


def _check_same_shape(cov: torch.Tensor, mask: torch.Tensor) -> None:
    if cov.shape != mask.shape:
        raise ValueError(f"`cov` and `mask` must share one shape, got {tuple(cov.shape)} and {tuple(mask.shape)}.")


def check_kl_cov_params(ratio: float, coef: float, prefix: str = "") -> None:
    r"""
    Raise a `ValueError` naming the first invalid parameter of [`kl_cov_selection`] / [`kl_cov_penalty`], its value
    and its valid range.

    Args:
        ratio (`float`), coef (`float`):
            The share of valid tokens selected and the coefficient of the penalty.
        prefix (`str`, *optional*, defaults to `""`):
            Prefix of the names in the message, e.g. `"kl_cov_"` for config fields.
    """
    _check(prefix + "ratio", ratio, 0 < ratio <= 1, "in (0, 1]")
    _check_coef(prefix + "coef", coef)


def selection_count(ratio: float, num_valid: int) -> int:
    r"""
    Number of tokens Clip-Cov and KL-Cov select among `num_valid` valid tokens: `max(1, floor(ratio * num_valid))`,
    and `0` when there is no valid token.

    This is the authors' rounding (verl's `max(int(ratio * n), 1)`, `int` truncating towards zero): at least one token
    whenever there is one, so with the default `ratio = 2e-4` every micro-batch of fewer than 10,000 valid tokens
    selects exactly one. A tiny `1e-9` is added before flooring so that products such as `0.3 * 10` give `3`.

    Args:
        ratio (`float`):
            Share of the valid tokens, in `(0, 1]`.
        num_valid (`int`):
            Number of valid tokens, `>= 0`.

    Returns:
        `int`: The number of tokens to select.
    """
    if num_valid <= 0:
        return 0
    return min(num_valid, max(1, math.floor(ratio * num_valid + 1e-9)))


def token_covariance(advantages: torch.Tensor, logps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    r"""
    Per-token covariance between advantage and log-probability, centred over the valid tokens (no gradient):

    $$\mathrm{cov}_t = \left(A_t - \frac{1}{n}\sum_{s \in V} A_s\right)
        \left(\log \pi(o_t) - \frac{1}{n}\sum_{s \in V} \log \pi(o_s)\right), \quad t \in V,$$

    with `V` the `n` valid tokens of the whole tensor (one selection set). Both means are over tokens, not
    completions: a completion's advantage counts once per valid token, as in the authors' masked mean.

    Args:
        advantages (`torch.Tensor`):
            Advantages, `(B,)` (one per completion) or `(B, T)`.
        logps (`torch.Tensor`):
            Log-probabilities of the sampled tokens under the current policy, `(B, T)`.
        mask (`torch.Tensor`):
            Mask of the valid completion tokens, `(B, T)`.

    Returns:
        `torch.Tensor`: `cov_t`, `(B, T)`, float32, detached, `0` outside the mask (and everywhere when no token is
        valid).

    Examples:
    ```python
    >>> advantages = torch.tensor([1.0, -1.0])  # one per completion
    >>> logps = torch.tensor([[-1.0, -3.0], [-2.0, -9.0]])
    >>> mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])  # mean A = 1/3, mean logp = -2
    >>> token_covariance(advantages, logps, mask)
    tensor([[ 0.6667, -0.6667],
            [-0.0000,  0.0000]])
    ```
    """
    if logps.dim() != 2 or mask.shape != logps.shape:
        raise ValueError(
            f"`logps` and `mask` must share one (B, T) shape, got {tuple(logps.shape)} and {tuple(mask.shape)}."
        )
    valid = (mask > 0).float()
    advantages = _token_advantages(advantages.detach().float(), logps.shape)
    logps = logps.detach().float()
    num_valid = valid.sum().clamp(min=1)
    centred_advantages = advantages - (advantages * valid).sum() / num_valid
    centred_logps = logps - (logps * valid).sum() / num_valid
    return centred_advantages * centred_logps * valid


def clip_cov_selection(
    cov: torch.Tensor,
    mask: torch.Tensor,
    ratio: float = 0.0002,
    lower: float = 1.0,
    upper: float = 5.0,
    generator: torch.Generator | None = None,
    exclude: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""
    The tokens Clip-Cov detaches from the policy gradient (no gradient).

    1. Candidates: valid tokens with `lower < cov_t < upper` (strict on both sides), and not in `exclude` (the
       authors' code leaves out tokens whose PPO ratio is already clipped).
    2. `k = selection_count(ratio, n)` with `n` the number of **all** valid tokens, not of the candidates.
    3. `min(k, number of candidates)` candidates are drawn uniformly without replacement: a random permutation of the
       candidates in row-major order, drawn on the CPU from `generator`, and its first `k`. The same generator state
       and inputs give the same selection.

    Args:
        cov (`torch.Tensor`):
            Token covariances from [`token_covariance`], `(B, T)`.
        mask (`torch.Tensor`):
            Mask of the valid completion tokens, `(B, T)`.
        ratio (`float`, *optional*, defaults to `0.0002`):
            Share of the valid tokens selected, in `(0, 1]`.
        lower (`float`, *optional*, defaults to `1.0`), upper (`float`, *optional*, defaults to `5.0`):
            Bounds of the covariance band, `lower < upper`.
        generator (`torch.Generator`, *optional*):
            CPU generator of the draw; `None` uses torch's global generator.
        exclude (`torch.Tensor`, *optional*):
            Boolean `(B, T)` mask of tokens that are never candidates.

    Returns:
        `torch.Tensor`: Boolean `(B, T)` mask of the selected tokens.
    """
    check_clip_cov_params(ratio, lower, upper)
    _check_same_shape(cov, mask)
    valid = mask > 0
    candidates = valid & (cov > lower) & (cov < upper)
    if exclude is not None:
        candidates &= ~exclude.bool()
    positions = candidates.reshape(-1).nonzero(as_tuple=True)[0]
    num_selected = min(selection_count(ratio, int(valid.sum())), positions.numel())
    selected = torch.zeros(cov.numel(), dtype=torch.bool, device=cov.device)
    if num_selected > 0:
        order = torch.randperm(positions.numel(), generator=generator, device="cpu")[:num_selected]
        selected[positions[order.to(positions.device)]] = True
    return selected.view(cov.shape)


def kl_cov_selection(cov: torch.Tensor, mask: torch.Tensor, ratio: float = 0.0002) -> torch.Tensor:
    r"""
    The tokens KL-Cov constrains (no gradient): the `k = selection_count(ratio, n)` valid tokens of largest `cov_t`,
    `n` the number of valid tokens. Ties are broken by position, first in row-major order (the authors' `topk` leaves
    the order of ties unspecified).

    Args:
        cov (`torch.Tensor`):
            Token covariances from [`token_covariance`], `(B, T)`.
        mask (`torch.Tensor`):
            Mask of the valid completion tokens, `(B, T)`.
        ratio (`float`, *optional*, defaults to `0.0002`):
            Share of the valid tokens selected, in `(0, 1]`.

    Returns:
        `torch.Tensor`: Boolean `(B, T)` mask of the selected tokens.

    Examples:
    ```python
    >>> cov = torch.tensor([[0.5, 2.0, 2.0, -1.0]])
    >>> kl_cov_selection(cov, torch.ones(1, 4), ratio=0.5)  # k = 2: the tie at 2.0, both
    tensor([[False,  True,  True, False]])
    ```
    """
    check_kl_cov_params(ratio, coef=0.0)
    _check_same_shape(cov, mask)
    positions = (mask > 0).reshape(-1).nonzero(as_tuple=True)[0]
    num_selected = selection_count(ratio, positions.numel())
    selected = torch.zeros(cov.numel(), dtype=torch.bool, device=cov.device)
    if num_selected > 0:
        ranking = torch.sort(cov.detach().float().reshape(-1)[positions], descending=True, stable=True).indices
        selected[positions[ranking[:num_selected]]] = True
    return selected.view(cov.shape)


def kl_cov_penalty(
    logps: torch.Tensor, old_logps: torch.Tensor, selection: torch.Tensor, coef: float = 1.0
) -> torch.Tensor:
    r"""
    KL-Cov's per-token penalty ([arXiv 2505.22617](https://huggingface.co/papers/2505.22617)):

    $$\ell_t = \mathrm{coef} \cdot \left|\log \pi_\theta(o_t) - \log \pi_{\theta_\text{old}}(o_t)\right|
        \quad \text{on the selected tokens, } 0 \text{ elsewhere.}$$

    The gradient flows through `logps` only. When the update is on-policy, `old_logps` equals `logps` and the penalty
    is `0` with zero gradient. The loss term is the sum over the valid tokens divided by their number (the authors'
    token mean).

    Args:
        logps (`torch.Tensor`):
            Log-probs of the current policy, `(B, T)`, with gradient.
        old_logps (`torch.Tensor`):
            Log-probs of the policy that sampled the batch, `(B, T)` (detached here).
        selection (`torch.Tensor`):
            Boolean `(B, T)` mask from [`kl_cov_selection`].
        coef (`float`, *optional*, defaults to `1.0`):
            Coefficient, `>= 0` (the authors' recipe: `1.0`; verl's config default: `0.1`).

    Returns:
        `torch.Tensor`: The penalty per token, `(B, T)`, in the dtype of `logps`.
    """
    _check_coef("coef", coef)
    return (logps - old_logps.detach()).abs() * (selection.to(logps.dtype) * coef)


def ppo_clipped_tokens(
    logps: torch.Tensor,
    old_logps: torch.Tensor,
    advantages: torch.Tensor,
    epsilon_low: float = 0.2,
    epsilon_high: float = 0.2,
) -> torch.Tensor:
    r"""
    Tokens whose PPO surrogate is on its clipped branch (no gradient): with the token-level ratio
    `r_t = exp(logp_t - logp_old,t)`, `A_t > 0` and `r_t > 1 + epsilon_high`, or `A_t < 0` and `r_t < 1 - epsilon_low`.
    These receive no policy gradient from PPO already; the authors' Clip-Cov leaves them out of its candidates.

    Args:
        logps (`torch.Tensor`):
            Log-probs of the current policy, `(B, T)`.
        old_logps (`torch.Tensor`):
            Log-probs of the policy that sampled the batch, `(B, T)`.
        advantages (`torch.Tensor`):
            Advantages, `(B,)` or `(B, T)`.
        epsilon_low (`float`, *optional*, defaults to `0.2`), epsilon_high (`float`, *optional*, defaults to `0.2`):
            PPO's clip range `[1 - epsilon_low, 1 + epsilon_high]`.

    Returns:
        `torch.Tensor`: Boolean `(B, T)` mask.
    """
    advantages = _token_advantages(advantages.detach(), logps.shape)
    ratio = torch.exp(logps.detach().float() - old_logps.detach().float())
    return ((advantages > 0) & (ratio > 1 + epsilon_high)) | ((advantages < 0) & (ratio < 1 - epsilon_low))


def valid_token_vector(values: list[torch.Tensor], masks: list[torch.Tensor]) -> torch.Tensor:
    r"""
    The valid tokens of several `(B_i, T_i)` tensors as one `(1, n)` row: tensor by tensor, row-major in each (the
    order of their valid tokens in one batch that stacks them, each padded to the longest `T`). Advantages of shape
    `(B_i,)` are repeated over their completion's tokens.

    Args:
        values (`list[torch.Tensor]`):
            Tensors of shape `(B_i, T_i)` or `(B_i,)` (one value per completion).
        masks (`list[torch.Tensor]`):
            Masks of their valid tokens, `(B_i, T_i)`.

    Returns:
        `torch.Tensor`: float32, detached, `(1, n)` with `n` the number of valid tokens of all the masks.

    Examples:
    ```python
    >>> values = [torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([5.0])]  # the second: one per completion
    >>> masks = [torch.tensor([[1.0, 0.0], [1.0, 1.0]]), torch.tensor([[1.0, 1.0, 0.0]])]
    >>> valid_token_vector(values, masks)
    tensor([[1., 3., 4., 5., 5.]])
    ```
    """
    if len(values) != len(masks):
        raise ValueError(f"`values` and `masks` must have the same length, got {len(values)} and {len(masks)}.")
    rows = []
    for value, mask in zip(values, masks, strict=True):
        value = _token_advantages(value.detach().float(), mask.shape)  # raises on a shape that does not fit
        rows.append(value[mask > 0])
    if not rows:
        return torch.zeros(1, 0)
    return torch.cat(rows).unsqueeze(0)


def split_valid_token_vector(vector: torch.Tensor, masks: list[torch.Tensor]) -> list[torch.Tensor]:
    r"""
    The inverse of [`valid_token_vector`]: the `(1, n)` row back into one tensor per mask, of the mask's shape, with
    the row's values at the valid tokens and `0` (`False` for a boolean row) elsewhere.

    Args:
        vector (`torch.Tensor`):
            `(1, n)` or `(n,)`, `n` the number of valid tokens of all the masks.
        masks (`list[torch.Tensor]`):
            Masks of the valid tokens, `(B_i, T_i)`.

    Returns:
        `list[torch.Tensor]`: One `(B_i, T_i)` tensor per mask, in the dtype of `vector`.
    """
    vector = vector.reshape(-1)
    counts = [int((mask > 0).sum()) for mask in masks]
    if sum(counts) != vector.numel():
        raise ValueError(f"The vector has {vector.numel()} values for {sum(counts)} valid tokens.")
    pieces = []
    for mask, part in zip(masks, vector.split(counts), strict=True):
        piece = torch.zeros(mask.shape, dtype=vector.dtype, device=vector.device)
        piece[mask.to(vector.device) > 0] = part
        pieces.append(piece)
    return pieces


def covariance_summary(cov: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Minimum, mean and maximum of `cov` over the valid tokens (NaN each when none is valid), detached."""
    values = cov.detach().float()[mask > 0]
    if values.numel() == 0:
        nan = torch.tensor(math.nan, device=cov.device)
        return nan, nan, nan
    return values.min(), values.mean(), values.max()
