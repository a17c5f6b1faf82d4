# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.

from ..hook.trainer import EntropyGRPOTrainer
from .component import INDEX_KEY, PAPER_2508_02260, WEIGHTS_KEY, PPLShaper  # noqa: F401  (re-exported)
from .config import PPLShapingGRPOConfig


class PPLShapingGRPOTrainer(EntropyGRPOTrainer):
    r"""
    GRPO with perplexity-based advantage shaping ([Decomposing the Entropy-Performance
    Exchange](https://huggingface.co/papers/2508.02260), Deng et al.).

    Each completion's advantage is multiplied by `1 - alpha * w`, `w` the z-score of its log-perplexity under the
    rollout policy among the completions of its prompt (across processes). As in the paper's text, low-perplexity
    completions get the larger weight (the authors' default code path computes this weight but never applies it).

    Logged per step: `entropy/ppl_log_perplexity_mean`, `entropy/ppl_weight_mean`, `entropy/ppl_clamped_frac`.
    A drop-in for [`~trl.GRPOTrainer`]; a plain [`~trl.GRPOConfig`] gets the paper's defaults.
    """

    _tag_names = ["trl", "grpo", "trl-entropy", "ppl-shaping"]
    _name = "PPL-Shaping GRPO"
    _paper = PAPER_2508_02260
    config_class = PPLShapingGRPOConfig
    _output_suffix = "PPLShaping-GRPO"
    component_classes = (PPLShaper,)
