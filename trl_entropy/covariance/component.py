# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Clip-Cov (a shaper) and KL-Cov (a loss term) as components, with their shared selection scope."""

import textwrap
from typing import Any

import torch

from ..batch_layout import is_fully_on_policy, on_policy_refusal
from ..hook.component import LOSS_ORDER, SHAPER_ORDER, Component
from ..hook.policy import loss_mask
from .config import ClipCovGRPOConfig, KLCovGRPOConfig, check_global_scope_layout
from .functional import (
    clip_cov_selection,
    covariance_summary,
    kl_cov_penalty,
    kl_cov_selection,
    ppo_clipped_tokens,
    split_valid_token_vector,
    token_covariance,
    valid_token_vector,
)


PAPER_2505_22617 = {
    "title": "The Entropy Mechanism of Reinforcement Learning for Reasoning Language Models",
    "id": "2505.22617",
    # docstyle-ignore
    "citation": textwrap.dedent("""\
        @article{cui2025entropy,
            title        = {{The Entropy Mechanism of Reinforcement Learning for Reasoning Language Models}},
            author       = {Ganqu Cui and Yuchen Zhang and Jiacheng Chen and Lifan Yuan and Zhi Wang and Yuxin Zuo and Haozhan Li and Yuchen Fan and Huayu Chen and Weize Chen and Zhiyuan Liu and Hao Peng and Lei Bai and Wanli Ouyang and Yu Cheng and Bowen Zhou and Ning Ding},
            year         = 2025,
            eprint       = {arXiv:2505.22617},
        }"""),
}

CLIP_COV_FIELDS = tuple(name for name in ClipCovGRPOConfig.__dataclass_fields__ if name.startswith("clip_cov_"))
KL_COV_FIELDS = tuple(name for name in KLCovGRPOConfig.__dataclass_fields__ if name.startswith("kl_cov_"))


