# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
r"""Token-level analysis quantities (METHODS.md section 7), as pure tensor functions.

- Entropy \\(H_t\\) is TRL's own (the fused LM head returns it with the log-probs).
- Gradient-norm proxy (arXiv 2508.02260, Deng et al.): for the clipped policy-gradient loss, the gradient of token
  \\(t\\)'s term with respect to its logits is \\(-\alpha_t (e(o_t) - \pi_t)\\), and with respect to the LM head's weight
  the outer product of that with the final hidden state \\(h_t\\), so its norm is
  \\(G_t = |\alpha_t| \cdot \|e(o_t) - \pi_t\|_2 \cdot \|h_t\|_2\\): no backward pass is needed. Here
  \\(\|e(o_t) - \pi_t\|_2^2 = (1 - \pi_t(o_t))^2 + \sum_{v \ne o_t} \pi_t(v)^2\\), computed tile by tile from the hidden states
  and the LM head ([`~trl_entropy.functional.paec.logit_tiles`]) without ever holding `(B, T, V)` logits.
- \\(\alpha_t\\) ([`clipped_advantage_factor`]) is the factor TRL's loss puts on \\(\nabla \log \pi(o_t)\\): the
  importance ratio times the advantage where the clip leaves the gradient on, `0` where it removes it (CISPO: the
  clamped, detached ratio times the advantage). The loss normalisation (`1 / num_items`) is a constant of the step and
  is left out, as in the paper.
- Rollout branching factor (arXiv 2508.02260): the number of tokens in the top-p (0.95) nucleus of the policy's
  next-token distribution at each position, the same nucleus PAEC measures.
- Positional profiles: means by relative-position bin, with the U-shape statistic (ends against middle).
"""

import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import torch

from ..paec.functional import check_top_p, logit_tiles, nucleus_statistics


# log of the smallest normal float32 (about 1.2e-38), rounded up
_MIN_NORMAL_LOG = -87.0
CLIPPED_LOSS_TYPES = ("grpo", "bnpo", "dr_grpo", "dapo", "luspo")
ALPHA_LOSS_TYPES = CLIPPED_LOSS_TYPES + ("cispo",)


class TokenStatistics(NamedTuple):
    """Per-position statistics of the next-token distribution at the sampled token, each `(B, T)` float32."""

    direction_norm: torch.Tensor
    """`||e(o_t) - pi_t||_2`, in `[0, sqrt(2))`."""
    hidden_norm: torch.Tensor
    """`||h_t||_2`, the norm of the LM head's input."""
    branching: torch.Tensor
    """Number of tokens in the top-p nucleus."""
    entropy: torch.Tensor
    """Entropy (nats) of `pi_t`, as TRL computes it (offline analysis has no TRL forward to take it from)."""


def token_statistics(
    hidden_states: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    completion_ids: torch.Tensor,
    *,
    top_p: float = 0.95,
    temperature: float = 1.0,
    logit_scale: float = 1.0,
    softcap: float | None = None,
    mask: torch.Tensor | None = None,
    tile_size: int | None = None,
    with_entropy: bool = True,
) -> TokenStatistics:
    r"""
    \\(\|e(o_t) - \pi_t\|_2\\), \\(\|h_t\|_2\\), the nucleus size and the entropy of every position, from the final hidden states and
    the LM head, tile by tile, without gradient.

    Args:
        hidden_states (`torch.Tensor`):
            Final hidden states predicting each completion token, `(B, T, H)`.
        weight (`torch.Tensor`), bias (`torch.Tensor` or `None`):
            LM head, `(V, H)` and `(V,)`.
        completion_ids (`torch.Tensor`):
            Sampled tokens \\(o_t\\), `(B, T)`.
        top_p (`float`, *optional*, defaults to `0.95`):
            Nucleus mass of the branching factor, in `(0, 1]`.
        temperature (`float`, *optional*, defaults to `1.0`):
            Sampling temperature: \\(\pi_t\\) is the softmax of the logits divided by it, the distribution TRL's loss
            uses.
        logit_scale (`float`, *optional*, defaults to `1.0`), softcap (`float`, *optional*):
            The model's logit transform (see [`~trl_entropy.functional.paec.logit_tiles`]).
        mask (`torch.Tensor`, *optional*):
            Positions to compute, `(B, T)`; the others are `0`.
        tile_size (`int`, *optional*):
            Positions per tile.
        with_entropy (`bool`, *optional*, defaults to `True`):
            Compute the entropy too (the training callback takes TRL's instead and skips it: `entropy` is then `0`).

    Returns:
        [`TokenStatistics`]
    """
    check_top_p(top_p)
    if completion_ids.shape != hidden_states.shape[:-1]:
        raise ValueError(
            f"`completion_ids` must have shape {tuple(hidden_states.shape[:-1])}, got {tuple(completion_ids.shape)}."
        )
    shape = completion_ids.shape
    tokens = completion_ids.reshape(-1).to(weight.device)
    direction = torch.zeros(shape.numel(), dtype=torch.float32, device=weight.device)
    branching = torch.zeros_like(direction)
    entropy = torch.zeros_like(direction)
    with torch.no_grad():
        tiles = logit_tiles(
            hidden_states,
            weight,
            bias,
            temperature=temperature,
            logit_scale=logit_scale,
            softcap=softcap,
            mask=mask,
            tile_size=tile_size,
        )
        for rows, logits in tiles:
            logps = logits.log_softmax(-1)
            index = tokens[rows].unsqueeze(-1)
            # ||e(o) - pi||^2 = (1 - p_o)^2 + sum_{v != o} p_v^2, each part without cancellation: `1 - 2 p_o + sum p^2`
            # loses everything in float32 when p_o is within 1e-4 of 1, the common case on forced tokens.
            one_minus = -torch.expm1(logps.gather(-1, index).squeeze(-1))
            # Clamped at exp(-87) ~ 1.6e-38, the smallest normal float32: below it `exp` returns subnormals, which
            # the CPU computes on a slow path (half of this pass's time on a peaked 32k vocabulary); the clamp adds
            # at most V * 1.6e-38 to the sum.
            others = (2 * logps).clamp_(min=_MIN_NORMAL_LOG).exp_().scatter_(-1, index, 0.0).sum(-1)
            direction[rows] = (one_minus.square() + others).sqrt()
            branching[rows] = nucleus_statistics(logits, top_p).nucleus_size
            if with_entropy:
                entropy[rows] = -(logps.clamp(min=_MIN_NORMAL_LOG).exp() * logps).sum(-1)
        hidden_norm = hidden_states.detach().float().norm(dim=-1).to(weight.device)
        if mask is not None:
            hidden_norm = hidden_norm * mask.to(hidden_norm.device).bool()
    return TokenStatistics(direction.view(shape), hidden_norm.view(shape), branching.view(shape), entropy.view(shape))


