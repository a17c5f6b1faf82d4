# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""PAEC as a component: decision statistics, soft mask, anchor and anchored entropy floor (arXiv 2606.08543)."""

import math
import textwrap
from typing import Any, NamedTuple

import torch
from transformers import TrainerCallback
from transformers.trainer_callback import ExportableState

from ..covariance.functional import valid_token_vector
from ..distributed import check_step_scope_layout
from ..hook.component import LOSS_ORDER, Component
from ..hook.policy import loss_mask
from .config import PAECGRPOConfig
from .functional import (
    decision_score,
    decision_statistics,
    paec_penalty,
    soft_mask,
)


PAPER_2606_08543 = {
    "title": "PAEC: A Position-Aware Entropy Calibration Framework for LLM Reasoning via RLVR",
    "id": "2606.08543",
    # docstyle-ignore
    "citation": textwrap.dedent("""\
        @article{paec2026,
            title        = {{PAEC: A Position-Aware Entropy Calibration Framework for LLM Reasoning via RLVR}},
            year         = 2026,
            eprint       = {arXiv:2606.08543},
        }"""),
}

PAEC_FIELDS = tuple(name for name in PAECGRPOConfig.__dataclass_fields__ if name.startswith("paec_"))


def is_fsdp1(accelerator) -> bool:
    """Whether `accelerator` shards with FSDP version 1: accelerate's FSDP plugin, whose `fsdp_version` is 1 unless
    set to 2 (accelerate sets `state.fsdp_plugin` only under FSDP)."""
    plugin = getattr(accelerator.state, "fsdp_plugin", None)
    return plugin is not None and getattr(plugin, "fsdp_version", 1) != 2


def refuse_fsdp1(accelerator) -> None:
    """Raise a `ValueError` under FSDP1, whose resharded LM head PAEC's statistics cannot read."""
    if is_fsdp1(accelerator):
        raise ValueError(
            "PAEC (PAECGRPOTrainer) does not support FSDP1 (accelerate's FSDP plugin with fsdp_version 1, its "
            "default when `fsdp_version` is not set): the decision statistics read the LM head's weight after the "
            "forward, when FSDP1 has already resharded it. Use FSDP2 (`fsdp_version: 2` in the accelerate config, "
            "as recipes/accelerate_configs/fsdp2.yaml; or `fsdp_config={'version': 2}`), DDP, or DeepSpeed (ZeRO-3 "
            "gathers the head for the statistics)."
        )


class ScoredPart(NamedTuple):
    """One micro-batch of one process, scored without gradient: each `(B, T)`."""

    scores: torch.Tensor
    entropies: torch.Tensor
    """TRL's full-vocabulary entropies, detached, float32."""
    mask: torch.Tensor
    nucleus_size: torch.Tensor
    top2_gap: torch.Tensor
    project: torch.Tensor
    """The positions projected through the LM head (boolean)."""


class PAECPart(NamedTuple):
    """What a loss pass reads for its micro-batch: the soft mask and the logged statistics, each `(B, T)`."""

    weights: torch.Tensor
    nucleus_size: torch.Tensor
    top2_gap: torch.Tensor
    project: torch.Tensor


class PAECWindow(NamedTuple):
    """The soft masks of a set of micro-batches (the optimizer step, or one micro-batch) with one quantile, and the
    set's `sum(m H)` and `sum(m)` (over all processes in the `step` scope), of which `Hbar` is the ratio."""

    parts: list[PAECPart]
    total: torch.Tensor
    weight: torch.Tensor


class PAECAnchor(TrainerCallback, ExportableState):
    r"""
    PAEC's entropy anchor `H_0`: the masked mean entropy over the first `anchor_steps` optimizer steps.

    The trainer adds the mask-weighted entropy sum and mask sum of every training micro-batch of those steps (already
    summed over processes, so every process holds the same state); the first micro-batch of step `anchor_steps`
    freezes `value = total / count`. A stateful callback: saved in `trainer_state.json` and restored on resume, so a
    resumed run keeps its anchor (or finishes collecting it).
    """

    def __init__(self, anchor_steps: int = 4):
        self.anchor_steps = anchor_steps
        self.total = 0.0
        self.count = 0.0
        self.value: float | None = None

    def collecting(self, step: int) -> bool:
        """Whether micro-batches of optimizer step `step` (0-based) go into the anchor: during the first
        `anchor_steps` steps, and after them as long as no masked position has been seen (then the anchor is frozen
        as soon as there is one)."""
        return self.value is None and (step < self.anchor_steps or self.count == 0)

    def add(self, step: int, total: float, count: float) -> None:
        """Add one micro-batch of optimizer step `step` (0-based) while the anchor is being collected."""
        if self.collecting(step):
            self.total += total
            self.count += count

    def freeze_if_due(self, step: int) -> float | None:
        """Freeze the anchor once `step >= anchor_steps`; returns it (or `None` while collecting)."""
        if self.value is None and step >= self.anchor_steps and self.count > 0:
            self.value = self.total / self.count
        return self.value

    def state(self) -> dict:
        return {
            "args": {"anchor_steps": self.anchor_steps},
            "attributes": {"total": self.total, "count": self.count, "value": self.value},
        }


