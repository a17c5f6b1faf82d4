# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""`AdvantageShaper`: one advantage-shaping method, in a form several methods can share one run.

A shaper is the wiring of one method's pure function (from `trl_entropy.functional`) into
[`EntropyGRPOTrainer`]: it reads its hyperparameters from the config, optionally adds per-completion tensors to
the generated batch, and maps advantages to advantages in each loss pass. `EntropyGRPOTrainer.shape_advantages`
applies the trainer's shapers one after the other, each seeing the previous one's output.
"""

import dataclasses
from typing import TYPE_CHECKING, Any

import torch


if TYPE_CHECKING:
    from .entropy_grpo_trainer import EntropyGRPOTrainer


class AdvantageShaper:
    """Base class of the advantage-shaping methods. Subclasses set `name` and override `shape`."""

    #: Name used in `shaping_methods` and in the order of application.
    name: str = ""
    #: The method's paper (`title`, `id`, `citation`), cited in model cards.
    paper: dict[str, str] = {}
    #: The method's config class, whose field defaults are the paper's, and the names of its fields.
    config_class: type | None = None
    fields: tuple[str, ...] = ()

    def __init__(self, args: Any):
        self.args = args

    def option(self, name: str) -> Any:
        """A field of this method from `args`, or its default in `config_class` (see [`config_option`])."""
        return config_option(self.args, self.config_class, name)

    def on_generation(self, trainer: "EntropyGRPOTrainer", batch: dict[str, Any], mode: str) -> None:
        """
        Called once per generated batch, after TRL computed rewards and advantages and before TRL shuffles and splits
        the batch; may add per-completion tensors (first dimension = local batch size) that `shape` reads later.
        Runs on every process; collectives are allowed.
        """

    def shape(
        self,
        trainer: "EntropyGRPOTrainer",
        advantages: torch.Tensor,
        per_token_logps: torch.Tensor,
        entropies: torch.Tensor,
        mask: torch.Tensor,
        inputs: dict[str, Any],
    ) -> torch.Tensor:
        """Map advantages (`(B,)` or `(B, T)`) to advantages; arguments as in `EntropyGRPOTrainer.shape_advantages`."""
        raise NotImplementedError

    def hyperparameters(self) -> dict[str, Any]:
        """Values of this shaper's config fields, for the model card."""
        return {name: self.option(name) for name in self.fields}


def config_option(args: Any, config_class: type, name: str) -> Any:
    """A method's field from `args`, or its default in `config_class` when `args` lacks it (a plain `GRPOConfig`: the
    trainers are drop-ins and then use the paper's defaults)."""
    if hasattr(args, name):
        return getattr(args, name)
    field = config_class.__dataclass_fields__[name]
    return field.default_factory() if field.default is dataclasses.MISSING else field.default
