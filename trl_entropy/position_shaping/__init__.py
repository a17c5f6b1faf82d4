# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Position-based advantage shaping (arXiv 2508.02260)."""

from .config import PositionShapingGRPOConfig
from .trainer import PositionShaper, PositionShapingGRPOTrainer


__all__ = ["PositionShaper", "PositionShapingGRPOConfig", "PositionShapingGRPOTrainer"]
