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

    config_class = PositionShapingGRPOConfig
    fields = (
        "position_gamma",
        "position_direction",
        "position_scale",
        "position_center",
        "position_cap",
        "position_schedule",
        "position_start_step",
        "position_num_steps",
    )

    def __init__(self, args: Any):
        super().__init__(args)
        self.gamma = self.option("position_gamma")
        self.direction = self.option("position_direction")
        self.scale = self.option("position_scale")
        self.center = self.option("position_center")
        self.cap = self.option("position_cap")
        self.schedule = self.option("position_schedule")
        self.start_step = self.option("position_start_step")
        self.num_steps = self.option("position_num_steps")
        check_position_params(
            self.gamma, self.direction, self.scale, self.center, self.cap, self.schedule, self.start_step,
            self.num_steps,
        )  # fmt: skip

    def first_step(self, trainer) -> int | None:
        """First optimizer step (0-based, as `state.global_step` counts before the step) with the bonus on."""
        if self.schedule == "always":
            return 0
        if self.schedule == "fixed":
            return self.start_step
        # The window starts at the declaration, not at `plateau_step` (the start of the flat run, `stage_patience - 1`
        # observations earlier), so that it lasts `num_steps` whatever the patience. The detector observes logged step
        # `D` after that step's loss passes; the next step, logged `D + 1`, runs with `state.global_step == D`.
        return trainer.stage_detector.declared_step

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
    steps), `"auto"` (`position_num_steps` steps from the one after the stage detector's declaration of the plateau),
    `"always"`.

    Logged per step: `entropy/position_active`, `entropy/position_bonus_mean` (mean `|A' - A|` over valid tokens),
    and the detector's `entropy/stage`, `entropy/plateau_step`. A drop-in for [`~trl.GRPOTrainer`].
    """

    _tag_names = ["trl", "grpo", "trl-entropy", "position-shaping"]
    _name = "Position-Shaping GRPO"
    _paper = PAPER_2508_02260
    config_class = PositionShapingGRPOConfig
    _output_suffix = "PositionShaping-GRPO"
    shaper_classes = (PositionShaper,)
