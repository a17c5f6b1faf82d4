# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""SENT (arXiv 2512.04359): semantic-entropy curriculum and low-entropy covariance KL."""

from typing import TYPE_CHECKING

from ..lazy import lazy_exports


if TYPE_CHECKING:
    from .component import SENTKLPenalty
    from .config import SENTGRPOConfig
    from .curriculum import CurriculumMetrics, SemanticEntropyCurriculum
    from .trainer import SENTGRPOTrainer

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "CurriculumMetrics": "curriculum",
        "SENTGRPOConfig": "config",
        "SENTGRPOTrainer": "trainer",
        "SENTKLPenalty": "component",
        "SemanticEntropyCurriculum": "curriculum",
    },
)
