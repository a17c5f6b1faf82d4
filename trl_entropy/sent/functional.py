# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""SENT's token-level KL (arXiv 2512.04359): a KL constraint on the low-entropy tokens, strongest where advantage and
log-prob covary most; METHODS.md section 5 (token side).

Per micro-batch, without gradient: `L` is the `low_entropy_share` lowest-entropy valid tokens; on `L`,
`cov_t = (A_t - mean_L A) (logp_t - mean_L logp)`; the top `ratio` share of `L` by `cov` gets the coefficient
`high_mult * coef`, the bottom `ratio` share `low_mult * coef`, every other token `0`. The penalty of a token is its
coefficient times a KL estimate between the current policy and a target (the policy that sampled the batch in the
authors' code), and it is the only term with gradient (through the current log-probs).
"""

import math
from typing import NamedTuple

import torch

from ..tensor_checks import check_value as _check
from ..tensor_checks import token_advantages as _token_advantages


KL_ESTIMATORS = ("abs", "k3")


def check_sent_kl_params(
    low_entropy_share: float,
    ratio: float,
    coef: float,
    high_mult: float,
    low_mult: float,
    prefix: str = "",
    names: dict[str, str] | None = None,
) -> None:
    r"""
    Raise a `ValueError` naming the first invalid parameter of [`low_entropy_cov_kl`], its value and its valid range.

    Args:
        low_entropy_share (`float`), ratio (`float`), coef (`float`), high_mult (`float`), low_mult (`float`):
            The parameters of [`low_entropy_cov_kl`].
        prefix (`str`, *optional*, defaults to `""`):
            Prefix of the names in the message, e.g. `"sent_"` for config fields.
        names (`dict[str, str]`, *optional*):
            Names to use instead of the parameter names (config fields named differently).
    """
    names = names or {}

    def name(parameter: str) -> str:
        return prefix + names.get(parameter, parameter)

    _check(name("low_entropy_share"), low_entropy_share, 0 < low_entropy_share <= 1, "in (0, 1]")
    _check(name("ratio"), ratio, 0 < ratio <= 0.5, "in (0, 0.5]")
    _check(name("coef"), coef, coef >= 0 and math.isfinite(coef), "a finite number >= 0")
    _check(name("high_mult"), high_mult, high_mult >= 0 and math.isfinite(high_mult), "a finite number >= 0")
    _check(name("low_mult"), low_mult, low_mult >= 0 and math.isfinite(low_mult), "a finite number >= 0")


class CovSelection(NamedTuple):
    """The tokens SENT's KL selects, boolean masks of the input's `(B, T)` shape."""

    low_entropy: torch.Tensor
    """`L`, the low-entropy share of the valid tokens."""
    high_cov: torch.Tensor
    """The top-`ratio` share of `L` by covariance (coefficient `high_mult * coef`)."""
    low_cov: torch.Tensor
    """The bottom-`ratio` share of `L` by covariance (coefficient `low_mult * coef`)."""


def low_entropy_cov_selection(
    entropies: torch.Tensor,
    logps: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    low_entropy_share: float = 0.8,
    ratio: float = 0.0002,
) -> CovSelection:
    r"""
    The tokens of SENT's low-entropy covariance KL (no gradient).

    1. `L`: the `n_L = floor(low_entropy_share * n)` valid tokens of lowest entropy (`n` valid tokens; ties broken by
       position, first in row-major order).
    2. On `L`: $\mathrm{cov}_t = (A_t - \bar A_L)(\log p_t - \overline{\log p}_L)$.
    3. `k = max(1, floor(ratio * n_L))` (at least one token, as the authors' code): the `k` tokens of `L` with the
       largest `cov` are the high-covariance tokens; the `k` with the smallest `cov` among the others (fewer when
       `n_L < 2k`) are the low-covariance tokens. Ties are broken by position.

    The whole tensor is one selection: pass the tokens of one micro-batch for the authors' per-micro-batch rule, or
    the tokens of every process concatenated for a global one.

    Args:
        entropies (`torch.Tensor`):
            Per-token entropies (nats), `(B, T)`.
        logps (`torch.Tensor`):
            Per-token log-probs of the current policy, `(B, T)`.
        advantages (`torch.Tensor`):
            Advantages, `(B,)` (one per completion) or `(B, T)`.
        mask (`torch.Tensor`):
            Mask of the valid completion tokens, `(B, T)`.
        low_entropy_share (`float`, *optional*, defaults to `0.8`):
            Share of valid tokens in `L`, in `(0, 1]`.
        ratio (`float`, *optional*, defaults to `0.0002`):
            Share `r` of `L` selected at each end of the covariance ranking, in `(0, 0.5]`.

    Returns:
        [`CovSelection`]: Masks of `L`, of the high-covariance and of the low-covariance tokens.
    """
    check_sent_kl_params(low_entropy_share, ratio, coef=0.0, high_mult=0.0, low_mult=0.0)
    if entropies.dim() != 2 or logps.shape != entropies.shape or mask.shape != entropies.shape:
        raise ValueError(
            "`entropies`, `logps` and `mask` must share one (B, T) shape, got "
            f"{tuple(entropies.shape)}, {tuple(logps.shape)} and {tuple(mask.shape)}."
        )
    advantages = _token_advantages(advantages, entropies.shape)
    selections = [torch.zeros(entropies.numel(), dtype=torch.bool, device=entropies.device) for _ in range(3)]
    in_low, in_high, in_bottom = selections
    positions = (mask > 0).reshape(-1).nonzero(as_tuple=True)[0]
    num_low = math.floor(low_entropy_share * positions.numel() + 1e-9)
    if num_low > 0:
        flat_entropies = entropies.detach().float().reshape(-1)[positions]
        low = positions[torch.sort(flat_entropies, stable=True).indices[:num_low]]
        low_advantages = advantages.detach().float().reshape(-1)[low]
        low_logps = logps.detach().float().reshape(-1)[low]
        cov = (low_advantages - low_advantages.mean()) * (low_logps - low_logps.mean())
        num_selected = max(1, math.floor(ratio * num_low + 1e-9))
        ranking = torch.sort(cov, descending=True, stable=True).indices
        in_low[low] = True
        in_high[low[ranking[:num_selected]]] = True
        # The bottom of the ranking, never overlapping the top (which only happens when L holds fewer than 2k tokens).
        in_bottom[low[ranking[max(num_selected, num_low - num_selected) :]]] = True
    return CovSelection(*(selection.view(entropies.shape) for selection in selections))


def low_entropy_cov_coefficients(
    entropies: torch.Tensor,
    logps: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    low_entropy_share: float = 0.8,
    ratio: float = 0.0002,
    coef: float = 0.1,
    high_mult: float = 2.0,
    low_mult: float = 0.5,
) -> torch.Tensor:
    r"""
    Per-token KL coefficients `c_t` of SENT's low-entropy covariance KL (no gradient): `high_mult * coef` on the
    high-covariance tokens of [`low_entropy_cov_selection`], `low_mult * coef` on the low-covariance ones, `0`
    elsewhere.

    Args:
        entropies (`torch.Tensor`), logps (`torch.Tensor`), advantages (`torch.Tensor`), mask (`torch.Tensor`),
        low_entropy_share (`float`, *optional*, defaults to `0.8`), ratio (`float`, *optional*, defaults to
        `0.0002`):
            See [`low_entropy_cov_selection`].
        coef (`float`, *optional*, defaults to `0.1`):
            Base coefficient `c`, `>= 0`.
        high_mult (`float`, *optional*, defaults to `2.0`), low_mult (`float`, *optional*, defaults to `0.5`):
            Multipliers of `c` for the high- and low-covariance tokens, `>= 0`.

    Returns:
        `torch.Tensor`: The coefficients, `(B, T)`, float32.

    Examples:
    ```python
    >>> entropies = torch.tensor([[0.1, 0.2, 0.3, 0.4, 9.0]])  # L = the first four tokens
    >>> logps = torch.tensor([[-1.0, -2.0, -3.0, -4.0, -5.0]])
    >>> advantages = torch.tensor([[1.0, -1.0, 1.0, -1.0, 0.0]])  # cov on L: 1.5, -0.5, -0.5, 1.5
    >>> low_entropy_cov_coefficients(entropies, logps, advantages, torch.ones(1, 5), ratio=0.25)
    tensor([[0.2000, 0.0000, 0.0500, 0.0000, 0.0000]])
    ```
    """
    check_sent_kl_params(low_entropy_share, ratio, coef, high_mult, low_mult)
    selection = low_entropy_cov_selection(entropies, logps, advantages, mask, low_entropy_share, ratio)
    return selection_coefficients(selection, coef, high_mult, low_mult)


def selection_coefficients(selection: CovSelection, coef: float, high_mult: float, low_mult: float) -> torch.Tensor:
    """The coefficients `c_t` of a [`CovSelection`]: `high_mult * coef`, `low_mult * coef` or `0`, float32."""
    return selection.high_cov.float() * (high_mult * coef) + selection.low_cov.float() * (low_mult * coef)


def kl_estimate(logps: torch.Tensor, target_logps: torch.Tensor, estimator: str = "abs") -> torch.Tensor:
    r"""
    Per-token KL estimate between the current policy and a target policy, from the log-probs of the sampled tokens.

    - `"abs"`: $|\log p_t - \log q_t|$, the authors' per-token KL (against the policy that sampled the batch).
    - `"k3"`: $e^{\log q_t - \log p_t} - (\log q_t - \log p_t) - 1$, the non-negative estimator TRL uses for its
      reference KL (`beta`).

    Args:
        logps (`torch.Tensor`):
            Log-probs of the current policy, `(B, T)`, with gradient.
        target_logps (`torch.Tensor`):
            Log-probs of the target policy, `(B, T)` (detached here).
        estimator (`str`, *optional*, defaults to `"abs"`):
            `"abs"` or `"k3"`.

    Returns:
        `torch.Tensor`: The estimate per token, `(B, T)`, with gradient through `logps`.
    """
    _check("estimator", estimator, estimator in KL_ESTIMATORS, f"one of {KL_ESTIMATORS}")
    delta = target_logps.detach() - logps
    if estimator == "abs":
        return delta.abs()
    return torch.exp(delta) - delta - 1


def low_entropy_cov_kl(
    entropies: torch.Tensor,
    logps: torch.Tensor,
    old_logps: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    low_entropy_share: float = 0.8,
    ratio: float = 0.0002,
    coef: float = 0.1,
    high_mult: float = 2.0,
    low_mult: float = 0.5,
    estimator: str = "abs",
) -> torch.Tensor:
    r"""
    SENT's per-token low-entropy covariance KL penalty, the authors' rule
    ([arXiv 2512.04359](https://huggingface.co/papers/2512.04359)):

    $$\ell_t = c_t \cdot \left|\log \pi_\theta(o_t) - \log \pi_{\theta_\text{old}}(o_t)\right|,$$

    with `c_t` from [`low_entropy_cov_coefficients`] (`2c` on the top `r` share of the low-entropy tokens by
    advantage/log-prob covariance, `0.5c` on the bottom `r` share, `0` elsewhere). The selection is detached; the
    gradient flows through `logps` only.

    When the update is fully on-policy, `old_logps` equals `logps` and the penalty is `0` with zero gradient: use it
    with `num_iterations > 1` or `steps_per_generation > gradient_accumulation_steps`, or pass the reference model's
    log-probs with `estimator="k3"` (a KL to the reference, which acts on-policy).

    Args:
        entropies (`torch.Tensor`):
            Per-token entropies (nats), `(B, T)`.
        logps (`torch.Tensor`):
            Log-probs of the current policy, `(B, T)`, with gradient.
        old_logps (`torch.Tensor`):
            Log-probs of the target policy (the sampling policy; or the reference model), `(B, T)`.
        advantages (`torch.Tensor`):
            Advantages, `(B,)` or `(B, T)`.
        mask (`torch.Tensor`):
            Mask of the valid completion tokens, `(B, T)`.
        low_entropy_share (`float`, *optional*, defaults to `0.8`), ratio (`float`, *optional*, defaults to
        `0.0002`), coef (`float`, *optional*, defaults to `0.1`), high_mult (`float`, *optional*, defaults to
        `2.0`), low_mult (`float`, *optional*, defaults to `0.5`):
            See [`low_entropy_cov_coefficients`].
        estimator (`str`, *optional*, defaults to `"abs"`):
            KL estimate per token, see [`kl_estimate`].

    Returns:
        `torch.Tensor`: The penalty per token, `(B, T)`, zero outside the selected tokens; the loss term is its sum
        over the valid tokens divided by their number (the authors' token mean).
    """
    coefficients = low_entropy_cov_coefficients(
        entropies, logps, advantages, mask, low_entropy_share, ratio, coef, high_mult, low_mult
    )
    return coefficients.to(logps.dtype) * kl_estimate(logps, old_logps, estimator)
