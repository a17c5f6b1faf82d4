# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""`StageDetection`: the [`StageDetector`] as a component, attached by the methods that need it (position shaping;
the analysis callback, which labels its records with the stage) or listed in `methods: [stages]`."""

from typing import Any

from .hook.component import OBSERVER_ORDER, Component
from .stage_detector import StageDetector


# The config fields of the detector (those of `PositionShapingGRPOConfig`) -> `StageDetector` arguments.
STAGE_FIELDS = {
    "stage_window": "window",
    "stage_ratio": "ratio",
    "stage_patience": "patience",
    "stage_min_steps": "min_steps",
}


def stage_detector_kwargs(args: Any) -> dict[str, Any]:
    """Stage-detector settings from a config's `stage_*` fields (any config; missing fields keep the detector's
    defaults, which are those of `PositionShapingGRPOConfig`)."""
    return {name: getattr(args, field) for field, name in STAGE_FIELDS.items() if hasattr(args, field)}


class StageDetection(Component):
    r"""
    Feeds a [`StageDetector`] at every optimizer step (the step's reward, logged once per generation, and its mean
    entropy, logged once per micro-batch), and logs `entropy/stage` (`0` rising, `1` plateau) and, once declared,
    `entropy/plateau_step`. The detector is a stateful callback: saved in `trainer_state.json`, restored on resume.
    """

    name = "stages"
    order = OBSERVER_ORDER
    paper = {}

    def __init__(self, args: Any):
        super().__init__(args)
        self.detector = StageDetector(**stage_detector_kwargs(args))

    def callbacks(self) -> list[Any]:
        return [self.detector]

    def hyperparameters(self) -> dict[str, Any]:
        return {}  # the detector's settings are listed by the method that acts on it

    def on_optimizer_step(self, ctx) -> None:
        rewards, entropies = ctx.logged_values("reward", "train"), ctx.logged_values("entropy", "train")
        if rewards and entropies:
            entropy = entropies[-ctx.accumulation_steps :]
            self.detector.update(ctx.step, rewards[-1], sum(entropy) / len(entropy))

    def on_log(self, ctx, mode: str) -> None:
        if mode == "train" and ctx.logged_values("reward", "train"):
            ctx.log_value("entropy/stage", float(self.detector.in_plateau), "train")
            if self.detector.plateau_step is not None:
                ctx.log_value("entropy/plateau_step", float(self.detector.plateau_step), "train")
