# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.

import math
import textwrap
from typing import Any

import torch
from transformers import TrainerCallback
from transformers.trainer_callback import ExportableState

from ..distributed import gather_variable_length
from ..entropy_grpo_trainer import EntropyGRPOTrainer, logit_transform, policy_modules, with_full_lm_head  # noqa: F401
from ..functional.paec import (
    check_paec_params,
    decision_score,
    decision_statistics,
    paec_penalty,
    soft_mask,
)
from ..shaper import config_option
from .config import PAECGRPOConfig


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


class PAECGRPOTrainer(EntropyGRPOTrainer):
    r"""
    GRPO with PAEC, position-aware entropy calibration ([PAEC: A Position-Aware Entropy Calibration Framework for LLM
    Reasoning via RLVR](https://huggingface.co/papers/2606.08543)).

    In every loss pass, without gradient and from the same forward as TRL's loss:

    1. at each completion position, the entropy of the renormalised nucleus and the top-2 log-prob gap, computed from
       the final hidden states through the LM head in tiles ([`~trl_entropy.functional.decision_statistics`]; never
       more than one tile of logits);
    2. the decision-sensitivity score, and a soft mask keeping about the top `1 - rho` share of valid positions (rank
       among all valid positions of the micro-batch on every process);
    3. the anchor `H_0`, the masked mean entropy over the first `paec_anchor_steps` optimizer steps.

    From then on the loss gets `beta * max(0, rho_min * H_0 - Hbar)^2`, `Hbar` the mask-weighted mean of the
    per-token entropies of this micro-batch, with gradient through those entropies only: positions outside the mask
    are never regularised and the term is zero while masked entropy stays above the floor.

    A drop-in replacement for [`~trl.GRPOTrainer`]: same arguments; `args` may be a [`PAECGRPOConfig`] or any
    [`~trl.GRPOConfig`] (then with the defaults of [`PAECGRPOConfig`]). FSDP1 is refused at construction (the LM head
    is read after the forward, resharded by then): use FSDP2, DDP or DeepSpeed.

    Logged per step under `entropy/` (exact means over all processes): `paec_masked_entropy`,
    `paec_unmasked_entropy`, `paec_floor`, `paec_penalty`, `paec_penalty_active` (share of micro-batches with a
    positive penalty), `paec_mask_share` (mean mask over valid positions), `paec_nucleus_size`, `paec_top2_gap`
    (over the positions projected), `paec_projected_share` (share of valid positions that needed the LM head).
    """

    _tag_names = ["trl", "grpo", "trl-entropy", "paec"]
    _name = "PAEC GRPO"
    _paper = PAPER_2606_08543
    config_class = PAECGRPOConfig
    _output_suffix = "PAEC-GRPO"
    capture_hidden_states = True
    _stateful_callback_attributes = (*EntropyGRPOTrainer._stateful_callback_attributes, "paec_anchor")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        refuse_fsdp1(self.accelerator)  # also here, should a Transformers release not call the method below

    def create_accelerator_and_postprocess(self):
        super().create_accelerator_and_postprocess()
        # As soon as the accelerator exists: before TRL loads a reference model or starts vLLM.
        refuse_fsdp1(self.accelerator)

    def build_stateful_callbacks(self, args) -> None:
        self.paec = {name: config_option(args, PAECGRPOConfig, name) for name in PAEC_FIELDS}
        flags = ("paec_use_mask", "paec_use_penalty", "paec_skip_confident")
        check_paec_params(**{name.removeprefix("paec_"): v for name, v in self.paec.items() if name not in flags})
        self.paec_anchor = PAECAnchor(self.paec["paec_anchor_steps"])

    def method_hyperparameters(self) -> dict[str, Any]:
        return dict(self.paec)

    def extra_loss(self, per_token_logps, entropies, mask, inputs):
        options = self.paec
        valid = mask.bool()
        detached = entropies.detach().float()
        top_p = options["paec_top_p"]
        geometric = options["paec_score_combination"] == "geometric" and options["paec_entropy_weight"] > 0
        project = valid
        if options["paec_skip_confident"] and geometric:
            # Min-entropy <= Shannon entropy: H <= -log(top_p) gives p_1 >= exp(-H) >= top_p, so the nucleus is the
            # best token alone, its entropy 0, and the geometric score 0, whatever the top-2 gap.
            project = valid & (detached > -math.log(top_p))
        stats, vocab_size = self._decision_statistics(project)
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

        if options["paec_use_mask"]:
            reference = scores[valid]
            if options["paec_mask_scope"] == "global":
                reference = self._gather_scores(reference)
            weights = soft_mask(
                scores, mask, reference, rho=options["paec_rho"], temperature=options["paec_mask_temperature"]
            )
        else:
            weights = mask.float()

        masked_sum = (weights * detached).sum()
        weight_sum = weights.sum()
        training = self.model.training
        step = self.state.global_step
        if training and self.paec_anchor.value is None:
            if self.paec_anchor.collecting(step):
                totals = self.accelerator.reduce(torch.stack([masked_sum, weight_sum]), reduction="sum").tolist()
                self.paec_anchor.add(step, *totals)
            self.paec_anchor.freeze_if_due(step)
        anchor = self.paec_anchor.value
        floor = None if anchor is None else options["paec_rho_min"] * anchor

        penalty = None
        if floor is not None and options["paec_use_penalty"] and options["paec_beta"] > 0:
            penalty = paec_penalty(entropies, weights, mask, floor, options["paec_beta"])

        num_valid = mask.sum()
        self.record_token_values("paec_mask", weights, kind="selection")
        self.log_metric("paec_masked_entropy", masked_sum, weight_sum)
        unmasked = (1 - weights) * mask
        self.log_metric("paec_unmasked_entropy", (unmasked * detached).sum(), unmasked.sum())
        self.log_metric("paec_mask_share", weight_sum, num_valid)
        self.log_metric("paec_floor", 0.0 if floor is None else floor, 0.0 if floor is None else 1.0)
        penalty_value = 0.0 if penalty is None else penalty.detach()
        self.log_metric("paec_penalty", penalty_value, 1.0)
        self.log_metric("paec_penalty_active", float(penalty is not None and penalty.item() > 0), 1.0)
        self.log_metric("paec_nucleus_size", (nucleus_size * mask).sum(), num_valid)
        self.log_metric("paec_top2_gap", (stats.top2_gap * project).sum(), project.sum())
        self.log_metric("paec_projected_share", project.sum(), num_valid)
        return penalty

    def _decision_statistics(self, positions: torch.Tensor):
        """Nucleus statistics at `positions` from this loss pass's hidden states, through the LM head in tiles, and
        the vocabulary size (read inside the gather: ZeRO-3 leaves an empty weight outside it)."""
        hidden_states = self.loss_pass_hidden_states()

        def compute(weight, bias, logit_scale, softcap):
            stats = decision_statistics(
                hidden_states.to(weight.device, weight.dtype),
                weight,
                bias,
                top_p=self.paec["paec_top_p"],
                temperature=self.temperature,
                logit_scale=logit_scale,
                softcap=softcap,
                mask=positions.to(weight.device),
                tile_size=self.paec["paec_tile_size"],
            )
            return stats, weight.size(0)

        return with_full_lm_head(self.model, compute)

    def _gather_scores(self, local: torch.Tensor) -> torch.Tensor:
        """Scores of the valid positions of every process, in process order."""
        return gather_variable_length(self.accelerator, local.float())[0]
