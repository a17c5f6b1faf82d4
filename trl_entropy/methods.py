# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Registry of the methods a recipe can name with `method:`."""

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING


if TYPE_CHECKING:
    from .hook.trainer import EntropyGRPOTrainer


@dataclass(frozen=True)
class Method:
    """
    A trainable method: where its trainer class lives (which names its config class) and a one-line description.

    The trainer is named, not imported, so that listing the methods (`trl-entropy methods`) does not import torch,
    transformers and TRL; [`Method.trainer_class`] imports it.
    """

    trainer: str  # "submodule:ClassName", the submodule relative to `trl_entropy`
    description: str

    @property
    def trainer_name(self) -> str:
        return self.trainer.partition(":")[2]

    @property
    def trainer_class(self) -> type["EntropyGRPOTrainer"]:
        module, _, name = self.trainer.partition(":")
        return getattr(importlib.import_module(f".{module}", __package__), name)

    @property
    def config_class(self) -> type:
        return self.trainer_class.config_class


METHODS: dict[str, Method] = {
    "grpo": Method("hook.trainer:EntropyGRPOTrainer", "plain GRPO (TRL's loss, no shaping): the baseline"),
    "entropy_advantage": Method(
        "entropy_advantage:EntropyAdvantageGRPOTrainer", "entropy-based advantage shaping (arXiv 2506.14758)"
    ),
    "ppl": Method("ppl_shaping:PPLShapingGRPOTrainer", "perplexity-based advantage shaping (arXiv 2508.02260)"),
    "position": Method(
        "position_shaping:PositionShapingGRPOTrainer", "position-based advantage shaping (arXiv 2508.02260)"
    ),
    "paec": Method("paec:PAECGRPOTrainer", "PAEC: soft mask + anchored entropy floor (arXiv 2606.08543)"),
    "sent": Method(
        "sent:SENTGRPOTrainer",
        "SENT: low-entropy covariance KL; with a semantic-entropy curriculum (arXiv 2512.04359)",
    ),
    "clip_cov": Method(
        "covariance:ClipCovGRPOTrainer",
        "Clip-Cov: no gradient on random high-covariance tokens (arXiv 2505.22617, baseline)",
    ),
    "kl_cov": Method(
        "covariance:KLCovGRPOTrainer",
        "KL-Cov: |log p - log p_old| on the top-covariance tokens (arXiv 2505.22617, baseline)",
    ),
    "ppo": Method(
        "ppo:PPOTrainer", "PPO with a learned critic (GAE, clipped value loss, critic warm-up) on TRL's GRPO machinery"
    ),
    "entropy_advantage_ppo": Method(
        "ppo:EntropyAdvantagePPOTrainer",
        "PPO with entropy-based advantage shaping on the GAE advantages (arXiv 2506.14758)",
    ),
    "shaping": Method(
        "composition:ShapingGRPOTrainer", "several shaping methods in one run (`shaping_methods: [...]`)"
    ),
    "composed": Method(
        "composition:ComposedGRPOTrainer", "any set of methods in one run (`methods: [...]`, docs/composition.md)"
    ),
}


def get_method(name: str) -> Method:
    """Look up a method by name, with an error that lists the valid names."""
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"Unknown method {name!r}; valid methods: {', '.join(sorted(METHODS))}.") from None
