# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.

from ..hook.trainer import EntropyGRPOTrainer
from .component import PAPER_2506_14758, EntropyAdvantageShaper
from .config import EntropyAdvantageGRPOConfig


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
    component_classes = (EntropyAdvantageShaper,)

    @property
    def entropy_advantage_alpha(self) -> float:
        return self.advantage_shapers[0].alpha

    @property
    def entropy_advantage_kappa(self) -> float:
        return self.advantage_shapers[0].kappa
