# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Perplexity-based advantage shaping (arXiv 2508.02260)."""

from .config import PPLShapingGRPOConfig
from .trainer import PPLShaper, PPLShapingGRPOTrainer


__all__ = ["PPLShaper", "PPLShapingGRPOConfig", "PPLShapingGRPOTrainer"]
