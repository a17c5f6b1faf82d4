# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Perplexity-based advantage shaping (arXiv 2508.02260)."""

from typing import TYPE_CHECKING

from ..lazy import lazy_exports


if TYPE_CHECKING:
    from .component import PPLShaper
    from .config import PPLShapingGRPOConfig
    from .trainer import PPLShapingGRPOTrainer

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "PPLShaper": "component",
        "PPLShapingGRPOConfig": "config",
        "PPLShapingGRPOTrainer": "trainer",
    },
)