class PAECRegularizer(Component):
    r"""
    PAEC as a component (a loss term): the decision statistics and soft mask without gradient, the anchor `H_0`,
    and `beta * max(0, rho_min * H_0 - Hbar)^2` with gradient through the masked entropies. See
    [`PAECGRPOTrainer`] for the method and its metrics.
    """

    name = "paec"
    order = LOSS_ORDER + 10
    paper = PAPER_2606_08543
    config_class = PAECGRPOConfig
    fields = PAEC_FIELDS
    needs_hidden_states = True

    def __init__(self, args: Any):
        super().__init__(args)
        self.anchor = PAECAnchor(self.options["paec_anchor_steps"])

    @property
    def paec(self) -> dict[str, Any]:
        return self.options

    def callbacks(self) -> list[Any]:
        return [self.anchor]

    def check_args(self, args: Any) -> None:
        # a PAECGRPOConfig (or a composed one) checked the layout itself; another config gets the default scope
        if self.options["paec_scope"] == "step" and not isinstance(args, PAECGRPOConfig):
            check_step_scope_layout(args, "paec_scope", "step", "micro_batch")

    def check_accelerator(self, accelerator: Any) -> None:
        refuse_fsdp1(accelerator)

    def wants_step_window(self, ctx) -> bool:
        # With one micro-batch per step the loss pass holds the whole step (of its process): no extra forward.
        return self.options["paec_scope"] == "step" and ctx.training and ctx.accumulation_steps > 1

    def wants_hidden_states(self, ctx) -> bool:
        # with a step window the scores were computed on the window's own forward
        return not ctx.step_window_active()

    def build_step_window(self, ctx, batches: list[dict[str, Any]]) -> list[tuple[PAECPart, PAECWindow]]:
        """The soft masks of the step's micro-batches, from one quantile over all of them (on every process with the
        `global` mask scope), and the step's masked sums over all processes: scored on a forward without gradient of
        each micro-batch, one at a time (its hidden states are dropped once it is scored)."""
        parts = []
        for batch in batches:
            _, entropies, hidden_states = ctx.policy_forward(batch, compute_entropy=True, capture_hidden_states=True)
            parts.append(self._score_part(ctx, hidden_states, entropies.detach().float(), loss_mask(batch)))
            del hidden_states
        window = self._paec_window(ctx, parts, across_processes=True)
        return [(part, window) for part in window.parts]

    def loss(self, ctx, per_token_logps, entropies, mask, inputs):
        options = self.options
        detached = entropies.detach().float()
        step_scope = options["paec_scope"] == "step"
        if ctx.step_window_active():
            part, window = ctx.step_window_entry(mask)
        else:  # the loss pass is the whole set: one micro-batch, or the whole step of this process
            scored = self._score_part(ctx, ctx.hidden_states(), detached, mask)
            window = self._paec_window(ctx, [scored], across_processes=step_scope)
            part = window.parts[0]
        weights = part.weights

        masked_sum = (weights * detached).sum()
        weight_sum = weights.sum()
        training = ctx.training
        step = ctx.completed_steps  # the anchor counts optimizer steps from 0
        if training and self.anchor.value is None:
            if self.anchor.collecting(step):
                totals = ctx.reduce(torch.stack([masked_sum, weight_sum])).tolist()
                self.anchor.add(step, *totals)
            self.anchor.freeze_if_due(step)
        anchor = self.anchor.value
        floor = None if anchor is None else options["paec_rho_min"] * anchor

        penalty = None
        if floor is not None and options["paec_use_penalty"] and options["paec_beta"] > 0:
            # `step`: Hbar is the step's, over every micro-batch and process. Each pass returns the step's penalty
            # with its own share of the gradient; the base trainer divides by the accumulation steps and DDP averages
            # over processes, so the share is scaled by both, as TRL's `dapo` normaliser does for its loss.
            num_parts = 1
            if step_scope:
                num_parts = ctx.num_processes * (ctx.accumulation_steps if training else 1)
            penalty = paec_penalty(
                entropies,
                weights,
                mask,
                floor,
                options["paec_beta"],
                step_total=window.total,
                step_weight=window.weight,
                num_parts=num_parts,
            )

        num_valid = mask.sum()
        ctx.record_token_values("paec_mask", weights, kind="selection")
        ctx.log_metric("paec_masked_entropy", masked_sum, weight_sum)
        unmasked = (1 - weights) * mask
        ctx.log_metric("paec_unmasked_entropy", (unmasked * detached).sum(), unmasked.sum())
        ctx.log_metric("paec_mask_share", weight_sum, num_valid)
        ctx.log_metric("paec_floor", 0.0 if floor is None else floor, 0.0 if floor is None else 1.0)
        penalty_value = 0.0 if penalty is None else penalty.detach()
        ctx.log_metric("paec_penalty", penalty_value, 1.0)
        ctx.log_metric("paec_penalty_active", float(penalty is not None and penalty.item() > 0), 1.0)
        ctx.log_metric("paec_nucleus_size", (part.nucleus_size * mask).sum(), num_valid)
        ctx.log_metric("paec_top2_gap", (part.top2_gap * part.project).sum(), part.project.sum())
        ctx.log_metric("paec_projected_share", part.project.sum(), num_valid)
        return penalty

    def _score_part(self, ctx, hidden_states: torch.Tensor, entropies: torch.Tensor, mask: torch.Tensor) -> ScoredPart:
        """Decision statistics and scores of one micro-batch from its final hidden states and TRL's entropies
        (detached), without gradient."""
        options = self.options
        valid = mask.bool()
        top_p = options["paec_top_p"]
        geometric = options["paec_score_combination"] == "geometric" and options["paec_entropy_weight"] > 0
        project = valid
        if options["paec_skip_confident"] and geometric:
            # Min-entropy <= Shannon entropy: H <= -log(top_p) gives p_1 >= exp(-H) >= top_p, so the nucleus is the
            # best token alone, its entropy 0, and the geometric score 0, whatever the top-2 gap.
            project = valid & (entropies > -math.log(top_p))
        stats, vocab_size = self._decision_statistics(ctx, hidden_states, project)
        nucleus_size = torch.where(project, stats.nucleus_size, torch.ones_like(stats.nucleus_size))
        if options["paec_entropy_normalization"] == "vocab":
            normalizer = math.log(vocab_size)
        else:
            normalizer = nucleus_size.log()
        scores = decision_score(
            stats.nucleus_entropy,
            stats.top2_gap,
            entropy_weight=options["paec_entropy_weight"],
            combination=options["paec_score_combination"],
            normalizer=normalizer,
        )
        scores = torch.where(project, scores, torch.zeros_like(scores)) if geometric else scores * valid
        return ScoredPart(scores, entropies, mask, nucleus_size, stats.top2_gap, project)

    def _paec_window(self, ctx, parts: list[ScoredPart], across_processes: bool) -> PAECWindow:
        """The soft masks of `parts` from one quantile over all their valid positions (and those of every process
        with the `global` mask scope), and their masked sums (summed over processes when `across_processes`)."""
        options = self.options
        if options["paec_use_mask"]:
            masks = [part.mask for part in parts]
            reference = valid_token_vector([part.scores for part in parts], masks).to(masks[0].device)[0]
            if options["paec_mask_scope"] == "global":
                reference = ctx.gather_variable_length(reference.float())[0]
            weights = [
                soft_mask(
                    part.scores,
                    part.mask,
                    reference,
                    rho=options["paec_rho"],
                    temperature=options["paec_mask_temperature"],
                )
                for part in parts
            ]
        else:
            weights = [part.mask.float() for part in parts]
        totals = torch.stack(
            [
                sum((w * part.entropies).sum() for w, part in zip(weights, parts, strict=True)),
                sum(w.sum() for w in weights),
            ]
        )
        if across_processes:
            totals = ctx.reduce(totals)
        return PAECWindow(
            [PAECPart(w, p.nucleus_size, p.top2_gap, p.project) for w, p in zip(weights, parts, strict=True)],
            totals[0],
            totals[1],
        )

    def _decision_statistics(self, ctx, hidden_states: torch.Tensor, positions: torch.Tensor):
        """Nucleus statistics at `positions` from final hidden states `(B, T, H)`, through the LM head in tiles, and
        the vocabulary size (read inside the gather: ZeRO-3 leaves an empty weight outside it)."""

        def compute(weight, bias, logit_scale, softcap):
            stats = decision_statistics(
                hidden_states.to(weight.device, weight.dtype),
                weight,
                bias,
                top_p=self.options["paec_top_p"],
                temperature=ctx.temperature,
                logit_scale=logit_scale,
                softcap=softcap,
                mask=positions.to(weight.device),
                tile_size=self.options["paec_tile_size"],
            )
            return stats, weight.size(0)

        return ctx.with_lm_head(compute)
