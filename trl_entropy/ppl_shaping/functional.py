# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Perplexity-based advantage shaping (Deng et al., arXiv 2508.02260); METHODS.md, perplexity-based shaping."""

import math

import torch


# Below this group standard deviation the z-score only amplifies numerical noise, so sigma is replaced by 1.
SIGMA_FLOOR = 1e-6

# Tukey's fences: values beyond 1.5 interquartile ranges from the quartiles are outliers.
IQR_FENCE = 1.5


def check_ppl_advantage_params(alpha: float, clamp: tuple[float, float] | None, prefix: str = "") -> None:
    r"""
    Raise a `ValueError` unless `alpha >= 0` and `clamp` is `None` or `(low, high)` with `0 < low <= 1 <= high`.

    `alpha < 0` would reverse the method (favouring high-perplexity completions); a clamp range without `1` would
    rescale every completion, even one at the group mean, and `low <= 0` would allow a weight that zeroes or flips the
    sign of an advantage.

    Args:
        alpha (`float`):
            Shaping coefficient.
        clamp (`tuple[float, float]` or `None`):
            Bounds of the multiplicative factor, or `None` for no clamping.
        prefix (`str`, *optional*, defaults to `""`):
            Prefix of the parameter names in the error message, e.g. `"ppl_advantage_"` for config fields.
    """
    if not alpha >= 0:  # `not >=` also rejects NaN
        raise ValueError(f"`{prefix}alpha` must be >= 0 (valid range: [0, inf)), got {alpha}.")
    if clamp is None:
        return
    if len(clamp) != 2:
        raise ValueError(f"`{prefix}clamp` must be None or a pair (low, high), got {clamp}.")
    low, high = clamp
    if not (0 < low <= 1 <= high):  # also rejects NaN bounds
        raise ValueError(
            f"`{prefix}clamp` must be None or (low, high) with 0 < low <= 1 <= high (valid range: low in (0, 1], "
            f"high in [1, inf)), got {clamp}."
        )


