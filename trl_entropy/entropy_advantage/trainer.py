# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.

import textwrap
from typing import Any

import torch

from ..entropy_grpo_trainer import EntropyGRPOTrainer
from ..functional.entropy_advantage import check_entropy_advantage_params, entropy_advantage
from ..shaper import AdvantageShaper
from .config import EntropyAdvantageGRPOConfig


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


class EntropyAdvantageShaper(AdvantageShaper):
    """Adds `psi_t = min(alpha * H_t, |A_t| / kappa)` to every token's advantage and logs the bonus statistics."""

    name = "entropy_advantage"
    paper = PAPER_2506_14758
    config_class = EntropyAdvantageGRPOConfig
    fields = ("entropy_advantage_alpha", "entropy_advantage_kappa")

    def __init__(self, args: Any):
        super().__init__(args)
        self.alpha = self.option("entropy_advantage_alpha")
        self.kappa = self.option("entropy_advantage_kappa")
        check_entropy_advantage_params(self.alpha, self.kappa, "entropy_advantage_")

    def shape(self, trainer, advantages, per_token_logps, entropies, mask, inputs) -> torch.Tensor:
        shaped = entropy_advantage(advantages, entropies, alpha=self.alpha, kappa=self.kappa)
        base = advantages.unsqueeze(1) if advantages.dim() == 1 else advantages
        psi = shaped - base
        abs_adv = base.abs().expand_as(psi)
        nonzero = mask * (abs_adv > 0)
        clip_binds = (self.alpha * entropies > abs_adv / self.kappa).float()
        trainer.log_metric("advantage_psi_mean", (psi * mask).sum(), mask.sum())
        trainer.log_metric("advantage_psi_ratio", (psi / abs_adv.clamp(min=1e-12) * nonzero).sum(), nonzero.sum())
        trainer.log_metric("advantage_clip_frac", (clip_binds * nonzero).sum(), nonzero.sum())
        trainer.record_token_values("entropy_advantage_psi", psi)
        return shaped


class EntropyAdvantageGRPOTrainer(EntropyGRPOTrainer):
    r"""
    GRPO with entropy-based advantage shaping ([Reasoning with Exploration: An Entropy
    Perspective](https://huggingface.co/papers/2506.14758), Cheng et al.).

    Every token's advantage gets the bonus `psi_t = min(alpha * H_t, |A_t| / kappa)`, where `H_t` is the detached
    entropy of the current policy at that position from the same forward pass as the loss. High-entropy positions of
    a correct completion are reinforced more, those of an incorrect one are penalised less, and the clip keeps the
    bonus below a fraction of `|A_t|`, so it fades as the policy sharpens and never flips a sign.

    A drop-in replacement for [`~trl.GRPOTrainer`]: same arguments. `args` may be an
    [`EntropyAdvantageGRPOConfig`] or any [`~trl.GRPOConfig`], which then uses the paper's defaults `alpha = 0.4`,
    `kappa = 2`.

    Logged per step (exact means over all processes):

    - `entropy/advantage_psi_mean`: mean bonus over valid tokens;
    - `entropy/advantage_psi_ratio`: mean of `psi / |A|` over valid tokens with `A != 0` (the paper's
      self-regulation curve; at most `1 / kappa`);
    - `entropy/advantage_clip_frac`: share of valid tokens with `A != 0` where the `|A| / kappa` clip binds.
    """

    _tag_names = ["trl", "grpo", "trl-entropy", "entropy-advantage"]
    _name = "Entropy-Advantage GRPO"
    _paper = PAPER_2506_14758
    config_class = EntropyAdvantageGRPOConfig
    _output_suffix = "EntropyAdvantage-GRPO"
    shaper_classes = (EntropyAdvantageShaper,)

    @property
    def entropy_advantage_alpha(self) -> float:
        return self.advantage_shapers[0].alpha

    @property
    def entropy_advantage_kappa(self) -> float:
        return self.advantage_shapers[0].kappa
