# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.

from dataclasses import dataclass, field

from trl import GRPOConfig

from .functional import check_ppl_advantage_params


@dataclass
class PPLShapingGRPOConfig(GRPOConfig):
    r"""
    Configuration class for [`PPLShapingGRPOTrainer`]: perplexity-based advantage shaping of [Decomposing the
    Entropy-Performance Exchange](https://huggingface.co/papers/2508.02260) (Deng et al.), with the paper's defaults.

    Every completion's advantage is multiplied by `1 - alpha * w`, where `w` is the z-score of its log-perplexity
    under the rollout policy within its group: low-perplexity (confident) completions weigh more.

    Parameters:
        ppl_alpha (`float`, *optional*, defaults to `0.01`):
            Scale `alpha` of the weight. `0` turns the shaping off. Must be `>= 0`.
        ppl_exclude_outliers (`bool`, *optional*, defaults to `True`):
            Leave IQR outliers (outside `[Q1 - 1.5 IQR, Q3 + 1.5 IQR]` of the group) out of the group mean and
            standard deviation, as the authors' code does (the paper does not mention it).
        ppl_sigma_floor (`bool`, *optional*, defaults to `True`):
            Use a standard deviation of `1.0` when the group's is below `1e-6` (authors' code), so that a group of
            equal perplexities gets weights of exactly 1.
        ppl_clamp (`list[float]` or `None`, *optional*, defaults to `[0.8, 1.2]`):
            Clamp the factor to `[low, high]` with `0 < low <= 1 <= high` (authors' code); `None` disables it.
    """

    ppl_alpha: float = field(
        default=0.01,
        metadata={"help": "Scale alpha of the perplexity weight 1 - alpha * z(lnPPL). 0 turns it off. Must be >= 0."},
    )
    ppl_exclude_outliers: bool = field(
        default=True,
        metadata={"help": "Leave IQR outliers out of the group mean and std of log-perplexity (authors' code)."},
    )
    ppl_sigma_floor: bool = field(
        default=True,
        metadata={"help": "Use std 1.0 when the group's std is below 1e-6 (authors' code)."},
    )
    ppl_clamp: list[float] | None = field(
        default_factory=lambda: [0.8, 1.2],  # authors' code
        metadata={"help": "Clamp the factor to [low, high], 0 < low <= 1 <= high (authors' code); null disables."},
    )

    def __post_init__(self):
        check_ppl_advantage_params(self.ppl_alpha, self.ppl_clamp, prefix="ppl_")
        super().__post_init__()
