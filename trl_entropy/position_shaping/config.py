# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.

from dataclasses import dataclass, field

from trl import GRPOConfig

from ..stage_detector import StageDetector
from .functional import check_position_advantage_params


POSITION_SCHEDULES = ("fixed", "auto", "always")


@dataclass
class PositionShapingGRPOConfig(GRPOConfig):
    r"""
    Configuration class for [`PositionShapingGRPOTrainer`]: position-based advantage shaping of [Decomposing the
    Entropy-Performance Exchange](https://huggingface.co/papers/2508.02260) (Deng et al.), with the paper's defaults.

    Token `t` of a completion of `|o|` valid tokens, at relative position `l_t = (t - 1) / |o|`, gets the bonus
    `b_t = gamma * sigmoid(direction * scale * (l_t - center))` added with the sign of its advantage, capped at
    `cap * |A_t|`. The paper writes the shift as `n = -0.5` (`l_t + 0.5`, a nearly constant bonus); the authors'
    code uses `l_t - 0.5`, which this project follows.

    Parameters:
        position_gamma (`float`, *optional*, defaults to `0.1`):
            Bonus scale `gamma`, `>= 0`.
        position_direction (`float`, *optional*, defaults to `1.0`):
            `1.0` favours later tokens (the paper), `-1.0` earlier ones.
        position_scale (`float`, *optional*, defaults to `15.0`):
            Sigmoid sharpness `m`.
        position_center (`float`, *optional*, defaults to `0.5`):
            Relative position where the bonus is `gamma / 2` (the authors' code; the paper's text says `-0.5`).
        position_cap (`float` or `None`, *optional*, defaults to `0.5`):
            Cap of the bonus as a fraction of `|A_t|` (authors' code); `None` disables the cap.
        position_schedule (`str`, *optional*, defaults to `"fixed"`):
            When the bonus acts: `"fixed"` from `position_start_step` for `position_num_steps` steps (the paper:
            step 200 for 100 steps, i.e. steps 200 to 299), `"auto"` for `position_num_steps` steps from the
            optimizer step after the one at which the stage detector declares the plateau (its `declared_step`, not
            the earlier `plateau_step`, so the window is not shortened by `stage_patience`), `"always"` at every
            step. Steps are numbered as in the log history, as for `position_start_step`.
        position_start_step (`int`, *optional*, defaults to `200`):
            First optimizer step of the fixed schedule, `>= 1`. Steps are numbered as in the log history (the `step`
            of `trainer.state.log_history`, 1-based: the optimizer step trained while `state.global_step == g` is
            step `g + 1`), so `200` with `position_num_steps=100` acts on steps 200 to 299.
        position_num_steps (`int` or `None`, *optional*, defaults to `100`):
            Number of steps the bonus acts in the fixed and automatic schedules; `None` until the end of training.
        stage_window (`int`, *optional*, defaults to `50`):
            Stage detector: optimizer steps in the slope window.
        stage_ratio (`float`, *optional*, defaults to `0.25`):
            Stage detector: plateau when both slopes fall below this share of their peaks.
        stage_patience (`int`, *optional*, defaults to `5`):
            Stage detector: consecutive steps the condition must hold.
        stage_min_steps (`int`, *optional*, defaults to `50`):
            Stage detector: no plateau before this step.
    """

    position_gamma: float = field(default=0.1, metadata={"help": "Bonus scale gamma, >= 0."})
    position_direction: float = field(
        default=1.0, metadata={"help": "1.0 favours later tokens (the paper), -1.0 earlier ones."}
    )
    position_scale: float = field(default=15.0, metadata={"help": "Sigmoid sharpness m."})
    position_center: float = field(
        default=0.5,
        metadata={"help": "Relative position of half bonus (authors' code: 0.5; the paper's text writes -0.5)."},
    )
    position_cap: float | None = field(
        default=0.5, metadata={"help": "Cap of the bonus as a fraction of |A| (authors' code); None disables it."}
    )
    position_schedule: str = field(
        default="fixed",
        metadata={
            "help": "When the bonus acts: fixed (position_start_step for position_num_steps steps, the paper), auto "
            "(position_num_steps steps from the step after the one at which the stage detector declares the plateau), "
            "always.",
            "choices": list(POSITION_SCHEDULES),
        },
    )
    position_start_step: int = field(
        default=200,
        metadata={
            "help": "First step of the fixed schedule (paper: 200), >= 1, numbered as the log history numbers steps "
            "(1-based): 200 with position_num_steps 100 acts on steps 200-299."
        },
    )
    position_num_steps: int | None = field(
        default=100, metadata={"help": "Steps the bonus acts (paper: 100); None: until the end of training."}
    )
    stage_window: int = field(default=50, metadata={"help": "Stage detector: optimizer steps in the slope window."})
    stage_ratio: float = field(
        default=0.25,
        metadata={"help": "Stage detector: plateau when both slopes fall below this share of their peak."},
    )
    stage_patience: int = field(
        default=5, metadata={"help": "Stage detector: consecutive steps the plateau condition must hold."}
    )
    stage_min_steps: int = field(default=50, metadata={"help": "Stage detector: no plateau before this step."})

    def __post_init__(self):
        check_position_params(
            self.position_gamma,
            self.position_direction,
            self.position_scale,
            self.position_center,
            self.position_cap,
            self.position_schedule,
            self.position_start_step,
            self.position_num_steps,
        )
        # Validates the stage_* fields with the detector's own checks.
        StageDetector(
            window=self.stage_window,
            ratio=self.stage_ratio,
            patience=self.stage_patience,
            min_steps=self.stage_min_steps,
        )
        super().__post_init__()


def check_position_params(gamma, direction, scale, center, cap, schedule, start_step, num_steps) -> None:
    """Validate the position-shaping fields, naming the field, the value and the valid range."""
    check_position_advantage_params(gamma, direction, scale, center, cap, prefix="position_")
    if schedule not in POSITION_SCHEDULES:
        raise ValueError(f"`position_schedule` must be one of {', '.join(POSITION_SCHEDULES)}, got {schedule!r}.")
    if start_step < 1:
        # Steps are 1-based, as the log history numbers them: there is no step 0.
        raise ValueError(f"`position_start_step` must be >= 1 (valid range: [1, inf)), got {start_step}.")
    if num_steps is not None and num_steps < 1:
        raise ValueError(f"`position_num_steps` must be >= 1 or None (valid range: [1, inf)), got {num_steps}.")