def finite_token_mask(completion_logps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    r"""
    The valid tokens whose log-probability is finite: the tokens a log-perplexity is averaged over.

    Sampling log-probabilities (vLLM's, taken after top-p / top-k filtering) can be `-inf` or NaN at a sampled token;
    such a token says nothing about the completion's perplexity and is left out rather than counted as `0`.

    Args:
        completion_logps (`torch.Tensor`):
            Per-token log-probabilities of shape `(B, T)`.
        mask (`torch.Tensor`):
            Mask of shape `(B, T)`; non-zero entries mark valid tokens.

    Returns:
        `torch.Tensor`: Boolean mask of shape `(B, T)`.

    Examples:
    ```python
    >>> finite_token_mask(torch.tensor([[-1.0, float("-inf"), float("nan"), -2.0]]), torch.tensor([[1, 1, 1, 0]]))
    tensor([[ True, False, False, False]])
    ```
    """
    if completion_logps.dim() != 2 or completion_logps.shape != mask.shape:
        raise ValueError(
            f"`completion_logps` and `mask` must have the same shape (B, T), got {tuple(completion_logps.shape)} "
            f"and {tuple(mask.shape)}."
        )
    return (mask != 0) & torch.isfinite(completion_logps.detach())


def completion_log_perplexity(completion_logps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    r"""
    Log-perplexity of each completion, the negative mean log-probability of its valid tokens with a finite
    log-probability ([`finite_token_mask`]):

    $$\ln \mathrm{PPL}_i = -\frac{1}{|F_i|} \sum_{t \in F_i} \log \pi(o_{i,t}), \qquad F_i = \{t \text{ valid}:
    \log \pi(o_{i,t}) \text{ finite}\}.$$

    A valid token whose log-probability is `-inf`, `+inf` or NaN (possible in sampling log-probs taken after top-p /
    top-k filtering) is left out of the mean, not counted as `0`.

    Args:
        completion_logps (`torch.Tensor`):
            Per-token log-probabilities of shape `(B, T)`. Values at invalid positions are ignored, even if not finite.
        mask (`torch.Tensor`):
            Mask of shape `(B, T)`; non-zero entries mark valid tokens.

    Returns:
        `torch.Tensor`: Log-perplexities of shape `(B,)` in `float32`. A completion without a valid token with a
        finite log-probability gets `0`.

    Examples:
    ```python
    >>> logps = torch.tensor([[-1.0, -3.0, 0.0], [-0.5, -0.5, -2.0], [-1.0, float("-inf"), -2.0]])
    >>> mask = torch.tensor([[1, 1, 0], [1, 1, 1], [1, 1, 1]])
    >>> completion_log_perplexity(logps, mask)
    tensor([2.0000, 1.0000, 1.5000])
    ```
    """
    finite = finite_token_mask(completion_logps, mask)
    # `where` rather than a product: padding and filtered positions may hold -inf or NaN, and -inf * 0 is NaN.
    logps = torch.where(finite, completion_logps.detach().float(), 0.0)
    counts = finite.sum(dim=-1).clamp(min=1)
    return -logps.sum(dim=-1) / counts


def ppl_advantage_weights(
    completion_logps: torch.Tensor,
    mask: torch.Tensor,
    num_generations: int,
    alpha: float = 0.01,
    exclude_outliers: bool = True,
    sigma_floor: bool = True,
    clamp: tuple[float, float] | None = (0.8, 1.2),
) -> torch.Tensor:
    r"""
    Per-completion advantage weights of the perplexity-based shaping of [Decomposing the Entropy-Performance Exchange:
    The Missing Keys to Unlocking Effective Reinforcement Learning](https://huggingface.co/papers/2508.02260):

    $$w_i = \frac{\ln \mathrm{PPL}_i - \mu_g}{\sigma_g}, \qquad \mathrm{factor}_i = \mathrm{clip}(1 - \alpha w_i,
    \mathrm{low}, \mathrm{high}),$$

    where \\(\mu_g\\) and \\(\sigma_g\\) are computed over the completions of the same prompt. Completions with a
    lower perplexity than the group mean get a factor above 1. The log-probabilities should come from the rollout
    policy; the weights carry no gradient.

    Precise definition of the group statistics:

    - The completions of one prompt are consecutive: rows `[k * G, (k + 1) * G)` form group `k`.
    - A completion's log-perplexity is the mean over its valid tokens with a finite log-probability
      ([`completion_log_perplexity`]). A completion without such tokens has no perplexity: it is left out of the
      statistics and gets `w = 0` (as if its log-perplexity were the group mean), hence a factor of exactly 1. A
      group with no valid completion at all gets factors of 1.
    - With `exclude_outliers=True`, the quartiles \\(Q_1, Q_3\\) of the group's log-perplexities (valid completions
      only) are computed with `torch.quantile`'s default linear interpolation, and values outside
      \\([Q_1 - 1.5\,\mathrm{IQR}, Q_3 + 1.5\,\mathrm{IQR}]\\) are left out of \\(\mu\\) and \\(\sigma\\). The
      weight \\(w\\) is still computed for every completion, outliers included. If fewer than 2 values are kept, all
      valid values are used.
    - \\(\sigma\\) is the population standard deviation (`unbiased=False`, divisor `n`) of the kept values, so that
      it is defined for a group of 2 and does not depend on a Bessel correction for small groups.
    - With `sigma_floor=True`, a \\(\sigma < 10^{-6}\\) is replaced by 1, so a group of (near-)identical
      perplexities gives weights close to 1 instead of amplifying rounding noise. With `sigma_floor=False`, \\(\sigma\\)
      is used as is, except that a \\(\sigma\\) of exactly 0 is still replaced by 1 to avoid dividing by zero.

    Args:
        completion_logps (`torch.Tensor`):
            Per-token log-probabilities of the rollout policy, shape `(B, T)`.
        mask (`torch.Tensor`):
            Mask of shape `(B, T)`; non-zero entries mark valid tokens.
        num_generations (`int`):
            Number of completions `G` per prompt. `B` must be divisible by it.
        alpha (`float`, *optional*, defaults to `0.01`):
            Shaping coefficient. Must be `>= 0`; `0` gives weights of exactly 1.
        exclude_outliers (`bool`, *optional*, defaults to `True`):
            Whether to leave IQR outliers out of the group mean and standard deviation.
        sigma_floor (`bool`, *optional*, defaults to `True`):
            Whether to replace a group standard deviation below `1e-6` by 1.
        clamp (`tuple[float, float]` or `None`, *optional*, defaults to `(0.8, 1.2)`):
            Bounds `(low, high)` of the factor, with `0 < low <= 1 <= high`; `None` disables the clamp.

    Returns:
        `torch.Tensor`: Weights of shape `(B,)` in `float32`, without gradient.

    Examples:
    ```python
    >>> logps = -torch.tensor([[1.0], [2.0], [3.0], [4.0]])  # log-perplexities 1, 2, 3, 4
    >>> mask = torch.ones(4, 1)
    >>> ppl_advantage_weights(logps, mask, num_generations=4, alpha=0.1)
    tensor([1.1342, 1.0447, 0.9553, 0.8658])
    ```
    """
    check_ppl_advantage_params(alpha, clamp)
    if isinstance(num_generations, bool) or not isinstance(num_generations, int) or num_generations < 1:
        raise ValueError(f"`num_generations` must be an integer >= 1 (valid range: [1, inf)), got {num_generations}.")
    lnppl = completion_log_perplexity(completion_logps, mask)
    batch_size = lnppl.size(0)
    if batch_size % num_generations != 0:
        raise ValueError(
            f"The batch size ({batch_size}) must be divisible by `num_generations` ({num_generations}), since the "
            "completions of one prompt are consecutive."
        )

    x = lnppl.view(-1, num_generations)  # (num_groups, G)
    valid = finite_token_mask(completion_logps, mask).any(dim=-1).view(-1, num_generations)

    kept = valid
    if exclude_outliers:
        # NaN marks completions without tokens so that `nanquantile` skips them, still vectorised over groups.
        probs = torch.tensor([0.25, 0.75], dtype=x.dtype, device=x.device)  # `nanquantile` needs q on x's device
        quartiles = torch.nanquantile(torch.where(valid, x, math.nan), probs, dim=1)
        q1, q3 = quartiles[0].unsqueeze(1), quartiles[1].unsqueeze(1)
        iqr = q3 - q1
        inlier = (x >= q1 - IQR_FENCE * iqr) & (x <= q3 + IQR_FENCE * iqr)  # False for a NaN fence (empty group)
        kept = valid & inlier
        kept = torch.where(kept.sum(dim=1, keepdim=True) < 2, valid, kept)

    counts = kept.sum(dim=1, keepdim=True).clamp(min=1)
    mean = torch.where(kept, x, 0.0).sum(dim=1, keepdim=True) / counts
    std = (torch.where(kept, (x - mean) ** 2, 0.0).sum(dim=1, keepdim=True) / counts).sqrt()
    if sigma_floor:
        std = torch.where(std < SIGMA_FLOOR, 1.0, std)
    else:
        std = torch.where(std == 0, 1.0, std)

    z = torch.where(valid, (x - mean) / std, 0.0)
    factor = 1.0 - alpha * z
    if clamp is not None:
        factor = factor.clamp(min=clamp[0], max=clamp[1])
    return factor.reshape(batch_size)


def ppl_shaped_advantages(advantages: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    r"""
    Scale advantages by per-completion perplexity weights: \\(A'_{i,t} = A_{i,t} \cdot \mathrm{factor}_i\\).

    Args:
        advantages (`torch.Tensor`):
            Advantages of shape `(B,)` (one per completion) or `(B, T)` (per token).
        weights (`torch.Tensor`):
            Weights of shape `(B,)`, as returned by [`ppl_advantage_weights`]. They are detached.

    Returns:
        `torch.Tensor`: Shaped advantages with the shape and dtype of `advantages`.

    Examples:
    ```python
    >>> ppl_shaped_advantages(torch.tensor([[1.0, 1.0], [-2.0, -2.0]]), torch.tensor([1.2, 0.9]))
    tensor([[ 1.2000,  1.2000],
            [-1.8000, -1.8000]])
    ```
    """
    if weights.dim() != 1 or advantages.dim() not in (1, 2) or advantages.size(0) != weights.size(0):
        raise ValueError(
            f"`advantages` must have shape (B,) or (B, T) and `weights` shape (B,), got {tuple(advantages.shape)} "
            f"and {tuple(weights.shape)}."
        )
    weights = weights.detach().to(advantages.dtype)
    if advantages.dim() == 2:
        weights = weights.unsqueeze(1)
    return advantages * weights
