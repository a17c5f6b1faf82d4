# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.

from ..hook.trainer import EntropyGRPOTrainer
from .component import PAPER_2508_02260, PositionShaper  # noqa: F401  (PositionShaper: re-exported)
from .config import PositionShapingGRPOConfig


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
    component_classes = (PositionShaper,)
