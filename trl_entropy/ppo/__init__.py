# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""PPO with a learned critic on TRL 1.16's GRPO machinery, and entropy-based advantage shaping on it."""

from .config import EntropyAdvantagePPOConfig, PPOConfig
from .trainer import EntropyAdvantagePPOTrainer, PPOTrainer, load_critic


__all__ = ["EntropyAdvantagePPOConfig", "EntropyAdvantagePPOTrainer", "PPOConfig", "PPOTrainer", "load_critic"]
