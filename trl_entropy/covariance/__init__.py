# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Clip-Cov and KL-Cov (arXiv 2505.22617): covariance-based entropy control, the baselines of PAEC and SENT."""

from .config import ClipCovGRPOConfig, KLCovGRPOConfig
from .trainer import ClipCovGRPOTrainer, ClipCovShaper, KLCovGRPOTrainer


__all__ = ["ClipCovGRPOConfig", "ClipCovGRPOTrainer", "ClipCovShaper", "KLCovGRPOConfig", "KLCovGRPOTrainer"]
