# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""trl-entropy: entropy-management methods for RLVR, as drop-in subclasses of TRL's trainers."""

__version__ = "0.1.0.dev0"

import importlib
from typing import TYPE_CHECKING


# Exported names are imported on first use (PEP 562): the trainers pull in torch, transformers, TRL and, through
# them, peft and bitsandbytes (seconds of start-up), which `import trl_entropy`, `trl-entropy --help` and the
# commands that need none of them (`plot`, `card --help`, ...) should not pay for.
_EXPORTS = {
    "AdvantageShaper": "shaper",
    "ClipCovGRPOConfig": "covariance",
    "Component": "hook",
    "ComponentContext": "hook",
    "ComposedGRPOConfig": "composition",
    "ComposedGRPOTrainer": "composition",
    "ClipCovGRPOTrainer": "covariance",
    "EntropyAdvantageGRPOConfig": "entropy_advantage",
    "EntropyAdvantageGRPOTrainer": "entropy_advantage",
    "EntropyAdvantagePPOConfig": "ppo",
    "EntropyAdvantagePPOTrainer": "ppo",
    "EntropyAnalysisCallback": "analysis",
    "EntropyGRPOTrainer": "hook",
    "KLCovGRPOConfig": "covariance",
    "KLCovGRPOTrainer": "covariance",
    "PAECGRPOConfig": "paec",
    "PAECGRPOTrainer": "paec",
    "PPLShapingGRPOConfig": "ppl_shaping",
    "PPLShapingGRPOTrainer": "ppl_shaping",
    "PPOConfig": "ppo",
    "PPOTrainer": "ppo",
    "PositionMetrics": "position_metrics",
    "PositionShapingGRPOConfig": "position_shaping",
    "PositionShapingGRPOTrainer": "position_shaping",
    "SENTGRPOConfig": "sent",
    "SENTGRPOTrainer": "sent",
    "SemanticEntropyCurriculum": "sent",
    "ShapingGRPOConfig": "composition",
    "ShapingGRPOTrainer": "composition",
    "StageDetector": "stage_detector",
    "TokenEntropyRecorder": "token_entropy",
}
# Subpackages exported as attributes (`trl_entropy.functional` without importing it first).
_SUBMODULES = ("analysis", "functional", "hook")

__all__ = sorted([*_EXPORTS, *_SUBMODULES])

if TYPE_CHECKING:
    from . import analysis, functional, hook
    from .analysis import EntropyAnalysisCallback
    from .composition import ComposedGRPOConfig, ComposedGRPOTrainer, ShapingGRPOConfig, ShapingGRPOTrainer
    from .covariance import ClipCovGRPOConfig, ClipCovGRPOTrainer, KLCovGRPOConfig, KLCovGRPOTrainer
    from .entropy_advantage import EntropyAdvantageGRPOConfig, EntropyAdvantageGRPOTrainer
    from .hook import Component, ComponentContext, EntropyGRPOTrainer
    from .paec import PAECGRPOConfig, PAECGRPOTrainer
    from .position_metrics import PositionMetrics
    from .position_shaping import PositionShapingGRPOConfig, PositionShapingGRPOTrainer
    from .ppl_shaping import PPLShapingGRPOConfig, PPLShapingGRPOTrainer
    from .ppo import EntropyAdvantagePPOConfig, EntropyAdvantagePPOTrainer, PPOConfig, PPOTrainer
    from .sent import SemanticEntropyCurriculum, SENTGRPOConfig, SENTGRPOTrainer
    from .shaper import AdvantageShaper
    from .stage_detector import StageDetector
    from .token_entropy import TokenEntropyRecorder


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # cache: later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
