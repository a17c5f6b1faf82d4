# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Entropy-based advantage shaping (arXiv 2506.14758)."""

from typing import TYPE_CHECKING

from ..lazy import lazy_exports


if TYPE_CHECKING:
    from .component import EntropyAdvantageShaper
    from .config import EntropyAdvantageGRPOConfig
    from .trainer import EntropyAdvantageGRPOTrainer

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "EntropyAdvantageGRPOConfig": "config",
        "EntropyAdvantageGRPOTrainer": "trainer",
        "EntropyAdvantageShaper": "component",
    },
)
