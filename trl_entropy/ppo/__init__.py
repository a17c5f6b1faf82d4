# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""PPO with a learned critic on TRL 1.16's GRPO machinery, and entropy-based advantage shaping on it."""

from .config import EntropyAdvantagePPOConfig, PPOConfig
from .critic import CausalLMCritic, load_critic
from .trainer import EntropyAdvantagePPOTrainer, PPOTrainer


__all__ = [
    "CausalLMCritic",
    "EntropyAdvantagePPOConfig",
    "EntropyAdvantagePPOTrainer",
    "PPOConfig",
    "PPOTrainer",
    "load_critic",
]
