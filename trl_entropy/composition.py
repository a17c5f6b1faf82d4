# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Several advantage-shaping methods in one run, without writing a class.

    args = ShapingGRPOConfig(output_dir="out", shaping_methods=["entropy_advantage", "ppl", "position"], ...)
    trainer = ShapingGRPOTrainer(model, reward_funcs, args=args, train_dataset=dataset)

The methods are applied in one fixed order, whatever the order of `shaping_methods`:

1. `ppl`: multiplies each completion's advantage by its perplexity weight (a sequence-level rescaling of TRL's group
   advantage, as in the paper);
2. `entropy_advantage`: adds `min(alpha * H_t, |A_t| / kappa)`, bounded by the rescaled advantage;
3. `position`: adds the late-token bonus with the sign of the advantage, capped at a share of the advantage so far.

Each step keeps zero advantages at zero and never flips a sign, so the composition does not either. Each method keeps
its own config fields and logs its own metrics.
"""

from dataclasses import dataclass, field

from .entropy_advantage import EntropyAdvantageGRPOConfig
from .entropy_advantage.trainer import EntropyAdvantageShaper
from .entropy_grpo_trainer import EntropyGRPOTrainer
from .position_shaping import PositionShapingGRPOConfig
from .position_shaping.trainer import PositionShaper
from .ppl_shaping import PPLShapingGRPOConfig
from .ppl_shaping.trainer import PPLShaper
from .shaper import config_option


# The order of application.
SHAPERS = {shaper.name: shaper for shaper in (PPLShaper, EntropyAdvantageShaper, PositionShaper)}
SHAPING_ORDER = tuple(SHAPERS)


@dataclass
class ShapingGRPOConfig(PPLShapingGRPOConfig, EntropyAdvantageGRPOConfig, PositionShapingGRPOConfig):
    r"""
    Configuration class for [`ShapingGRPOTrainer`]: every field of [`PPLShapingGRPOConfig`],
    [`EntropyAdvantageGRPOConfig`] and [`PositionShapingGRPOConfig`], and the list of methods to apply.

    Parameters:
        shaping_methods (`list[str]`, *optional*, defaults to `["entropy_advantage"]`):
            Methods to combine, any of `ppl`, `entropy_advantage`, `position`. They are applied in that fixed order
            (see `trl_entropy.composition`), whatever the order given here.
    """

    shaping_methods: list[str] = field(
        default_factory=lambda: ["entropy_advantage"],
        metadata={
            "help": "Advantage-shaping methods to combine, any of: ppl, entropy_advantage, position. Applied in that "
            "fixed order."
        },
    )

    def __post_init__(self):
        check_shaping_methods(self.shaping_methods)
        super().__post_init__()


def check_shaping_methods(methods) -> None:
    """Validate `shaping_methods`: a non-empty list of known, distinct method names."""
    methods = list(methods or [])
    unknown = [m for m in methods if m not in SHAPERS]
    if not methods or unknown or len(set(methods)) != len(methods):
        raise ValueError(
            f"`shaping_methods` must be a non-empty list of distinct names from {', '.join(SHAPING_ORDER)}, "
            f"got {methods}."
        )


class ShapingGRPOTrainer(EntropyGRPOTrainer):
    r"""
    GRPO with any combination of advantage-shaping methods (perplexity, entropy advantage, position), applied in
    the fixed order `ppl`, `entropy_advantage`, `position`. `args` may be a [`ShapingGRPOConfig`] or any
    [`~trl.GRPOConfig`] (then with its defaults: the entropy advantage alone).
    """

    _tag_names = ["trl", "grpo", "trl-entropy", "advantage-shaping"]
    _name = "Advantage-Shaping GRPO"
    config_class = ShapingGRPOConfig
    _output_suffix = "Shaping-GRPO"

    def build_shapers(self, args):
        # A plain GRPOConfig (a drop-in, as for every trainer) gets ShapingGRPOConfig's defaults.
        self.shaping_methods = list(config_option(args, ShapingGRPOConfig, "shaping_methods"))
        check_shaping_methods(self.shaping_methods)
        return [SHAPERS[name](args) for name in SHAPING_ORDER if name in self.shaping_methods]

    def method_hyperparameters(self):
        # the methods applied, in their order of application, also when there is only one
        return {
            "shaping_methods": [shaper.name for shaper in self.advantage_shapers],
            **super().method_hyperparameters(),
        }