class CovarianceScope(Component):
    """
    The selection set of the two covariance methods: each micro-batch of each process (`per_micro_batch`, the
    authors' code), or every valid token of the optimizer step on every process (`global`, the paper).

    In the `global` scope, when TRL prepares the first micro-batch of every optimizer step, the log-probs of the
    current policy are computed without gradient for all the step's micro-batches (a step window: TRL buffers them,
    and the policy does not change until the step's last backward). Their valid tokens, with the advantages, are
    gathered from every process in process order, the covariance is centred over all of them and the method's
    selection is made once on that row (the same function as the per-micro-batch scope, on the same row on every
    process); each loss pass then reads its micro-batch's part. In evaluation, a batch is its own selection set.
    """

    scope_field: str = ""

    @property
    def scope(self) -> str:
        return self.options[self.scope_field]

    def check_args(self, args: Any) -> None:
        # the method's config (or a composed one) checked the layout itself
        if self.scope == "global" and not isinstance(args, self.config_class):
            check_global_scope_layout(args, self.scope_field)

    def select_tokens(self, ctx, cov: torch.Tensor, mask: torch.Tensor, exclude: torch.Tensor | None) -> torch.Tensor:
        """The method's selection on one selection set (the `(1, n)` row of the step in the global scope)."""
        raise NotImplementedError

    def exclusion(self, ctx, logps, old_logps, advantages) -> torch.Tensor | None:
        """Tokens that are never selected (Clip-Cov: those whose PPO ratio is clipped); `None` for none."""
        return None

    def wants_step_window(self, ctx) -> bool:
        return self.scope == "global" and ctx.training

    def build_step_window(self, ctx, batches: list[dict[str, Any]]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        masks, logps, advantages, excludes = [], [], [], []
        for batch in batches:
            mask = loss_mask(batch)
            batch_logps = ctx.policy_forward(batch)[0]
            old_logps = batch.get("old_per_token_logps")
            exclude = None if old_logps is None else self.exclusion(ctx, batch_logps, old_logps, batch["advantages"])
            masks.append(mask)
            logps.append(batch_logps)
            advantages.append(batch["advantages"])
            excludes.append(torch.zeros_like(mask) if exclude is None else exclude.float())
        # one (n, 3) gather of every valid token's log-prob, advantage and exclusion flag
        local_tokens = torch.cat([valid_token_vector(values, masks) for values in (logps, advantages, excludes)]).T
        all_tokens, offset = ctx.gather_variable_length(local_tokens)
        all_logps, all_advantages, all_excluded = all_tokens.T.unsqueeze(1)
        everything = torch.ones_like(all_logps)
        cov = token_covariance(all_advantages, all_logps, everything)
        selected = self.select_tokens(ctx, cov, everything, all_excluded > 0.5)
        local = slice(offset, offset + local_tokens.size(0))
        covariances = split_valid_token_vector(cov[0, local], masks)
        selections = split_valid_token_vector(selected[0, local], masks)
        return list(zip(covariances, selections, strict=True))

    def covariance_and_selection(self, ctx, advantages, per_token_logps, mask, inputs, with_exclusion: bool):
        """This loss pass's covariance and selection: from the step window, or from the micro-batch itself."""
        if ctx.step_window_active():
            return ctx.step_window_entry(mask)
        cov = token_covariance(advantages, per_token_logps, mask)
        old_logps = inputs.get("old_per_token_logps")
        # on-policy (no old log-probs) the ratio is 1: no token is clipped
        exclude = None
        if with_exclusion and old_logps is not None:
            exclude = self.exclusion(ctx, per_token_logps, old_logps, advantages)
        return cov, self.select_tokens(ctx, cov, mask, exclude)


def log_covariance_metrics(ctx, prefix: str, cov, mask, selected) -> None:
    """Log the selected share of the valid tokens and the minimum, mean and maximum covariance of the micro-batch.

    The mean is exact over all tokens of all processes; the minimum and maximum are those of each micro-batch of each
    process, averaged over the micro-batches and processes of the step (the hook reduces sums)."""
    num_valid = mask.sum()
    has_tokens = float(num_valid > 0)
    low, _, high = covariance_summary(cov, mask)
    ctx.log_metric(f"{prefix}_selected_share", selected.sum(), num_valid)
    ctx.log_metric(f"{prefix}_cov_mean", (cov * mask).sum(), num_valid)
    ctx.log_metric(f"{prefix}_cov_min", low.nan_to_num(0.0), has_tokens)
    ctx.log_metric(f"{prefix}_cov_max", high.nan_to_num(0.0), has_tokens)
    ctx.record_token_values(f"{prefix}_selected", selected.float(), kind="selection")


class ClipCovShaper(CovarianceScope):
    """Sets the advantage of the Clip-Cov tokens to `0` (no policy gradient through them) and logs the selection.
    Last of the shapers: the covariance is that of the advantages the loss would otherwise use."""

    name = "clip_cov"
    order = SHAPER_ORDER + 40
    paper = PAPER_2505_22617
    config_class = ClipCovGRPOConfig
    fields = CLIP_COV_FIELDS
    scope_field = "clip_cov_scope"

    def __init__(self, args: Any):
        super().__init__(args)
        self.ratio = self.option("clip_cov_ratio")
        self.lower = self.option("clip_cov_lb")
        self.upper = self.option("clip_cov_ub")
        self.exclude_clipped = self.option("clip_cov_exclude_clipped")
        self.generator: torch.Generator | None = None

    def conflict(self, other: Component) -> str | None:
        if other.name == "kl_cov":
            return (
                "they are the two alternative controls of arXiv 2505.22617 on the same covariance; KL-Cov would rank "
                "the covariance of advantages Clip-Cov has just zeroed at random tokens. Run one of them."
            )
        return None

    def random_generator(self, ctx) -> torch.Generator:
        """The CPU generator of the draws, seeded once: with `seed + process_index` in the per-micro-batch scope (each
        process draws its own), with `seed` in the global scope (every process makes the same draw on the same row)."""
        if self.generator is None:
            offset = 0 if self.scope == "global" else ctx.process_index
            self.generator = torch.Generator().manual_seed(ctx.args.seed + offset)
        return self.generator

    def select_tokens(self, ctx, cov, mask, exclude):
        return clip_cov_selection(
            cov, mask, self.ratio, self.lower, self.upper, self.random_generator(ctx), exclude=exclude
        )

    def exclusion(self, ctx, logps, old_logps, advantages):
        if not self.exclude_clipped:
            return None
        return ppo_clipped_tokens(logps, old_logps, advantages, ctx.epsilon_low, ctx.epsilon_high)

    def shape(self, ctx, advantages, per_token_logps, entropies, mask, inputs) -> torch.Tensor:
        cov, selected = self.covariance_and_selection(ctx, advantages, per_token_logps, mask, inputs, True)
        candidates = (mask > 0) & (cov > self.lower) & (cov < self.upper)
        ctx.log_metric("clip_cov_candidate_share", candidates.sum(), mask.sum())
        log_covariance_metrics(ctx, "clip_cov", cov, mask, selected)
        base = advantages.unsqueeze(1) if advantages.dim() == 1 else advantages
        return base.expand(mask.shape).masked_fill(selected, 0.0)


class KLCovPenalty(CovarianceScope):
    """`kl_cov_coef * |log p - log p_old|` on the top-covariance tokens, summed and divided by the valid tokens."""

    name = "kl_cov"
    order = LOSS_ORDER + 30
    paper = PAPER_2505_22617
    config_class = KLCovGRPOConfig
    fields = KL_COV_FIELDS
    scope_field = "kl_cov_scope"

    def conflict(self, other: Component) -> str | None:
        if other.name == "sent_kl" and other.option("sent_kl_target") == "old":
            return (
                "both put |log p - log p_old| on covariance-selected tokens (SENT's term is KL-Cov's restricted to "
                "low-entropy tokens), so the same tokens would be penalised twice under two selections. Run one of "
                "them, or SENT with `sent_kl_target='ref'`."
            )
        return None

    def check_args(self, args: Any) -> None:
        super().check_args(args)
        if is_fully_on_policy(args):
            raise ValueError(
                on_policy_refusal(args, "KL-Cov's penalty (`kl_cov`)") + " (e.g. `steps_per_generation = 2 * "
                "gradient_accumulation_steps`), or train with Clip-Cov (`clip_cov`), which acts on-policy."
            )

    def select_tokens(self, ctx, cov, mask, exclude):
        return kl_cov_selection(cov, mask, self.options["kl_cov_ratio"])

    def loss(self, ctx, per_token_logps, entropies, mask, inputs):
        old_logps = inputs.get("old_per_token_logps")
        if old_logps is None:
            # TRL leaves it out when it trains on a batch with the policy that sampled it: then p_old = p.
            old_logps = per_token_logps.detach()
        cov, selected = self.covariance_and_selection(
            ctx, inputs["advantages"], per_token_logps.detach(), mask, inputs, False
        )
        per_token = kl_cov_penalty(per_token_logps, old_logps, selected, self.options["kl_cov_coef"]) * mask
        num_valid = mask.sum()
        penalty = per_token.sum() / num_valid.clamp(min=1)
        distance = (per_token_logps.detach() - old_logps.detach()).abs()
        ctx.log_metric("kl_cov_penalty", penalty.detach(), 1.0)
        ctx.log_metric("kl_cov_selected_kl", (distance * selected).sum(), selected.sum())
        log_covariance_metrics(ctx, "kl_cov", cov, mask, selected)
        return penalty
