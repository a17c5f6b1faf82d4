# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Registry of the methods a recipe can name with `method:`."""

from dataclasses import dataclass

from trl import GRPOConfig

from .composition import ShapingGRPOConfig, ShapingGRPOTrainer
from .entropy_advantage import EntropyAdvantageGRPOConfig, EntropyAdvantageGRPOTrainer
from .entropy_grpo_trainer import EntropyGRPOTrainer
from .position_shaping import PositionShapingGRPOConfig, PositionShapingGRPOTrainer
from .ppl_shaping import PPLShapingGRPOConfig, PPLShapingGRPOTrainer


@dataclass(frozen=True)
class Method:
    """A trainable method: its config class, trainer class and one-line description."""

    config_class: type
    trainer_class: type
    description: str


METHODS: dict[str, Method] = {
    "grpo": Method(GRPOConfig, EntropyGRPOTrainer, "plain GRPO (TRL's loss, no shaping): the baseline"),
    "entropy_advantage": Method(
        EntropyAdvantageGRPOConfig,
        EntropyAdvantageGRPOTrainer,
        "entropy-based advantage shaping (arXiv 2506.14758)",
    ),
    "ppl": Method(
        PPLShapingGRPOConfig, PPLShapingGRPOTrainer, "perplexity-based advantage shaping (arXiv 2508.02260)"
    ),
    "position": Method(
        PositionShapingGRPOConfig, PositionShapingGRPOTrainer, "position-based advantage shaping (arXiv 2508.02260)"
    ),
    "shaping": Method(
        ShapingGRPOConfig, ShapingGRPOTrainer, "several shaping methods in one run (`shaping_methods: [...]`)"
    ),
}


def get_method(name: str) -> Method:
    """Look up a method by name, with an error that lists the valid names."""
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"Unknown method {name!r}; valid methods: {', '.join(sorted(METHODS))}.") from None
