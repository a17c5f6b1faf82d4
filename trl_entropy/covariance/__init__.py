# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Clip-Cov and KL-Cov (arXiv 2505.22617): covariance-based entropy control, the baselines of PAEC and SENT."""

from typing import TYPE_CHECKING

from ..lazy import lazy_exports


if TYPE_CHECKING:
    from .component import ClipCovShaper, KLCovPenalty
    from .config import ClipCovGRPOConfig, KLCovGRPOConfig
    from .trainer import ClipCovGRPOTrainer, KLCovGRPOTrainer

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "ClipCovGRPOConfig": "config",
        "ClipCovGRPOTrainer": "trainer",
        "ClipCovShaper": "component",
        "KLCovGRPOConfig": "config",
        "KLCovGRPOTrainer": "trainer",
        "KLCovPenalty": "component",
    },
)