def clipped_advantage_factor(
    advantages: torch.Tensor,
    per_token_logps: torch.Tensor,
    old_per_token_logps: torch.Tensor | None = None,
    *,
    loss_type: str = "dapo",
    epsilon_low: float = 0.2,
    epsilon_high: float = 0.2,
    delta: float | None = None,
) -> torch.Tensor:
    r"""
    The factor \\(\alpha_t\\) that TRL 1.16's token-level policy loss puts on \\(\nabla \log \pi(o_t)\\).

    With \\(r_t = \exp(\log\pi - \log\pi_{old})\\) and advantage \\(A_t\\):

    - clipped losses (`grpo`, `bnpo`, `dr_grpo`, `dapo`, `luspo`: \\(-\min(r_t A_t, \mathrm{clip}(r_t) A_t)\\)):
      \\(\alpha_t = r_t A_t\\), and `0` where the clip holds the term constant: \\(A_t > 0\\) and
      \\(r_t > 1 + \epsilon_{high}\\), \\(A_t < 0\\) and \\(r_t < 1 - \epsilon_{low}\\), or, with two-sided clipping,
      \\(r_t > \delta\\);
    - `cispo` (\\(-\mathrm{sg}(\min(r_t, \epsilon_{high})) A_t \log\pi\\), TRL's clamp): \\(\alpha_t = \min(r_t,
      \epsilon_{high}) A_t\\).

    On-policy (`old_per_token_logps` is `None`), \\(r_t = 1\\) and \\(\alpha_t = A_t\\). The loss normalisation, the
    KL term and TRL's token masks (`top_entropy_quantile`, off-policy masking) are not part of \\(\alpha_t\\).

    Args:
        advantages (`torch.Tensor`):
            `(B,)` or `(B, T)` advantages, as the loss uses them.
        per_token_logps (`torch.Tensor`):
            `(B, T)` log-probs of the current policy.
        old_per_token_logps (`torch.Tensor`, *optional*):
            `(B, T)` log-probs of the sampling policy; `None` when fully on-policy.
        loss_type (`str`, *optional*, defaults to `"dapo"`):
            One of `ALPHA_LOSS_TYPES`.
        epsilon_low (`float`, *optional*, defaults to `0.2`), epsilon_high (`float`, *optional*, defaults to `0.2`):
            Clipping range (for `cispo`, `epsilon_high` is the ratio's upper bound itself, as in TRL).
        delta (`float`, *optional*):
            Upper bound of two-sided clipping.

    Returns:
        `torch.Tensor`: `(B, T)` float32, without gradient.
    """
    if loss_type not in ALPHA_LOSS_TYPES:
        raise ValueError(
            f"`loss_type` must be one of {ALPHA_LOSS_TYPES} for the gradient-norm proxy, got {loss_type!r}."
        )
    with torch.no_grad():
        logps = per_token_logps.detach().float()
        adv = advantages.detach().float()
        if adv.dim() == 1:
            adv = adv.unsqueeze(-1)
        adv = adv.expand_as(logps)
        if old_per_token_logps is None:
            ratio = torch.ones_like(logps)
        else:
            ratio = (logps - old_per_token_logps.detach().float()).exp()
        if loss_type == "cispo":
            return ratio.clamp(max=epsilon_high) * adv
        clipped = ((adv > 0) & (ratio > 1 + epsilon_high)) | ((adv < 0) & (ratio < 1 - epsilon_low))
        if delta is not None:
            clipped = clipped | (ratio > delta)
        return torch.where(clipped, 0.0, ratio * adv)


