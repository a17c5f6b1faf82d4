# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""The entropy advantage as a component: `psi_t = min(alpha * H_t, |A_t| / kappa)` added to every token's advantage."""

import textwrap

import torch

from ..hook.component import SHAPER_ORDER, Component
from .config import EntropyAdvantageGRPOConfig
from .functional import entropy_advantage


PAPER_2506_14758 = {
    "title": "Reasoning with Exploration: An Entropy Perspective",
    "id": "2506.14758",
    # docstyle-ignore
    "citation": textwrap.dedent("""\
        @article{cheng2025reasoning,
            title        = {{Reasoning with Exploration: An Entropy Perspective}},
            author       = {Daixuan Cheng and Shaohan Huang and Xuekai Zhu and Bo Dai and Wayne Xin Zhao and Zhenliang Zhang and Furu Wei},
            year         = 2025,
            eprint       = {arXiv:2506.14758},
        }"""),
}


class EntropyAdvantageShaper(Component):
    """Adds `psi_t = min(alpha * H_t, |A_t| / kappa)` to every token's advantage and logs the bonus statistics:
    `entropy/advantage_psi_mean`, `entropy/advantage_psi_ratio`, `entropy/advantage_clip_frac`."""

    name = "entropy_advantage"
    order = SHAPER_ORDER + 20
    paper = PAPER_2506_14758
    config_class = EntropyAdvantageGRPOConfig
    fields = ("entropy_advantage_alpha", "entropy_advantage_kappa")

    @property
    def alpha(self) -> float:
        return self.options["entropy_advantage_alpha"]

    @property
    def kappa(self) -> float:
        return self.options["entropy_advantage_kappa"]

    def shape(self, ctx, advantages, per_token_logps, entropies, mask, inputs) -> torch.Tensor:
        shaped = entropy_advantage(advantages, entropies, alpha=self.alpha, kappa=self.kappa)
        base = advantages.unsqueeze(1) if advantages.dim() == 1 else advantages
        psi = shaped - base
        abs_adv = base.abs().expand_as(psi)
        nonzero = mask * (abs_adv > 0)
        clip_binds = (self.alpha * entropies > abs_adv / self.kappa).float()
        ctx.log_metric("advantage_psi_mean", (psi * mask).sum(), mask.sum())
        ctx.log_metric("advantage_psi_ratio", (psi / abs_adv.clamp(min=1e-12) * nonzero).sum(), nonzero.sum())
        ctx.log_metric("advantage_clip_frac", (clip_binds * nonzero).sum(), nonzero.sum())
        ctx.record_token_values("entropy_advantage_psi", psi)
        return shaped
