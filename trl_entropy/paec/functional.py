# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""PAEC: position-aware entropy calibration (arXiv 2606.08543), as pure tensor functions.

Per position, without gradient: the entropy of the renormalised nucleus (top-p) distribution and the log-prob gap of
the two best tokens; from them a decision-sensitivity score, and from the score's rank among all valid positions of
the step a soft mask keeping about the top `1 - rho` share. The penalty `beta * max(0, floor - Hbar)^2`, with `Hbar`
the mask-weighted mean entropy, is the only term with gradient. See `METHODS.md` section 4 and `docs/methods/paec.md`.

`decision_statistics` computes the per-position statistics from the final hidden states and the LM head in tiles of
positions, so that no more than one tile of logits exists at a time: TRL's fused LM head never materialises the
`(B, T, V)` logits and this module must not bring them back.
"""

import math
from typing import NamedTuple

import torch


SCORE_COMBINATIONS = ("geometric", "arithmetic")
ENTROPY_NORMALIZATIONS = ("vocab", "nucleus")
MASK_SCOPES = ("global", "local")
# What one quantile and one masked mean `Hbar` span: the optimizer step (all its micro-batches) or one micro-batch.
PAEC_SCOPES = ("step", "micro_batch")
# Logits per tile of `decision_statistics` when no tile size is given: 2**22 floats, 16 MiB in float32 (TRL's own
# fused head projects tiles of 4096 x 32768 logits, 512 MiB). Smaller tiles cost no measurable time at V = 151,936
# (27 positions per tile still make a wide matmul) and keep the extra peak memory to a few tiles.
DEFAULT_TILE_LOGITS = 2**22
# Number of best tokens looked at first; rows whose nucleus is larger are redone with `_CANDIDATE_GROWTH` times more,
# up to the whole vocabulary, so the result is exact whatever the nucleus size.
_FIRST_CANDIDATES = 64
_CANDIDATE_GROWTH = 16
# Mass within this of `top_p` counts as reaching it: float32 sums of probabilities are off by about this much, and a
# distribution like (0.5, 0.3, 0.2) with top_p = 0.5 must give the one-token nucleus.
_MASS_TOLERANCE = 1e-6


class DecisionStatistics(NamedTuple):
    """Per-position statistics of the next-token distribution, each of the input's shape without the last axis."""

    nucleus_entropy: torch.Tensor
    """Entropy (nats) of the distribution renormalised over the nucleus."""
    nucleus_size: torch.Tensor
    """Number of tokens in the nucleus (float)."""
    top2_gap: torch.Tensor
    """`log p_1 - log p_2`, the log-prob gap of the two most likely tokens (`>= 0`)."""