def gradient_norm_proxy(
    alpha: torch.Tensor, direction_norm: torch.Tensor, hidden_norm: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    r"""
    \\(G_t = |\alpha_t| \cdot \|e(o_t) - \pi_t\|_2 \cdot \|h_t\|_2\\), the norm of token \\(t\\)'s policy-gradient term with
    respect to the LM head's weight (arXiv 2508.02260). `0` outside `mask`.
    """
    value = alpha.abs().float() * direction_norm.float() * hidden_norm.float()
    if mask is not None:
        value = value * mask.to(value.device).bool()
    return value


def position_bins(mask: torch.Tensor, num_bins: int = 10) -> torch.Tensor:
    r"""
    The relative-position bin of every valid token, \\(\min(\lfloor n (t - 1) / (|o| - 1) \rfloor, n - 1)\\) with
    \\(n\\) = `num_bins` and \\(t = 1, \dots, |o|\\) counting valid tokens (`0` for a one-token completion), `-1` at
    invalid positions.

    The first token of every completion is in the first bin and its last token in the last bin, whatever the length,
    which a U-shape statistic needs (with \\((t - 1) / |o|\\) the last bin of a 10-bin profile would stay empty for every
    completion shorter than 10 tokens). A completion shorter than `num_bins` leaves some inner bins empty.
    """
    check_num_bins(num_bins)
    valid = mask != 0
    rank = valid.cumsum(dim=-1) - 1  # t - 1
    last = (valid.sum(dim=-1, keepdim=True) - 1).clamp(min=1)
    bins = (rank.double() * num_bins / last).floor().long().clamp(0, num_bins - 1)
    return torch.where(valid, bins, -1)


def positional_profile_sums(
    values: torch.Tensor, mask: torch.Tensor, num_bins: int = 10, rows: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """
    Sum and count of `values` per relative-position bin over the valid tokens of the completions selected by `rows`
    (`(B,)` bool; all when `None`), each `(num_bins,)` float64: sums, so that micro-batches and processes add up.
    """
    bins = position_bins(mask, num_bins)
    if rows is not None:
        bins = torch.where(rows.to(bins.device).bool().unsqueeze(-1), bins, -1)
    valid = bins >= 0
    sums = torch.zeros(num_bins, dtype=torch.float64, device=values.device)
    counts = torch.zeros_like(sums)
    sums.index_add_(0, bins[valid], values.detach()[valid].double())
    counts.index_add_(0, bins[valid], torch.ones(int(valid.sum()), dtype=torch.float64, device=values.device))
    return sums, counts


def profile_means(sums: Sequence[float], counts: Sequence[float]) -> list[float]:
    """Per-bin means, NaN for empty bins."""
    return [s / c if c > 0 else math.nan for s, c in zip(sums, counts, strict=True)]


def u_shape_statistic(profile: Sequence[float]) -> dict[str, float | bool]:
    r"""
    Whether a positional profile is U-shaped: `ends` is the mean of its first and last bins, `middle` the mean of the
    others (empty bins skipped), `difference = ends - middle` and `ratio = ends / middle`; `u_shaped` when both the
    first and the last bin are above `middle`. NaN (and `False`) when a part is empty.
    """
    values = [float(v) for v in profile]
    if len(values) < 3:
        raise ValueError(f"A U-shape needs at least 3 bins, got {len(values)}.")
    first, last = values[0], values[-1]
    inner = [v for v in values[1:-1] if not math.isnan(v)]
    middle = sum(inner) / len(inner) if inner else math.nan
    ends = (first + last) / 2
    defined = not (math.isnan(ends) or math.isnan(middle))
    return {
        "ends": ends,
        "middle": middle,
        "difference": ends - middle if defined else math.nan,
        "ratio": ends / middle if defined and middle != 0 else math.nan,
        "u_shaped": bool(defined and first > middle and last > middle),
    }


def check_num_bins(num_bins: int) -> None:
    if not isinstance(num_bins, int) or isinstance(num_bins, bool) or num_bins < 3:
        raise ValueError(f"`num_bins` must be an integer >= 3, got {num_bins!r}.")


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean of `values` over `mask`, NaN when empty."""
    valid = mask.bool()
    count = int(valid.sum())
    return float(values[valid].double().sum() / count) if count else math.nan


def group_means(sums: Mapping[str, tuple[float, float]]) -> dict[str, float]:
    """`total / count` of every `(total, count)` pair, NaN for an empty count."""
    return {name: (total / count if count > 0 else math.nan) for name, (total, count) in sums.items()}
