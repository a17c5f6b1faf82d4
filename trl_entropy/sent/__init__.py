# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""SENT (arXiv 2512.04359): semantic-entropy curriculum and low-entropy covariance KL."""

from .config import SENTGRPOConfig
from .curriculum import SemanticEntropyCurriculum
from .trainer import SENTGRPOTrainer


__all__ = ["SENTGRPOConfig", "SENTGRPOTrainer", "SemanticEntropyCurriculum"]
