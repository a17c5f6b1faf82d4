# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Perplexity-based advantage shaping as a component: each completion's advantage times `1 - alpha * z(lnPPL)`."""

import textwrap
from typing import Any

import torch

from ..hook.component import SHAPER_ORDER, Component
from ..hook.policy import loss_mask
from .config import PPLShapingGRPOConfig
from .functional import (
    completion_log_perplexity,
    finite_token_mask,
    ppl_advantage_weights,
    ppl_shaped_advantages,
)


PAPER_2508_02260 = {
    "title": "Decomposing the Entropy-Performance Exchange: The Missing Keys to Unlocking Effective Reinforcement "
    "Learning",
    "id": "2508.02260",
    # docstyle-ignore
    "citation": textwrap.dedent("""\
        @article{deng2025decomposing,
            title        = {{Decomposing the Entropy-Performance Exchange: The Missing Keys to Unlocking Effective Reinforcement Learning}},
            author       = {Jia Deng and Jie Chen and Zhipeng Chen and Wayne Xin Zhao and Ji-Rong Wen},
            year         = 2025,
            eprint       = {arXiv:2508.02260},
        }"""),
}

# Keys this shaper adds to the generated batch (TRL shuffles and splits them with the rest of the batch).
WEIGHTS_KEY = "ppl_weights"
INDEX_KEY = "ppl_completion_index"


class PPLShaper(Component):
    r"""
    Multiplies each completion's advantage by `1 - alpha * z(lnPPL)`, the z-score taken over all completions of its
    prompt (on every process).

    Rollout log-probs come, in this order of preference, from TRL's `old_per_token_logps` (the rollout policy's
    full-distribution log-probs), from vLLM's sampling log-probs (`sampling_per_token_logps`, taken after top-p /
    top-k filtering, so possibly `-inf` or NaN at a token), or, when TRL computed neither (its on-policy default),
    from the loss pass itself: with
    `steps_per_generation == 1` the whole generated batch goes through one loss pass whose detached log-probs are the
    rollout policy's, so the weights cost nothing. Otherwise (`steps_per_generation > 1` without old log-probs) the
    groups are spread over several passes, and one extra no-gradient forward over the generated batch is run at
    generation time, the same forward TRL runs for `old_per_token_logps`. Tokens with a non-finite log-prob are left
    out of their completion's lnPPL mean ([`~trl_entropy.functional.finite_token_mask`]).
    """

    name = "ppl"
    order = SHAPER_ORDER + 10
    paper = PAPER_2508_02260

    config_class = PPLShapingGRPOConfig
    fields = ("ppl_alpha", "ppl_exclude_outliers", "ppl_sigma_floor", "ppl_clamp")

    def __init__(self, args: Any):
        super().__init__(args)
        self.alpha = self.option("ppl_alpha")
        self.exclude_outliers = self.option("ppl_exclude_outliers")
        self.sigma_floor = self.option("ppl_sigma_floor")
        clamp = self.option("ppl_clamp")
        self.clamp = None if clamp is None else tuple(clamp)

    def _global_weights(self, log_ppl: torch.Tensor, valid: torch.Tensor, num_generations: int):
        """Weights of every completion of every process, from per-completion lnPPL in global batch order."""
        # One value per completion is all the function needs: a (N, 1) "sequence" whose only log-prob is -lnPPL
        # (and whose mask says whether the completion had any token) has exactly that log-perplexity.
        return ppl_advantage_weights(
            (-log_ppl).unsqueeze(1),
            valid.to(log_ppl.dtype).unsqueeze(1),
            num_generations,
            alpha=self.alpha,
            exclude_outliers=self.exclude_outliers,
            sigma_floor=self.sigma_floor,
            clamp=self.clamp,
        )

    def on_generation(self, ctx, batch: dict[str, Any], rows) -> None:
        mode = ctx.mode
        mask = loss_mask(batch)
        # TRL's old log-probs first: vLLM's sampling log-probs are taken after top-p / top-k filtering.
        logps = batch.get("old_per_token_logps")
        if logps is None:
            logps = batch.get("sampling_per_token_logps")
        local_size = batch["completion_ids"].size(0)
        if logps is None:
            if mode == "eval" or ctx.args.steps_per_generation == 1:
                # Weights are computed in the loss pass; remember where each completion sits in the global batch,
                # because TRL shuffles the batch before the loss.
                start = ctx.process_index * local_size
                batch[INDEX_KEY] = torch.arange(start, start + local_size, device=mask.device)
                return
            # one no-gradient forward of the policy over the generated batch, as TRL does for old log-probs
            logps = ctx.policy_forward(batch)[0]
        # Non-finite log-probs are left out of each completion's mean (not zeroed), and a completion without a finite
        # one has no lnPPL: it stays out of its group's statistics and gets weight 1.
        log_ppl = completion_log_perplexity(logps, mask)
        valid = finite_token_mask(logps, mask).any(dim=1)
        weights = self._global_weights(ctx.gather(log_ppl), ctx.gather(valid), ctx.num_generations)
        start = ctx.process_index * local_size
        batch[WEIGHTS_KEY] = weights[start : start + local_size]
        batch["ppl_log_perplexity"] = log_ppl

    def shape(self, ctx, advantages, per_token_logps, entropies, mask, inputs) -> torch.Tensor:
        if WEIGHTS_KEY in inputs:
            weights, log_ppl = inputs[WEIGHTS_KEY], inputs["ppl_log_perplexity"]
        else:
            weights, log_ppl = self._weights_in_loss_pass(ctx, per_token_logps, mask, inputs)
        ctx.log_metric("ppl_log_perplexity_mean", log_ppl.sum(), log_ppl.numel())
        ctx.log_metric("ppl_weight_mean", weights.sum(), weights.numel())
        if self.clamp is not None:
            at_bound = (weights <= self.clamp[0]) | (weights >= self.clamp[1])
            ctx.log_metric("ppl_clamped_frac", (at_bound & (weights != 1)).float().sum(), weights.numel())
        return ppl_shaped_advantages(advantages, weights.to(advantages.dtype))

    def _weights_in_loss_pass(self, ctx, per_token_logps, mask, inputs):
        if INDEX_KEY not in inputs:
            raise RuntimeError("PPL shaping found neither weights nor completion indices in the batch.")
        log_ppl = completion_log_perplexity(per_token_logps, mask)
        valid = finite_token_mask(per_token_logps, mask).any(dim=1)
        index = inputs[INDEX_KEY]
        all_log_ppl, all_valid, all_index = ctx.gather(log_ppl), ctx.gather(valid), ctx.gather(index)
        order = torch.argsort(all_index)
        if not torch.equal(all_index[order], torch.arange(all_index.numel(), device=all_index.device)):
            raise RuntimeError(
                "PPL shaping in the loss pass needs every completion of the generated batch in one pass "
                "(steps_per_generation == 1)."
            )
        sorted_weights = self._global_weights(all_log_ppl[order], all_valid[order], ctx.num_generations)
        weights = torch.empty_like(sorted_weights)
        weights[order] = sorted_weights
        start = ctx.process_index * log_ppl.numel()
        return weights[start : start + log_ppl.numel()], log_ppl
