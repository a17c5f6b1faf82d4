# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.

from typing import Any

import torch

from ..entropy_grpo_trainer import EntropyGRPOTrainer
from ..functional.position_shaping import position_shaped_advantages
from ..ppl_shaping.trainer import PAPER_2508_02260
from ..shaper import AdvantageShaper
from .config import PositionShapingGRPOConfig, check_position_params


class PositionShaper(AdvantageShaper):
    """Adds the sign-preserving, capped late-token bonus while its schedule is active."""

    name = "position"
    paper = PAPER_2508_02260

    def __init__(self, args: Any):
        super().__init__(args)
        defaults = PositionShapingGRPOConfig
        self.gamma = getattr(args, "position_gamma", defaults.position_gamma)
        self.direction = getattr(args, "position_direction", defaults.position_direction)
        self.scale = getattr(args, "position_scale", defaults.position_scale)
        self.center = getattr(args, "position_center", defaults.position_center)
        self.cap = getattr(args, "position_cap", defaults.position_cap)
        self.schedule = getattr(args, "position_schedule", defaults.position_schedule)
        self.start_step = getattr(args, "position_start_step", defaults.position_start_step)
        self.num_steps = getattr(args, "position_num_steps", defaults.position_num_steps)
        check_position_params(
            self.gamma, self.direction, self.scale, self.center, self.cap, self.schedule, self.start_step,
            self.num_steps,
        )  # fmt: skip

    def hyperparameters(self) -> dict[str, Any]:
        return {
            "position_gamma": self.gamma,
            "position_direction": self.direction,
            "position_scale": self.scale,
            "position_center": self.center,
            "position_cap": self.cap,
            "position_schedule": self.schedule,
            "position_start_step": self.start_step,
            "position_num_steps": self.num_steps,
        }

    def first_step(self, trainer) -> int | None:
        """First optimizer step (0-based, as `state.global_step` counts before the step) with the bonus on."""
        if self.schedule == "always":
            return 0
        if self.schedule == "fixed":
            return self.start_step
        # `plateau_step` is where the plateau condition started to hold; the detector declares it `stage_patience - 1`
        # observations later, so the bonus effectively starts at the declaration and ends `num_steps` after
        # `plateau_step`.
        return trainer.stage_detector.plateau_step

    def is_active(self, trainer) -> bool:
        """Whether the bonus acts at the current optimizer step; a pure function of the step and the saved detector."""
        first = self.first_step(trainer)
        if first is None:
            return False
        step = trainer.state.global_step
        if self.schedule == "always" or self.num_steps is None:
            return step >= first
        return first <= step < first + self.num_steps

    def shape(self, trainer, advantages, per_token_logps, entropies, mask, inputs) -> torch.Tensor:
        active = self.is_active(trainer)
        # Metrics are recorded on every pass (zero while inactive) so every process logs the same names.
        trainer.log_metric("position_active", float(active), 1.0)
        if not active:
            trainer.log_metric("position_bonus_mean", 0.0, mask.sum())
            return advantages
        shaped = position_shaped_advantages(
            advantages, mask, gamma=self.gamma, direction=self.direction, scale=self.scale, center=self.center,
            cap=self.cap,
        )  # fmt: skip
        base = advantages.unsqueeze(1) if advantages.dim() == 1 else advantages
        trainer.log_metric("position_bonus_mean", ((shaped - base).abs() * mask).sum(), mask.sum())
        return shaped


class PositionShapingGRPOTrainer(EntropyGRPOTrainer):
    r"""
    GRPO with position-based advantage shaping ([Decomposing the Entropy-Performance
    Exchange](https://huggingface.co/papers/2508.02260), Deng et al.).

    While the schedule is active, token `t` at relative position `l_t` gets `b_t = gamma * sigmoid(d * m * (l_t -
    c))` added with the sign of its advantage, capped at `cap * |A_t|`: later tokens of correct completions are
    reinforced more, later tokens of incorrect ones penalised more. Schedules: `"fixed"` (the paper: step 200 for 100
    steps), `"auto"` (from the plateau the stage detector declares), `"always"`.

    Logged per step: `entropy/position_active`, `entropy/position_bonus_mean` (mean `|A' - A|` over valid tokens),
    and the detector's `entropy/stage`, `entropy/plateau_step`. A drop-in for [`~trl.GRPOTrainer`].
    """

    _tag_names = ["trl", "grpo", "trl-entropy", "position-shaping"]
    _name = "Position-Shaping GRPO"
    _paper = PAPER_2508_02260
    config_class = PositionShapingGRPOConfig
    _output_suffix = "PositionShaping-GRPO"
    shaper_classes = (PositionShaper,)
