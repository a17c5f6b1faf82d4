# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""The hook: how trl-entropy runs components inside TRL's loss pass. Knows no method.

- `component`: [`Component`], the base class of every method's pieces, and `config_option`;
- `context`: [`ComponentContext`], the narrow view of the trainer a component gets, and `LossPass`;
- `trainer`: [`EntropyGRPOTrainer`], `GRPOTrainer` running a list of components;
- `policy`: the policy forward as the hook sees it (loss mask, hidden states, the whole LM head);
- `saving`: the saves that write the model card next to the weights.
"""

from .component import DATA_ORDER, LOSS_ORDER, OBSERVER_ORDER, SHAPER_ORDER, Component, config_option
from .context import METRIC_PREFIX, ComponentContext, ForwardView, LossPass
from .policy import loss_mask
from .trainer import EntropyGRPOTrainer, resolve_components


__all__ = [
    "DATA_ORDER",
    "LOSS_ORDER",
    "METRIC_PREFIX",
    "OBSERVER_ORDER",
    "SHAPER_ORDER",
    "Component",
    "ComponentContext",
    "EntropyGRPOTrainer",
    "ForwardView",
    "LossPass",
    "config_option",
    "loss_mask",
    "resolve_components",
]
