# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Position-based advantage shaping (arXiv 2508.02260)."""

from typing import TYPE_CHECKING

from ..lazy import lazy_exports


if TYPE_CHECKING:
    from .component import PositionShaper
    from .config import PositionShapingGRPOConfig
    from .trainer import PositionShapingGRPOTrainer

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "PositionShaper": "component",
        "PositionShapingGRPOConfig": "config",
        "PositionShapingGRPOTrainer": "trainer",
    },
)
