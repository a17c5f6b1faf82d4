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

    @property
    def uses_stage_detector(self) -> bool:
        """Whether the schedule acts on the stage detector (`auto`); shown in the model card."""
        return self.schedule == "auto"

    def first_step(self, trainer) -> int | None:
        """
        First optimizer step with the bonus on, numbered as the log history numbers steps (1-based: the step trained
        while `state.global_step == g` is logged as step `g + 1`), or `None` before the `auto` schedule starts.
        """
        if self.schedule == "always":
            return 1
        if self.schedule == "fixed":
            return self.start_step
        # The window starts at the declaration, not at `plateau_step` (the start of the flat run, `stage_patience - 1`
        # observations earlier), so that it lasts `num_steps` whatever the patience. The detector observes logged step
        # `D` after that step's loss passes, so the first step that can act on it is the next one, `D + 1`.
        declared = trainer.stage_detector.declared_step
        return None if declared is None else declared + 1

    def current_step(self, trainer) -> int:
        """The optimizer step being trained, as the log history numbers it: `state.global_step` (updates done) + 1."""
        return trainer.state.global_step + 1

    def is_active(self, trainer) -> bool:
        """
        Whether the bonus acts at the current optimizer step `s` (1-based, as logged): `first <= s < first +
        num_steps`. A pure function of the step and the saved detector, so a resumed run continues the same schedule.
        """
        first = self.first_step(trainer)
        if first is None:
            return False
        step = self.current_step(trainer)
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
    steps, i.e. logged steps 200-299), `"auto"` (`position_num_steps` steps from the one after the stage detector's
    declaration of the plateau), `"always"`. Steps are numbered as the log history numbers them (1-based).

    Logged per step: `entropy/position_active`, `entropy/position_bonus_mean` (mean `|A' - A|` over valid tokens),
    and the detector's `entropy/stage`, `entropy/plateau_step`. A drop-in for [`~trl.GRPOTrainer`].
    """

    _tag_names = ["trl", "grpo", "trl-entropy", "position-shaping"]
    _name = "Position-Shaping GRPO"
    _paper = PAPER_2508_02260
    config_class = PositionShapingGRPOConfig
    _output_suffix = "PositionShaping-GRPO"
    shaper_classes = (PositionShaper,)
