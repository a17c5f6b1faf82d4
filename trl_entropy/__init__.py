# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""trl-entropy: entropy-management methods for RLVR, as drop-in subclasses of TRL's trainers."""

__version__ = "0.1.0.dev0"

from . import functional
from .composition import ShapingGRPOConfig, ShapingGRPOTrainer
from .entropy_advantage import EntropyAdvantageGRPOConfig, EntropyAdvantageGRPOTrainer
from .entropy_grpo_trainer import EntropyGRPOTrainer
from .paec import PAECGRPOConfig, PAECGRPOTrainer
from .position_shaping import PositionShapingGRPOConfig, PositionShapingGRPOTrainer
from .ppl_shaping import PPLShapingGRPOConfig, PPLShapingGRPOTrainer
from .ppo import EntropyAdvantagePPOConfig, EntropyAdvantagePPOTrainer, PPOConfig, PPOTrainer
from .sent import SemanticEntropyCurriculum, SENTGRPOConfig, SENTGRPOTrainer
from .shaper import AdvantageShaper
from .stage_detector import StageDetector
from .token_entropy import TokenEntropyRecorder


__all__ = [
    "AdvantageShaper",
    "EntropyAdvantageGRPOConfig",
    "EntropyAdvantageGRPOTrainer",
    "EntropyAdvantagePPOConfig",
    "EntropyAdvantagePPOTrainer",
    "EntropyGRPOTrainer",
    "PAECGRPOConfig",
    "PAECGRPOTrainer",
    "PPLShapingGRPOConfig",
    "PPLShapingGRPOTrainer",
    "PPOConfig",
    "PPOTrainer",
    "PositionShapingGRPOConfig",
    "PositionShapingGRPOTrainer",
    "SENTGRPOConfig",
    "SENTGRPOTrainer",
    "SemanticEntropyCurriculum",
    "ShapingGRPOConfig",
    "ShapingGRPOTrainer",
    "StageDetector",
    "TokenEntropyRecorder",
    "functional",
]
