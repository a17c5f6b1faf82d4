# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""PAEC: position-aware entropy calibration (arXiv 2606.08543)."""

from typing import TYPE_CHECKING

from ..lazy import lazy_exports


if TYPE_CHECKING:
    from .component import PAECAnchor, PAECRegularizer
    from .config import PAECGRPOConfig
    from .trainer import PAECGRPOTrainer

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "PAECAnchor": "component",
        "PAECGRPOConfig": "config",
        "PAECGRPOTrainer": "trainer",
        "PAECRegularizer": "component",
    },
)
