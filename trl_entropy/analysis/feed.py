# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""`AnalysisFeed`: the component that feeds an [`EntropyAnalysisCallback`] from the trainer's loss passes."""

import warnings
from typing import Any

import torch

from ..hook.component import OBSERVER_ORDER, Component
from ..hook.context import COMPLETION_REWARDS_KEY
from ..stages import StageDetection
from .batch import batch_analysis_sums
from .tokens import ALPHA_LOSS_TYPES, clipped_advantage_factor, gradient_norm_proxy, token_statistics


ANALYSIS_METRIC_PREFIX = "analysis/"


class AnalysisFeed(Component):
    r"""
    Feeds an [`EntropyAnalysisCallback`] at the optimizer steps it analyses: after shaping (the advantages the loss
    uses), the per-micro-batch sums of its quantities, reduced over processes; at the end of the step, the step's
    `analysis/` metrics. Records are labelled with the stage of the [`StageDetection`] component it brings.
    """

    name = "analysis"
    order = OBSERVER_ORDER
    requires = (StageDetection,)

    def __init__(self, args: Any, callback):
        super().__init__(args)
        self.callback = callback
        self._warned_alpha = False

    def _analysed(self, ctx) -> bool:
        return ctx.training and self.callback.wants_step(ctx.step)

    def wants_hidden_states(self, ctx) -> bool:
        return self.callback.gradient_norm and self._analysed(ctx)

    def on_generation(self, ctx, batch, rows) -> None:
        ctx.add_completion_rewards(batch)

    def on_shaped(self, ctx, forward) -> None:
        if not self._analysed(ctx):
            return
        callback = self.callback
        inputs, mask = forward.inputs, forward.mask
        completion_ids = inputs["completion_ids"]
        rewards = inputs.get(COMPLETION_REWARDS_KEY)
        correct = None if rewards is None else rewards >= callback.correct_reward  # NaN (unscored): incorrect
        gradient_norm = branching = None
        if callback.gradient_norm and self._alpha_supported(ctx):
            hidden_states = forward.hidden_states

            def compute(weight, bias, logit_scale, softcap):
                return token_statistics(
                    hidden_states.to(weight.device, weight.dtype),
                    weight,
                    bias,
                    completion_ids.to(weight.device),
                    top_p=callback.top_p,
                    temperature=ctx.temperature,
                    logit_scale=logit_scale,
                    softcap=softcap,
                    mask=mask.to(weight.device),
                    with_entropy=False,  # TRL's forward already gave it
                )

            stats = ctx.with_lm_head(compute)
            alpha = clipped_advantage_factor(
                inputs["advantages"],
                forward.per_token_logps,
                inputs.get("old_per_token_logps"),
                loss_type=ctx.loss_type,
                epsilon_low=ctx.epsilon_low,
                epsilon_high=ctx.epsilon_high,
                delta=ctx.args.delta,
            )
            gradient_norm = gradient_norm_proxy(alpha.to(stats.direction_norm.device), *stats[:2], mask)
            branching = stats.branching
        token_texts = completion_texts = None
        if callback.roles or callback.quality:
            tokenizer = getattr(ctx.processing_class, "tokenizer", ctx.processing_class)
            rows = [ids[keep].tolist() for ids, keep in zip(completion_ids.cpu(), mask.cpu() > 0, strict=True)]
            if callback.roles:
                # special tokens (EOS) decode to "" and take the role of the text before them
                token_texts = [[tokenizer.decode([token], skip_special_tokens=True) for token in row] for row in rows]
            if callback.quality:
                completion_texts = tokenizer.batch_decode(rows, skip_special_tokens=True)
        sums = batch_analysis_sums(
            forward.entropies.detach(),
            mask,
            correct=correct,
            gradient_norm=gradient_norm,
            branching=branching,
            token_texts=token_texts,
            completion_texts=completion_texts,
            num_bins=callback.num_bins,
            role_lexicon=callback.role_lexicon,
            require_boxed=callback.require_boxed,
        )
        names = sorted(sums)  # the same layout on every process
        local = torch.tensor([sums[name] for name in names], dtype=torch.float64, device=ctx.device)
        totals = ctx.reduce(local).tolist()
        reduced = {name: tuple(pair) for name, pair in zip(names, totals, strict=True)}
        stages = ctx.component("stages")
        callback.add(ctx.step, reduced, stage=None if stages is None else stages.detector.stage)

    def on_optimizer_step(self, ctx) -> None:
        # once per analysed optimizer step, over all its micro-batches and processes
        if self.callback.accumulating(ctx.step):
            for name, value in self.callback.step_metrics().items():
                ctx.log_value(ANALYSIS_METRIC_PREFIX + name, value, "train")

    def hyperparameters(self) -> dict[str, Any]:
        return {}

    def _alpha_supported(self, ctx) -> bool:
        supported = ctx.loss_type in ALPHA_LOSS_TYPES and ctx.importance_sampling_level == "token"
        if not supported and not self._warned_alpha:
            self._warned_alpha = True
            warnings.warn(
                f"EntropyAnalysisCallback: the gradient-norm proxy G_t is defined for token-level losses of types "
                f"{ALPHA_LOSS_TYPES}; this run uses loss_type={ctx.loss_type!r} with importance_sampling_level="
                f"{ctx.importance_sampling_level!r}, so G_t and the branching factor are not computed.",
                stacklevel=2,
            )
        return supported
