# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Former home of `EntropyGRPOTrainer`, now in `trl_entropy.hook`; these names are re-exported from there."""

from .hook.context import COMPLETION_REWARDS_KEY, METRIC_PREFIX, LossPass
from .hook.policy import (
    capture_final_hidden_states,
    completion_hidden_states,
    logit_transform,
    loss_mask,
    policy_modules,
    with_full_lm_head,
)
from .hook.trainer import EntropyGRPOTrainer, _LossPass


__all__ = [
    "COMPLETION_REWARDS_KEY",
    "METRIC_PREFIX",
    "EntropyGRPOTrainer",
    "LossPass",
    "_LossPass",
    "capture_final_hidden_states",
    "completion_hidden_states",
    "logit_transform",
    "loss_mask",
    "policy_modules",
    "with_full_lm_head",
]
