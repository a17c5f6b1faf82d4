# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Entropy-based advantage shaping (arXiv 2506.14758)."""

from .config import EntropyAdvantageGRPOConfig
from .trainer import EntropyAdvantageGRPOTrainer


__all__ = ["EntropyAdvantageGRPOConfig", "EntropyAdvantageGRPOTrainer"]
