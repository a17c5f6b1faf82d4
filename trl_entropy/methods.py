# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Registry of the methods a recipe can name with `method:`."""

from dataclasses import dataclass

from .composition import ShapingGRPOTrainer
from .entropy_advantage import EntropyAdvantageGRPOTrainer
from .entropy_grpo_trainer import EntropyGRPOTrainer
from .paec import PAECGRPOTrainer
from .position_shaping import PositionShapingGRPOTrainer
from .ppl_shaping import PPLShapingGRPOTrainer
from .ppo import EntropyAdvantagePPOTrainer, PPOTrainer
from .sent import SENTGRPOTrainer


@dataclass(frozen=True)
class Method:
    """A trainable method: its trainer class (which names its config class) and a one-line description."""

    trainer_class: type[EntropyGRPOTrainer]
    description: str

    @property
    def config_class(self) -> type:
        return self.trainer_class.config_class


METHODS: dict[str, Method] = {
    "grpo": Method(EntropyGRPOTrainer, "plain GRPO (TRL's loss, no shaping): the baseline"),
    "entropy_advantage": Method(EntropyAdvantageGRPOTrainer, "entropy-based advantage shaping (arXiv 2506.14758)"),
    "ppl": Method(PPLShapingGRPOTrainer, "perplexity-based advantage shaping (arXiv 2508.02260)"),
    "position": Method(PositionShapingGRPOTrainer, "position-based advantage shaping (arXiv 2508.02260)"),
    "paec": Method(PAECGRPOTrainer, "PAEC: soft mask + anchored entropy floor (arXiv 2606.08543)"),
    "sent": Method(
        SENTGRPOTrainer, "SENT: low-entropy covariance KL; with a semantic-entropy curriculum (arXiv 2512.04359)"
    ),
    "ppo": Method(
        PPOTrainer, "PPO with a learned critic (GAE, clipped value loss, critic warm-up) on TRL's GRPO machinery"
    ),
    "entropy_advantage_ppo": Method(
        EntropyAdvantagePPOTrainer, "PPO with entropy-based advantage shaping on the GAE advantages (arXiv 2506.14758)"
    ),
    "shaping": Method(ShapingGRPOTrainer, "several shaping methods in one run (`shaping_methods: [...]`)"),
}


def get_method(name: str) -> Method:
    """Look up a method by name, with an error that lists the valid names."""
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"Unknown method {name!r}; valid methods: {', '.join(sorted(METHODS))}.") from None
