# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.

from ..hook.trainer import EntropyGRPOTrainer
from .component import (  # noqa: F401  (re-exported: their home was this module)
    PAEC_FIELDS,
    PAPER_2606_08543,
    PAECAnchor,
    PAECPart,
    PAECRegularizer,
    PAECWindow,
    ScoredPart,
    is_fsdp1,
    refuse_fsdp1,
)
from .config import PAECGRPOConfig


class PAECGRPOTrainer(EntropyGRPOTrainer):
    r"""
    GRPO with PAEC, position-aware entropy calibration ([PAEC: A Position-Aware Entropy Calibration Framework for LLM
    Reasoning via RLVR](https://huggingface.co/papers/2606.08543)).

    Without gradient:

    1. at each completion position, the entropy of the renormalised nucleus and the top-2 log-prob gap, computed from
       the final hidden states through the LM head in tiles ([`~trl_entropy.functional.decision_statistics`]; never
       more than one tile of logits);
    2. the decision-sensitivity score, and a soft mask keeping about the top `1 - rho` share of valid positions (rank
       among all valid positions of the optimizer step on every process; `paec_scope`, `paec_mask_scope`);
    3. the anchor `H_0`, the masked mean entropy over the first `paec_anchor_steps` optimizer steps.

    From then on the loss gets `beta * max(0, rho_min * H_0 - Hbar)^2`, `Hbar` the mask-weighted mean of the
    per-token entropies of the optimizer step over all processes, with gradient through those entropies only:
    positions outside the mask are never regularised and the term is zero while masked entropy stays above the floor.

    With one micro-batch per optimizer step all of it comes from the loss pass's own forward. With gradient
    accumulation (`paec_scope="step"`, the default) the scores of the step's micro-batches are computed once per
    optimizer step, before its first loss pass, on a forward without gradient of each
    (a step window, see [`~trl_entropy.hook.Component.build_step_window`]); `paec_scope="micro_batch"` takes the quantile and `Hbar` per
    micro-batch instead, with no extra forward.

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
    component_classes = (PAECRegularizer,)

    @property
    def paec(self) -> dict:
        """The PAEC options, as read from the config."""
        return self.get_component("paec").options

    @property
    def paec_anchor(self) -> PAECAnchor:
        """PAEC's entropy anchor (a stateful callback)."""
        return self.get_component("paec").anchor
