# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""PAEC: position-aware entropy calibration (arXiv 2606.08543)."""

from .config import PAECGRPOConfig
from .trainer import PAECAnchor, PAECGRPOTrainer


__all__ = ["PAECAnchor", "PAECGRPOConfig", "PAECGRPOTrainer"]
