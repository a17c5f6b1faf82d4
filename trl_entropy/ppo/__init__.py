# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""PPO with a learned critic on TRL 1.16's GRPO machinery, and entropy-based advantage shaping on it."""

from typing import TYPE_CHECKING

from ..lazy import lazy_exports


if TYPE_CHECKING:
    from .config import EntropyAdvantagePPOConfig, PPOConfig
    from .critic import CausalLMCritic, load_critic
    from .trainer import EntropyAdvantagePPOTrainer, PPOTrainer

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "CausalLMCritic": "critic",
        "EntropyAdvantagePPOConfig": "config",
        "EntropyAdvantagePPOTrainer": "trainer",
        "PPOConfig": "config",
        "PPOTrainer": "trainer",
        "load_critic": "critic",
    },
)
