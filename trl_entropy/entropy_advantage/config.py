# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.

from dataclasses import dataclass, field

from trl import GRPOConfig

from .functional import check_entropy_advantage_params


@dataclass
class EntropyAdvantageGRPOConfig(GRPOConfig):
    r"""
    Configuration class for [`EntropyAdvantageGRPOTrainer`].

    Inherits every parameter of [`~trl.GRPOConfig`] and adds the two hyperparameters of entropy-based advantage
    shaping ([Reasoning with Exploration: An Entropy Perspective](https://huggingface.co/papers/2506.14758)), with the
    paper's GRPO defaults.

    Parameters:
        entropy_advantage_alpha (`float`, *optional*, defaults to `0.4`):
            Entropy coefficient `alpha` of the bonus `psi_t = min(alpha * H_t, |A_t| / kappa)`. The paper uses `0.4`
            for GRPO and `0.1` for PPO. `0` turns the shaping off. Must be `>= 0`.
        entropy_advantage_kappa (`float`, *optional*, defaults to `2.0`):
            Clip divisor `kappa`: the bonus never exceeds `|A_t| / kappa`, so the sign of an advantage never flips.
            The paper uses `2` in all experiments. Must be `> 1`.
    """

    entropy_advantage_alpha: float = field(
        default=0.4,
        metadata={
            "help": "Entropy coefficient alpha of the bonus psi = min(alpha * H, |A| / kappa). The paper uses 0.4 for "
            "GRPO and 0.1 for PPO; 0 turns the shaping off. Must be >= 0."
        },
    )
    entropy_advantage_kappa: float = field(
        default=2.0,
        metadata={
            "help": "Clip divisor kappa: the bonus never exceeds |A| / kappa, so an advantage never changes sign. The "
            "paper uses 2. Must be > 1."
        },
    )

    def __post_init__(self):
        check_entropy_advantage_params(
            self.entropy_advantage_alpha, self.entropy_advantage_kappa, "entropy_advantage_"
        )
        super().__post_init__()
