# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""`Component`: one method (or one piece of one), as the trainer runs it.

A component reads its options from the config once, at construction, and then only answers the trainer's calls. Every
call gets a [`~trl_entropy.hook.ComponentContext`], the narrow view of the trainer a component may use (log a metric,
the step, reduce and gather across processes, the policy's hidden states when it asked for them), never the trainer.
Which calls a component answers makes it what it is:

- a *data-side* component sees each generated batch (`on_generation`), e.g. to add per-completion tensors or log the
  prompts' curriculum scores;
- an *advantage shaper* maps advantages to advantages in each loss pass (`shape`);
- a *loss term* adds a scalar to TRL's loss in each loss pass (`loss`);
- an *observer* watches the loss pass or the optimizer steps without changing either (`on_forward`,
  `on_optimizer_step`, `on_log`).

The trainer runs its components in the order of their `order` (see `docs/composition.md`): data-side components,
then shapers one after the other (each sees the previous one's advantages), then loss terms, then observers.
"""

import dataclasses
from typing import TYPE_CHECKING, Any

import torch


if TYPE_CHECKING:
    from .context import ComponentContext, ForwardView


# The orders of the kinds: components sort by `order`, these are the bands of each kind.
DATA_ORDER = 0
SHAPER_ORDER = 100
LOSS_ORDER = 200
OBSERVER_ORDER = 300


def config_option(args: Any, config_class: type, name: str) -> Any:
    """A method's field from `args`, or its default in `config_class` when `args` lacks it (a plain `GRPOConfig`: the
    trainers are drop-ins and then use the paper's defaults). Defaults are valid by construction; values set on a
    method's config were validated by that config's `__post_init__`."""
    if hasattr(args, name):
        return getattr(args, name)
    field = config_class.__dataclass_fields__[name]
    return field.default_factory() if field.default is dataclasses.MISSING else field.default


class Component:
    r"""
    Base class of the components. Subclasses set the class attributes and override the calls they answer.

    Class attributes:
        name (`str`): the name in `methods: [...]` and in error messages.
        order (`int`): place in the order of application (the bands `DATA_ORDER`, `SHAPER_ORDER`, `LOSS_ORDER`,
            `OBSERVER_ORDER` of `trl_entropy.hook.component`, plus an offset within the band).
        paper (`dict[str, str]`): the paper (`title`, `id`, `citation`), cited in model cards; empty for none.
        config_class (`type`): the config dataclass whose fields (with the paper's defaults) the component reads.
        fields (`tuple[str, ...]`): the names of those fields; read once into `options`, listed in the card.
        requires (`tuple[str, ...]`): names of components it needs (added by the trainer when missing).
        needs_hidden_states (`bool`): whether the loss pass keeps the policy's final hidden states for it.
        uses_stage_detector (`bool`): whether it acts on the stage detector (the card says so).
        allow_several (`bool`): whether several instances may run in one trainer (e.g. one feed per recorder
            callback); they are then named `name`, `name#2`, ...
    """

    name: str = ""
    order: int = SHAPER_ORDER
    paper: dict[str, str] = {}
    config_class: type | None = None
    fields: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    needs_hidden_states: bool = False
    uses_stage_detector: bool = False
    allow_several: bool = False

    def __init__(self, args: Any):
        self.options: dict[str, Any] = {name: config_option(args, self.config_class, name) for name in self.fields}

    def option(self, name: str) -> Any:
        """The value of one of this component's fields, as read at construction."""
        return self.options[name]

    # --- construction -------------------------------------------------------------------------------------------

    def check_args(self, args: Any) -> None:
        """Raise a `ValueError` when the run's settings (batch layout, `beta`, ...) cannot work with this component.
        Called at construction, before any model is loaded. Options themselves are validated by the config."""

    def conflict(self, other: "Component") -> str | None:
        """Why this component cannot run together with `other` (a sentence), or `None` when they can."""
        return None

    def callbacks(self) -> list[Any]:
        """Trainer callbacks this component owns (e.g. its stateful state, saved in checkpoints and restored on
        resume; the same instances on every call); the trainer adds them."""
        return []

    def replace_callback(self, old: Any, new: Any) -> None:
        """Point this component at `new` where it held `old` (Transformers may swap in restored callback instances)."""
        for attribute, value in vars(self).items():
            if value is old:
                setattr(self, attribute, new)

    def check_accelerator(self, accelerator: Any) -> None:
        """Raise when the distributed setup cannot work with this component; called as soon as the accelerator
        exists (before TRL loads a reference model or starts vLLM)."""

    # --- generation ---------------------------------------------------------------------------------------------

    def on_generation(self, ctx: "ComponentContext", batch: dict[str, Any], rows: list[dict[str, Any]]) -> None:
        """
        Called once per generated batch, after TRL computed rewards and advantages and before TRL shuffles and splits
        the batch; may add per-completion tensors (first dimension = local batch size) that later calls read. `rows`
        are the dataset rows of this process's prompts. Runs on every process; collectives are allowed.
        """

    def wants_step_window(self, ctx: "ComponentContext") -> bool:
        """Whether this component needs a step window for the optimizer step that starts (see `build_step_window`)."""
        return False

    def build_step_window(self, ctx: "ComponentContext", batches: list[dict[str, Any]]) -> list[Any]:
        """
        Per-micro-batch quantities that depend on the whole optimizer step: called when TRL prepares the step's first
        micro-batch, with the step's micro-batches of this process (the policy does not change until the step's last
        backward); returns one entry per micro-batch, read back with `ctx.step_window_entry(mask)`.
        """
        raise NotImplementedError

    # --- loss pass ----------------------------------------------------------------------------------------------

    def wants_hidden_states(self, ctx: "ComponentContext") -> bool:
        """Whether the current loss pass must keep the final hidden states for this component."""
        return self.needs_hidden_states

    def on_forward(self, ctx: "ComponentContext", forward: "ForwardView") -> None:
        """Observe the policy forward of a loss pass, before shaping (advantages are TRL's)."""

    def shape(
        self,
        ctx: "ComponentContext",
        advantages: torch.Tensor,
        per_token_logps: torch.Tensor,
        entropies: torch.Tensor,
        mask: torch.Tensor,
        inputs: dict[str, Any],
    ) -> torch.Tensor:
        """
        Map advantages to advantages in one loss pass (`(B,)` or `(B, T)` in, `(B,)` or `(B, T)` out; never modify
        in place). `per_token_logps` and `entropies` are the detached `(B, T)` values of the loss's own forward, `mask`
        the float mask of the valid completion tokens, `inputs` the batch as TRL built it (a shallow copy).
        """
        return advantages

    def on_shaped(self, ctx: "ComponentContext", forward: "ForwardView") -> None:
        """Observe the policy forward of a loss pass after shaping (the advantages the loss uses)."""

    def loss(
        self,
        ctx: "ComponentContext",
        per_token_logps: torch.Tensor,
        entropies: torch.Tensor,
        mask: torch.Tensor,
        inputs: dict[str, Any],
    ) -> torch.Tensor | None:
        """
        A scalar added to TRL's loss for this micro-batch, as a mean (during training the trainer divides it by the
        number of gradient-accumulation steps, TRL's convention for its own entropy bonus), or `None`.
        `per_token_logps` and `entropies` carry gradient.
        """
        return None

    def on_loss_pass_end(self, ctx: "ComponentContext", forward: "ForwardView") -> None:
        """Called at the end of every loss pass, after every component's `loss` (e.g. to log what they published with
        `ctx.record_token_values`)."""

    # --- steps and logs -----------------------------------------------------------------------------------------

    def on_optimizer_step(self, ctx: "ComponentContext") -> None:
        """Called after the last micro-batch of every training optimizer step (before the optimizer's update is
        counted in `ctx.completed_steps`)."""

    def on_log(self, ctx: "ComponentContext", mode: str) -> None:
        """Called before every log; may add values with `ctx.log_value`."""

    def hyperparameters(self) -> dict[str, Any]:
        """This component's settings, for the model card."""
        return dict(self.options)

    def card_rows(self, ctx: "ComponentContext") -> dict[str, Any]:
        """Extra rows of the card's method table (e.g. a curriculum's size); by default none."""
        return {}