def _nucleus_from_sorted(sorted_logps: torch.Tensor, top_p: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Entropy, size and covered flag of the nucleus, from the best log-probs sorted in descending order."""
    probs = sorted_logps.exp()
    cumulative = probs.cumsum(-1)
    # The nucleus is the smallest prefix whose mass reaches top_p: token j is in it while the mass before j is < top_p.
    # top_p = 1 is the whole distribution, every token however small
    threshold = top_p - _MASS_TOLERANCE if top_p < 1 else math.inf
    in_nucleus = (cumulative - probs) < threshold
    in_nucleus[..., 0] = True
    covered = cumulative[..., -1] >= threshold
    kept = probs * in_nucleus
    mass = kept.sum(-1)
    # Renormalised entropy: -sum (p/P) log(p/P) = log P - sum p log p / P
    plogp = torch.where(in_nucleus, probs * sorted_logps, torch.zeros_like(probs)).sum(-1)
    size = in_nucleus.sum(-1)
    # a one-token nucleus has entropy exactly 0 (the formula leaves float32 rounding)
    entropy = torch.where(size > 1, (mass.log() - plogp / mass).clamp(min=0.0), 0.0)
    return entropy, size.to(sorted_logps.dtype), covered


def nucleus_statistics(logits: torch.Tensor, top_p: float = 0.95) -> DecisionStatistics:
    r"""
    Nucleus entropy, nucleus size and top-2 log-prob gap of the distributions `softmax(logits)`, exactly.

    The nucleus of a distribution is the smallest set of its most likely tokens whose total probability is at least
    `top_p` (ties broken by `torch.topk` order; a mass within `1e-6` of `top_p` counts as reaching it, the float32
    rounding of the running sum). The best 64 tokens are looked at first; only rows whose
    nucleus is larger are redone with more candidates, up to a full sort, so the cost stays near one `topk` for
    peaked distributions. Computed in float32, without gradient.

    Args:
        logits (`torch.Tensor`):
            Logits of shape `(..., V)`, already scaled by the sampling temperature, with `V >= 2`.
        top_p (`float`, *optional*, defaults to `0.95`):
            Nucleus mass, in `(0, 1]`.

    Returns:
        [`DecisionStatistics`]: Tensors of shape `logits.shape[:-1]`.
    """
    check_top_p(top_p)
    vocab_size = logits.size(-1)
    if vocab_size < 2:
        raise ValueError(f"`logits` must have at least 2 entries in the last axis, got {vocab_size}.")
    with torch.no_grad():
        rows = logits.detach().reshape(-1, vocab_size).float()
        log_normalizer = rows.logsumexp(-1, keepdim=True)
        entropy = rows.new_zeros(rows.size(0))
        size = rows.new_zeros(rows.size(0))
        gap = rows.new_zeros(rows.size(0))
        pending = torch.arange(rows.size(0), device=rows.device)
        k = min(_FIRST_CANDIDATES, vocab_size)
        while pending.numel() > 0:
            # The first pass looks at every row: index nothing, which would copy the whole tile.
            candidates = rows if pending.numel() == rows.size(0) else rows[pending]
            best = candidates.topk(k, dim=-1, sorted=True).values - log_normalizer[pending]
            row_entropy, row_size, covered = _nucleus_from_sorted(best, top_p)
            if k == vocab_size:  # the whole distribution: covered up to rounding of its total mass
                covered = torch.ones_like(covered)
            done = pending[covered]
            entropy[done] = row_entropy[covered]
            size[done] = row_size[covered]
            gap[done] = best[covered, 0] - best[covered, 1]
            # A row whose best k tokens hold less than half the nucleus mass is far from flat-tailed enough for the
            # next rung to cover it (random-init models: a nucleus of most of the vocabulary): sort it whole at once.
            short = (best.exp().sum(-1) < top_p / 2)[~covered]
            pending = pending[~covered]
            k = vocab_size if bool(short.any()) else min(k * _CANDIDATE_GROWTH, vocab_size)
        shape = logits.shape[:-1]
        return DecisionStatistics(entropy.view(shape), size.view(shape), gap.view(shape))


def nucleus_entropy(logits: torch.Tensor, top_p: float = 0.95) -> torch.Tensor:
    r"""
    Entropy, in nats, of the distribution `softmax(logits)` renormalised over its nucleus (top-p set).

    `0` when the most likely token alone holds at least `top_p` of the mass; at most `log(nucleus size)`. Exact, without
    gradient; see [`nucleus_statistics`].

    Args:
        logits (`torch.Tensor`):
            Logits of shape `(..., V)`, already divided by the sampling temperature.
        top_p (`float`, *optional*, defaults to `0.95`):
            Nucleus mass, in `(0, 1]`.

    Returns:
        `torch.Tensor`: Shape `logits.shape[:-1]`, float32.
    """
    return nucleus_statistics(logits, top_p).nucleus_entropy


def top2_gap(logits: torch.Tensor) -> torch.Tensor:
    r"""
    Log-prob gap `log p_1 - log p_2 >= 0` between the two most likely tokens of `softmax(logits)`.

    `0` when the two best tokens are tied; `exp(-gap)` is the competition `p_2 / p_1` in `(0, 1]`. Without gradient.

    Args:
        logits (`torch.Tensor`):
            Logits of shape `(..., V)` with `V >= 2`.

    Returns:
        `torch.Tensor`: Shape `logits.shape[:-1]`, float32.
    """
    if logits.size(-1) < 2:
        raise ValueError(f"`logits` must have at least 2 entries in the last axis, got {logits.size(-1)}.")
    with torch.no_grad():
        best = logits.detach().float().topk(2, dim=-1).values
        return best[..., 0] - best[..., 1]


def decision_statistics(
    hidden_states: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    top_p: float = 0.95,
    temperature: float = 1.0,
    logit_scale: float = 1.0,
    softcap: float | None = None,
    mask: torch.Tensor | None = None,
    tile_size: int | None = None,
) -> DecisionStatistics:
    r"""
    [`nucleus_statistics`] of the next-token distributions of a batch, from final hidden states and the LM head.

    Logits are formed tile by tile (`tile_size` positions at a time), as the model would: `z = (h W^T + b) * logit_scale`,
    then `softcap * tanh(z / softcap)` when `softcap` is set, then `/ temperature`. At most one tile of logits exists at
    a time; positions outside `mask` are skipped (their statistics are `0`). Without gradient.

    Args:
        hidden_states (`torch.Tensor`):
            Final hidden states (after the last norm), `(..., H)`.
        weight (`torch.Tensor`):
            LM head weight, `(V, H)`.
        bias (`torch.Tensor`, *optional*):
            LM head bias, `(V,)`.
        top_p (`float`, *optional*, defaults to `0.95`):
            Nucleus mass, in `(0, 1]`.
        temperature (`float`, *optional*, defaults to `1.0`):
            Sampling temperature the logits are divided by.
        logit_scale (`float`, *optional*, defaults to `1.0`):
            Multiplier of the projected logits (models with `logit_scale`).
        softcap (`float`, *optional*):
            Final logit soft-capping (Gemma-style models).
        mask (`torch.Tensor`, *optional*):
            Boolean mask of the positions to compute, `hidden_states.shape[:-1]`.
        tile_size (`int`, *optional*):
            Positions per tile; by default as many as keep a tile at `2**22` logits (16 MiB in float32).

    Returns:
        [`DecisionStatistics`]: Tensors of shape `hidden_states.shape[:-1]`, float32.
    """
    shape = hidden_states.shape[:-1]
    with torch.no_grad():
        outputs = [hidden_states.new_zeros(shape.numel(), dtype=torch.float32) for _ in range(3)]
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
            tile = nucleus_statistics(logits, top_p)
            for output, value in zip(outputs, tile, strict=True):
                output[rows] = value
        return DecisionStatistics(*(output.view(shape) for output in outputs))


def logit_tiles(
    hidden_states: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    temperature: float = 1.0,
    logit_scale: float = 1.0,
    softcap: float | None = None,
    mask: torch.Tensor | None = None,
    tile_size: int | None = None,
):
    r"""
    The next-token logits of a batch of positions, tile by tile, from final hidden states and the LM head.

    Each tile is `z = (h W^T + b) * logit_scale`, then `softcap * tanh(z / softcap)` when `softcap` is set, then
    `/ temperature`, as the model computes them, in float32 and without gradient. At most one tile of logits exists at
    a time, so a statistic computed tile by tile never brings back the `(B, T, V)` logits that TRL's fused LM head
    avoids. Shared by [`decision_statistics`] and the analysis quantities (`trl_entropy.analysis.tokens`).

    Args:
        hidden_states (`torch.Tensor`):
            Final hidden states (after the last norm), `(..., H)`.
        weight (`torch.Tensor`):
            LM head weight, `(V, H)`.
        bias (`torch.Tensor`, *optional*):
            LM head bias, `(V,)`.
        temperature (`float`, *optional*, defaults to `1.0`):
            Sampling temperature the logits are divided by, `> 0`.
        logit_scale (`float`, *optional*, defaults to `1.0`):
            Multiplier of the projected logits (models with `logit_scale`).
        softcap (`float`, *optional*):
            Final logit soft-capping (Gemma-style models).
        mask (`torch.Tensor`, *optional*):
            Boolean mask of the positions to compute, `hidden_states.shape[:-1]`; the others are skipped.
        tile_size (`int`, *optional*):
            Positions per tile; by default as many as keep a tile at `2**22` logits (16 MiB in float32).

    Yields:
        `tuple[torch.Tensor, torch.Tensor]`: The flat indices of the tile's positions in
        `hidden_states.reshape(-1, H)` and their logits, `(n, V)` float32.
    """
    if temperature <= 0:
        raise ValueError(f"`temperature` must be > 0, got {temperature}.")
    vocab_size = weight.size(0)
    if tile_size is None:
        tile_size = max(1, DEFAULT_TILE_LOGITS // vocab_size)
    if tile_size < 1:
        raise ValueError(f"`tile_size` must be >= 1, got {tile_size}.")
    with torch.no_grad():
        flat = hidden_states.detach().reshape(-1, hidden_states.size(-1))
        selected = torch.arange(flat.size(0), device=flat.device)
        if mask is not None:
            selected = selected[mask.reshape(-1).to(flat.device).bool()]
        for start in range(0, selected.numel(), tile_size):
            rows = selected[start : start + tile_size]
            logits = torch.nn.functional.linear(flat[rows], weight, bias).float()
            # In place, and skipped at 1 (the usual case): each pass over a tile costs about as much as its `topk`.
            if logit_scale != 1:
                logits.mul_(logit_scale)
            if softcap is not None:
                logits = softcap * torch.tanh(logits / softcap)
            if temperature != 1:
                logits.div_(temperature)
            yield rows, logits


def decision_score(
    nucleus_entropy: torch.Tensor,
    top2_gap: torch.Tensor,
    *,
    entropy_weight: float = 0.5,
    combination: str = "geometric",
    normalizer: torch.Tensor | float,
) -> torch.Tensor:
    r"""
    Decision-sensitivity score `s_t` in `[0, 1]`: high where the nucleus is spread out and the two best tokens compete.

    With the normalised nucleus entropy `e_t = nucleus_entropy / normalizer` (clamped to `[0, 1]`) and the competition
    `c_t = exp(-top2_gap)` in `(0, 1]`:

    - `"geometric"`: `s_t = e_t^w * c_t^(1 - w)`, high only when both are (a weighted AND);
    - `"arithmetic"`: `s_t = w * e_t + (1 - w) * c_t`, high when either is.

    `w = 1` uses the entropy alone, `w = 0` the competition alone (both combinations agree there).

    Args:
        nucleus_entropy (`torch.Tensor`):
            Nucleus entropies (nats).
        top2_gap (`torch.Tensor`):
            Top-2 log-prob gaps, same shape.
        entropy_weight (`float`, *optional*, defaults to `0.5`):
            Weight `w` of the entropy, in `[0, 1]`.
        combination (`str`, *optional*, defaults to `"geometric"`):
            `"geometric"` or `"arithmetic"`.
        normalizer (`torch.Tensor` or `float`):
            Divisor of the entropy: `log V` (normalisation `"vocab"`) or `log(nucleus size)` per position
            (`"nucleus"`; positions with a one-token nucleus get `e_t = 0`).

    Returns:
        `torch.Tensor`: Scores, same shape, float32.
    """
    check_score_params(entropy_weight, combination)
    normalizer = torch.as_tensor(normalizer, dtype=torch.float32, device=nucleus_entropy.device)
    normalized = torch.where(normalizer > 0, nucleus_entropy.float() / normalizer.clamp(min=1e-12), 0.0).clamp(0, 1)
    competition = torch.exp(-top2_gap.float().clamp(min=0))
    if combination == "arithmetic":
        return entropy_weight * normalized + (1 - entropy_weight) * competition
    if entropy_weight == 1:
        return normalized
    if entropy_weight == 0:
        return competition
    return normalized.pow(entropy_weight) * competition.pow(1 - entropy_weight)


def soft_mask(
    scores: torch.Tensor,
    mask: torch.Tensor,
    reference_scores: torch.Tensor,
    *,
    rho: float = 0.8,
    temperature: float = 0.05,
) -> torch.Tensor:
    r"""
    Soft mask `m_t` in `[0, 1]` keeping about the top `1 - rho` share of positions by decision-sensitivity score.

    `F_t` is the share of `reference_scores` (the scores of all valid positions of the step, gathered from every
    process) strictly below `s_t`, so `F_t >= rho` exactly when `s_t` is at or above the `rho`-quantile. Then
    `m_t = sigmoid((F_t - rho) / temperature)`, or the hard mask `1[F_t >= rho]` when `temperature == 0`. Working on
    ranks makes `temperature` scale-free (a share of positions). Positions outside `mask`, and positions with
    `s_t = 0` (the best token alone fills the nucleus and nothing competes: no decision), get `m_t = 0`.

    Args:
        scores (`torch.Tensor`):
            Decision-sensitivity scores, `(B, T)`.
        mask (`torch.Tensor`):
            Validity mask, `(B, T)`.
        reference_scores (`torch.Tensor`):
            1-D scores of every valid position of the step (all processes), in any order.
        rho (`float`, *optional*, defaults to `0.8`):
            Quantile, in `[0, 1)`: about `1 - rho` of the positions are kept.
        temperature (`float`, *optional*, defaults to `0.05`):
            Width of the sigmoid in quantile units, `>= 0`; `0` gives the hard mask.

    Returns:
        `torch.Tensor`: Mask of shape `(B, T)`, float32, without gradient.
    """
    check_mask_params(rho, temperature)
    with torch.no_grad():
        valid = mask.bool() & (scores > 0)
        reference = reference_scores.detach().float().reshape(-1).sort().values
        if reference.numel() == 0:
            return torch.zeros_like(scores, dtype=torch.float32)
        below = torch.searchsorted(reference, scores.detach().float().contiguous(), side="left")
        share_below = below.float() / reference.numel()
        if temperature == 0:
            kept = (share_below >= rho).float()
        else:
            kept = torch.sigmoid((share_below - rho) / temperature)
        return kept * valid


def paec_penalty(
    entropies: torch.Tensor,
    soft_mask: torch.Tensor,
    mask: torch.Tensor,
    floor: float | torch.Tensor,
    beta: float,
    *,
    step_total: float | torch.Tensor | None = None,
    step_weight: float | torch.Tensor | None = None,
    num_parts: float = 1,
) -> torch.Tensor:
    r"""
    PAEC's anchored lower-bound penalty `beta * max(0, floor - Hbar)^2`, `Hbar = sum(m H) / sum(m)`.

    The gradient flows through `entropies` only, and only at positions with `soft_mask * mask > 0`; it is zero while
    the masked mean entropy is at or above the floor. A batch with no masked position gives a (connected) zero.

    By default `Hbar` is over this batch. When the batch is one part of a larger set (a micro-batch of an optimizer
    step, on one process), `step_total` and `step_weight` are `sum(m H)` and `sum(m)` over the whole set (detached):
    the value is then the set's penalty, and the gradient is `num_parts` times this part's share of the set's
    penalty gradient, `-2 beta max(0, floor - Hbar) m_t / sum(m)` at its positions. With `num_parts` the number of
    parts whose gradients are averaged (accumulation steps times processes under DDP), the averaged gradient is
    exactly that of the set's penalty.

    Args:
        entropies (`torch.Tensor`):
            Per-token entropies, `(B, T)`, with gradient.
        soft_mask (`torch.Tensor`):
            Soft mask `m_t` in `[0, 1]`, `(B, T)`, without gradient.
        mask (`torch.Tensor`):
            Validity mask, `(B, T)`.
        floor (`float` or `torch.Tensor`):
            Entropy floor `H_low = rho_min * H_0` (nats).
        beta (`float`):
            Penalty coefficient, `>= 0`.
        step_total (`float` or `torch.Tensor`, *optional*):
            `sum(m H)` over the whole set this batch is part of; with `step_weight`.
        step_weight (`float` or `torch.Tensor`, *optional*):
            `sum(m)` over the whole set.
        num_parts (`float`, *optional*, defaults to `1`):
            Factor of this part's gradient (see above).

    Returns:
        `torch.Tensor`: Scalar penalty.
    """
    if beta < 0:
        raise ValueError(f"`beta` must be >= 0, got {beta}.")
    if (step_total is None) != (step_weight is None):
        raise ValueError("`step_total` and `step_weight` must be given together.")
    weights = soft_mask.detach().to(entropies.dtype) * mask.to(entropies.dtype)
    local_total = (weights * entropies).sum()
    if step_total is None:
        step_total, step_weight = local_total.detach(), weights.sum()
    step_total = torch.as_tensor(step_total, dtype=entropies.dtype, device=entropies.device).detach()
    step_weight = torch.as_tensor(step_weight, dtype=entropies.dtype, device=entropies.device).detach()
    # The value is the set's sum; the gradient is this part's, `num_parts` times (`x - x.detach()` is exactly 0).
    total = step_total + num_parts * (local_total - local_total.detach())
    masked_mean = total / step_weight.clamp(min=1e-12)
    deficit = torch.clamp(torch.as_tensor(floor, dtype=entropies.dtype, device=entropies.device) - masked_mean, min=0)
    penalty = beta * deficit.pow(2)
    return torch.where(step_weight > 0, penalty, (entropies * 0).sum())


def check_top_p(top_p: float, name: str = "top_p") -> None:
    if not 0 < top_p <= 1:
        raise ValueError(f"`{name}` must be in (0, 1], got {top_p}.")


def check_score_params(entropy_weight: float, combination: str, prefix: str = "") -> None:
    if not 0 <= entropy_weight <= 1:
        raise ValueError(f"`{prefix}entropy_weight` must be in [0, 1], got {entropy_weight}.")
    if combination not in SCORE_COMBINATIONS:
        raise ValueError(f"`{prefix}score_combination` must be one of {SCORE_COMBINATIONS}, got {combination!r}.")


def check_mask_params(rho: float, temperature: float, prefix: str = "") -> None:
    if not 0 <= rho < 1:
        raise ValueError(f"`{prefix}rho` must be in [0, 1), got {rho}.")
    if not (temperature >= 0 and math.isfinite(temperature)):
        raise ValueError(f"`{prefix}mask_temperature` must be a finite number >= 0, got {temperature}.")


def check_paec_params(
    *,
    top_p: float,
    entropy_weight: float,
    score_combination: str,
    entropy_normalization: str,
    rho: float,
    mask_temperature: float,
    anchor_steps: int,
    rho_min: float,
    beta: float,
    tile_size: int | None,
    mask_scope: str,
    scope: str = "step",
    prefix: str = "paec_",
) -> None:
    """Validate PAEC's hyperparameters; errors name the field (with `prefix`), the value and the valid range."""
    check_top_p(top_p, f"{prefix}top_p")
    check_score_params(entropy_weight, score_combination, prefix)
    if entropy_normalization not in ENTROPY_NORMALIZATIONS:
        raise ValueError(
            f"`{prefix}entropy_normalization` must be one of {ENTROPY_NORMALIZATIONS}, got {entropy_normalization!r}."
        )
    check_mask_params(rho, mask_temperature, prefix)
    if isinstance(anchor_steps, bool) or not isinstance(anchor_steps, int) or anchor_steps < 1:
        raise ValueError(f"`{prefix}anchor_steps` must be an integer >= 1, got {anchor_steps!r}.")
    if not (rho_min > 0 and math.isfinite(rho_min)):
        raise ValueError(f"`{prefix}rho_min` must be a finite number > 0, got {rho_min}.")
    if not (beta >= 0 and math.isfinite(beta)):
        raise ValueError(f"`{prefix}beta` must be a finite number >= 0, got {beta}.")
    if tile_size is not None and (isinstance(tile_size, bool) or not isinstance(tile_size, int) or tile_size < 1):
        raise ValueError(f"`{prefix}tile_size` must be None or an integer >= 1, got {tile_size!r}.")
    if mask_scope not in MASK_SCOPES:
        raise ValueError(f"`{prefix}mask_scope` must be one of {MASK_SCOPES}, got {mask_scope!r}.")
    if scope not in PAEC_SCOPES:
        raise ValueError(f"`{prefix}scope` must be one of {PAEC_SCOPES}, got {scope!r}.")
