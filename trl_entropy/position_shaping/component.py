# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Position-based advantage shaping as a component: the late-token bonus, with its schedule."""

from typing import Any

import torch

from ..hook.component import SHAPER_ORDER, Component
from ..ppl_shaping.component import PAPER_2508_02260
from ..stages import STAGE_FIELDS, StageDetection
from .config import PositionShapingGRPOConfig
from .functional import position_shaped_advantages


class PositionShaper(Component):
    """Adds the sign-preserving, capped late-token bonus while its schedule is active."""

    name = "position"
    order = SHAPER_ORDER + 30
    paper = PAPER_2508_02260
    # the stage detector decides when the `auto` schedule starts; every schedule logs the stage
    requires = (StageDetection,)

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

    def card_rows(self, ctx) -> dict[str, Any]:
        # the `auto` schedule starts from the detector: its settings are the method's too
        if self.schedule != "auto":
            return {}
        detector_args = ctx.component("stages").detector.state()["args"]
        return {field: detector_args[name] for field, name in STAGE_FIELDS.items()}

    @property
    def uses_stage_detector(self) -> bool:
        """Whether the schedule acts on the stage detector (`auto`); shown in the model card."""
        return self.schedule == "auto"

    def first_step(self, ctx) -> int | None:
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
        declared = ctx.component("stages").detector.declared_step
        return None if declared is None else declared + 1

    def is_active(self, ctx) -> bool:
        """
        Whether the bonus acts at the current optimizer step `s` (1-based, as logged): `first <= s < first +
        num_steps`. A pure function of the step and the saved detector, so a resumed run continues the same schedule.
        """
        first = self.first_step(ctx)
        if first is None:
            return False
        step = ctx.step  # the optimizer step being trained, 1-based as logged
        if self.schedule == "always" or self.num_steps is None:
            return step >= first
        return first <= step < first + self.num_steps

    def shape(self, ctx, advantages, per_token_logps, entropies, mask, inputs) -> torch.Tensor:
        active = self.is_active(ctx)
        # Metrics are recorded on every pass (zero while inactive) so every process logs the same names.
        ctx.log_metric("position_active", float(active), 1.0)
        if not active:
            ctx.log_metric("position_bonus_mean", 0.0, mask.sum())
            return advantages
        shaped = position_shaped_advantages(
            advantages, mask, gamma=self.gamma, direction=self.direction, scale=self.scale, center=self.center,
            cap=self.cap,
        )  # fmt: skip
        base = advantages.unsqueeze(1) if advantages.dim() == 1 else advantages
        ctx.log_metric("position_bonus_mean", ((shaped - base).abs() * mask).sum(), mask.sum())
        return shaped
