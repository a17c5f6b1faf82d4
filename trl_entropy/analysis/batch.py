# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""The analysis of one batch of completions as `(total, count)` sums, shared by the training callback and the offline
report so that both compute the same numbers, and the metrics derived from those sums.

Sums rather than means: micro-batches, processes and runs add up exactly, and the callback reduces one tensor across
processes. Every name is fixed by the options (bins, roles, flags), never by the data, so that all processes reduce
the same layout.
"""

import math
from collections.abc import Sequence
from typing import Any

import torch

from .text import ROLES, quality_flags, role_sums
from .tokens import check_num_bins, positional_profile_sums, profile_means, u_shape_statistic


PROFILE_QUANTITIES = ("entropy", "gradient_norm", "branching")
GROUPS = ("all", "correct", "incorrect")
QUALITY_FLAGS = ("missing_boxed", "multiple_boxed", "repetitive", "garbled", "language_mixing", "any_issue")


def _group_rows(correct: torch.Tensor | None, batch_size: int, device) -> dict[str, torch.Tensor | None]:
    if correct is None:
        return {"all": None}
    correct = correct.to(device).bool()
    return {"all": None, "correct": correct, "incorrect": ~correct}


def batch_analysis_sums(
    entropies: torch.Tensor,
    mask: torch.Tensor,
    *,
    correct: torch.Tensor | None = None,
    gradient_norm: torch.Tensor | None = None,
    branching: torch.Tensor | None = None,
    token_texts: Sequence[Sequence[str]] | None = None,
    completion_texts: Sequence[str] | None = None,
    num_bins: int = 10,
    role_lexicon: Any = None,
    require_boxed: bool = False,
) -> dict[str, tuple[float, float]]:
    r"""
    `(total, count)` sums of one batch: the positional profile of every given quantity (entropy \\(H_t\\), gradient-norm
    proxy \\(G_t\\), branching factor) for all, correct and incorrect completions; the share and mean entropy of each
    token role; the count of each quality issue.

    Args:
        entropies (`torch.Tensor`):
            `(B, T)` token entropies.
        mask (`torch.Tensor`):
            `(B, T)` valid completion tokens.
        correct (`torch.Tensor`, *optional*):
            `(B,)` bool, whether each completion is correct; without it only the `all` group is summed.
        gradient_norm (`torch.Tensor`, *optional*), branching (`torch.Tensor`, *optional*):
            `(B, T)` \\(G_t\\) and nucleus sizes.
        token_texts (`Sequence[Sequence[str]]`, *optional*):
            The decoded text of each valid token of each completion, in order (the `B` completions), for the roles.
        completion_texts (`Sequence[str]`, *optional*):
            The decoded text of each completion, for the quality issues.
        num_bins (`int`, *optional*, defaults to `10`):
            Relative-position bins.
        role_lexicon (*optional*):
            A [`~trl_entropy.analysis.text.TokenRoleLexicon`]; the default lexicon when `None`.
        require_boxed (`bool`, *optional*, defaults to `False`):
            Whether an answer must be in `\boxed{}` (flags `missing_boxed`).

    Returns:
        `dict[str, tuple[float, float]]`
    """
    check_num_bins(num_bins)
    mask = mask.to(entropies.device)
    valid = mask != 0
    sums: dict[str, tuple[float, float]] = {}
    groups = _group_rows(correct, entropies.size(0), entropies.device)
    quantities = {"entropy": entropies, "gradient_norm": gradient_norm, "branching": branching}
    for quantity, values in quantities.items():
        if values is None:
            continue
        values = values.to(entropies.device).float()
        for group, rows in groups.items():
            bin_sums, bin_counts = positional_profile_sums(values, mask, num_bins, rows)
            selected = valid if rows is None else valid & rows.unsqueeze(-1)
            sums[f"{quantity}/{group}"] = (float(values[selected].double().sum()), float(selected.sum()))
            for index, (total, count) in enumerate(zip(bin_sums.tolist(), bin_counts.tolist(), strict=True)):
                sums[f"{quantity}/{group}/bin{index}"] = (total, count)
    if token_texts is not None:
        if len(token_texts) != entropies.size(0):
            raise ValueError(f"`token_texts` must hold {entropies.size(0)} completions, got {len(token_texts)}.")
        role_totals = {role: [0.0, 0.0] for role in ROLES}
        for row, tokens in enumerate(token_texts):
            row_entropies = entropies[row][valid[row]].tolist()
            if len(tokens) != len(row_entropies):
                raise ValueError(
                    f"Completion {row} has {len(row_entropies)} valid tokens but {len(tokens)} token texts."
                )
            for role, (total, count) in role_sums(list(tokens), row_entropies, role_lexicon).items():
                role_totals[role][0] += total
                role_totals[role][1] += count
        num_tokens = float(valid.sum())
        for role, (total, count) in role_totals.items():
            sums[f"role/{role}/entropy"] = (total, count)
            sums[f"role/{role}/share"] = (count, num_tokens)
    if completion_texts is not None:
        flags = [quality_flags(text, require_boxed=require_boxed) for text in completion_texts]
        for flag in QUALITY_FLAGS:
            sums[f"quality/{flag}"] = (float(sum(f[flag] for f in flags)), float(len(flags)))
    return sums


def add_sums(into: dict[str, list[float]], sums: dict[str, tuple[float, float]]) -> dict[str, list[float]]:
    """Add `sums` into the running totals `into` (in place) and return it."""
    for name, (total, count) in sums.items():
        running = into.setdefault(name, [0.0, 0.0])
        running[0] += total
        running[1] += count
    return into


def _mean(sums, name: str) -> float:
    total, count = sums.get(name, (0.0, 0.0))
    return total / count if count > 0 else math.nan


def analysis_profiles(sums: dict[str, Sequence[float]], num_bins: int = 10) -> dict[str, dict[str, list[float]]]:
    """The positional profiles (per-bin means, NaN for empty bins) of every quantity and group present in `sums`."""
    profiles: dict[str, dict[str, list[float]]] = {}
    for quantity in PROFILE_QUANTITIES:
        for group in GROUPS:
            names = [f"{quantity}/{group}/bin{index}" for index in range(num_bins)]
            if names[0] not in sums:
                continue
            totals = [sums[name][0] for name in names]
            counts = [sums[name][1] for name in names]
            profiles.setdefault(quantity, {})[group] = profile_means(totals, counts)
    return profiles


def analysis_metrics(sums: dict[str, Sequence[float]], num_bins: int = 10) -> dict[str, float]:
    """
    The logged metrics of `sums`: for each quantity and group its mean, and for the `all` group the U-shape statistic
    of its profile (`<quantity>_ends`, `_middle`, `_u_shape` = ends - middle); each role's share and mean entropy;
    each quality issue's rate.
    """
    metrics: dict[str, float] = {}
    profiles = analysis_profiles(sums, num_bins)
    for quantity in PROFILE_QUANTITIES:
        for group in GROUPS:
            if f"{quantity}/{group}" in sums:
                suffix = "" if group == "all" else f"_{group}"
                metrics[f"{quantity}{suffix}"] = _mean(sums, f"{quantity}/{group}")
        if quantity in profiles:
            shape = u_shape_statistic(profiles[quantity]["all"])
            metrics[f"{quantity}_ends"] = shape["ends"]
            metrics[f"{quantity}_middle"] = shape["middle"]
            metrics[f"{quantity}_u_shape"] = shape["difference"]
    for role in ROLES:
        if f"role/{role}/entropy" in sums:
            metrics[f"role_{role}_share"] = _mean(sums, f"role/{role}/share")
            metrics[f"role_{role}_entropy"] = _mean(sums, f"role/{role}/entropy")
    for flag in QUALITY_FLAGS:
        if f"quality/{flag}" in sums:
            metrics[f"quality_{flag}"] = _mean(sums, f"quality/{flag}")
    return metrics
