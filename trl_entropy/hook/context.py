# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""`ComponentContext`: the narrow view of the trainer a component gets, and `LossPass`, the state of one loss pass."""

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from ..distributed import gather_variable_length
from .policy import with_full_lm_head


if TYPE_CHECKING:
    from .component import Component
    from .trainer import EntropyGRPOTrainer


METRIC_PREFIX = "entropy/"
# Batch key of the weighted reward of each completion, added by the components that record it
# (`ComponentContext.add_completion_rewards`); TRL's shuffle and split carry it along with the other (B, ...) tensors.
COMPLETION_REWARDS_KEY = "trl_entropy_completion_rewards"
TOKEN_VALUE_KINDS = ("value", "selection")


@dataclass
class LossPass:
    """State of one call of `_compute_loss`; lives only for that call. Components read it as a `ForwardView`."""

    inputs: dict[str, Any]
    # the model `_compute_loss` was given (the trained model, possibly wrapped); None: `trainer.model`
    model: Any = None
    forward_seen: bool = False
    per_token_logps: torch.Tensor | None = None
    entropies: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    # final hidden states of the completion positions, (B, T, H), detached; only when a component asked for them
    hidden_states: torch.Tensor | None = None
    # name -> (sum, count) of this micro-batch; reduced across processes once, at the end of the pass
    metrics: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)
    # name -> the component that logged it in this pass (two components may not log the same name)
    metric_owners: dict[str, str] = field(default_factory=dict)
    # name -> ((B, T) tensor, kind) published with `record_token_values`, for position-level diagnostics
    token_values: dict[str, tuple[torch.Tensor, str]] = field(default_factory=dict)


# What `on_forward` and `on_shaped` receive: the loss pass, to be read only.
ForwardView = LossPass


class ComponentContext:
    """
    What a component may use of the trainer: metrics, the step, collectives, the policy's forward and LM head, and
    a few read-only settings. One context per component (metrics are attributed to it).

    Args:
        trainer ([`EntropyGRPOTrainer`]):
            The trainer running the component.
        component ([`Component`]):
            The component this context serves.
    """

    def __init__(self, trainer: "EntropyGRPOTrainer", component: "Component"):
        self._trainer = trainer
        self._component = component

    # --- metrics ------------------------------------------------------------------------------------------------

    def log_metric(
        self, name: str, total: torch.Tensor | float, count: torch.Tensor | float, prefix: str = METRIC_PREFIX
    ) -> None:
        r"""
        Record a statistic of the current micro-batch as a `(sum, count)` pair; logged as `<prefix><name>`.

        All pairs of a micro-batch are summed across processes in one collective at the end of the loss pass and
        summed again over the loss passes of the logging window, so the logged value is the exact mean over every
        counted item of every process and every micro-batch since the last log. Every process must record the same
        names in every pass (record a zero count when there is nothing to count); a mean over a zero total count is
        logged as NaN, which TRL leaves out of its averages. Only inside a loss pass (`shape`, `loss`, `on_forward`,
        `on_shaped`).

        Args:
            name (`str`):
                Metric name without the prefix.
            total (`torch.Tensor` or `float`):
                Sum of the statistic over the counted items of this process.
            count (`torch.Tensor` or `float`):
                Number of counted items on this process.
            prefix (`str`, *optional*, defaults to `"entropy/"`):
                Prefix of the logged name.
        """
        loss_pass = self._require_loss_pass("log_metric")
        key = prefix + name
        owner = loss_pass.metric_owners.setdefault(key, self._component.name)
        if owner != self._component.name:
            raise RuntimeError(
                f"Components {owner!r} and {self._component.name!r} both log the metric {key!r}: rename one."
            )
        device = self._trainer.accelerator.device
        loss_pass.metrics[key] = (
            torch.as_tensor(total, dtype=torch.float32, device=device).detach().reshape(()),
            torch.as_tensor(count, dtype=torch.float32, device=device).detach().reshape(()),
        )

    def record_token_values(self, name: str, values: torch.Tensor, kind: str = "value") -> None:
        r"""
        Publish a per-token `(B, T)` tensor of the current micro-batch for position-level diagnostics (kept, detached,
        for this loss pass only; read by [`~trl_entropy.PositionMetrics`] when attached): its mean at decision and
        forced positions (`kind="value"`) or the precision and recall of the positions it selects
        (`kind="selection"`, selected where the value is at least 0.5).
        """
        loss_pass = self._require_loss_pass("record_token_values")
        if kind not in TOKEN_VALUE_KINDS:
            raise ValueError(f"`kind` must be one of {TOKEN_VALUE_KINDS}, got {kind!r}.")
        loss_pass.token_values[name] = (values.detach(), kind)

    def log_value(self, name: str, value: float, mode: str | None = None) -> None:
        """Append one value to TRL's metric `name` (logged as the mean of the values since the last log)."""
        self._trainer._metrics[mode or self.mode][name].append(float(value))

    def logged_values(self, name: str, mode: str | None = None) -> list[float]:
        """The values of TRL's metric `name` since the last log (e.g. `reward`, once per generation; `entropy`, once
        per micro-batch)."""
        return list(self._trainer._metrics[mode or self.mode].get(name, []))

    # --- steps --------------------------------------------------------------------------------------------------

    @property
    def step(self) -> int:
        """The optimizer step being trained, as the log history numbers it (1-based: `completed_steps + 1`)."""
        return self._trainer.state.global_step + 1

    @property
    def completed_steps(self) -> int:
        """Optimizer updates done (`state.global_step`)."""
        return self._trainer.state.global_step

    @property
    def training(self) -> bool:
        return self._trainer.model.training

    @property
    def mode(self) -> str:
        return "train" if self.training else "eval"

    @property
    def accumulation_steps(self) -> int:
        """Micro-batches per optimizer step (`current_gradient_accumulation_steps`)."""
        return self._trainer.current_gradient_accumulation_steps

    # --- processes ----------------------------------------------------------------------------------------------

    @property
    def num_processes(self) -> int:
        return self._trainer.accelerator.num_processes

    @property
    def process_index(self) -> int:
        return self._trainer.accelerator.process_index

    @property
    def is_main_process(self) -> bool:
        return self._trainer.accelerator.is_main_process

    @property
    def device(self) -> torch.device:
        return self._trainer.accelerator.device

    def reduce(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum over processes (every process must call it)."""
        return self._trainer.accelerator.reduce(tensor, reduction="sum")

    def gather(self, tensor: torch.Tensor) -> torch.Tensor:
        """Concatenate over processes along the first dimension, in process order."""
        return self._trainer.accelerator.gather(tensor)

    def gather_variable_length(self, tensor: torch.Tensor) -> tuple[torch.Tensor, int]:
        """Concatenate tensors of different first dimensions over processes; returns them and this process's offset."""
        return gather_variable_length(self._trainer.accelerator, tensor)

    def pad_across_processes(self, tensor: torch.Tensor, dim: int = 0, pad_index: int = 0) -> torch.Tensor:
        return self._trainer.accelerator.pad_across_processes(tensor, dim=dim, pad_index=pad_index)

    # --- the policy ---------------------------------------------------------------------------------------------

    def hidden_states(self) -> torch.Tensor:
        """Final hidden states (the LM head's input) of the completion positions of the current loss pass,
        `(B, T, H)`, detached, from the same forward as the log-probs and entropies; only for a component whose
        `wants_hidden_states` said so. An activation the LM head's backward keeps anyway: no extra memory."""
        loss_pass = self._trainer._loss_pass
        if loss_pass is None or loss_pass.hidden_states is None:
            raise RuntimeError(
                f"Component {self._component.name!r}: hidden states are only available inside a loss pass, to a "
                "component whose `wants_hidden_states` is true."
            )
        return loss_pass.hidden_states

    def policy_forward(
        self, batch: dict[str, Any], compute_entropy: bool = False, capture_hidden_states: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """The policy's per-token log-probs, entropies (with `compute_entropy`) and completion hidden states (with
        `capture_hidden_states`, `(B, T, H)`) on one generated (micro-)batch, without gradient, through TRL's own
        forward (fused LM head: no `(B, T, V)` logits)."""
        return self._trainer._policy_forward_without_gradient(batch, compute_entropy, capture_hidden_states)

    def with_lm_head(self, compute):
        """`compute(weight, bias, logit_scale, softcap)` with the policy's whole LM head, detached (gathered under
        ZeRO-3, unsharded under FSDP2); see [`~trl_entropy.hook.policy.with_full_lm_head`]."""
        return with_full_lm_head(self._trainer.model, compute)

    def step_window_entry(self, mask: torch.Tensor) -> Any:
        """This loss pass's entry of this component's step window (see `Component.build_step_window`)."""
        return self._trainer._step_window_entry(self._component, mask)

    def step_window_active(self) -> bool:
        """Whether this component's step window holds the current optimizer step (training only)."""
        return self.training and self._trainer._step_windows.get(self._component.name) is not None

    # --- read-only settings -------------------------------------------------------------------------------------

    @property
    def args(self) -> Any:
        """The trainer's config (read it; never modify it)."""
        return self._trainer.args

    @property
    def temperature(self) -> float:
        return self._trainer.temperature

    @property
    def num_generations(self) -> int:
        """Completions per prompt in the current mode."""
        trainer = self._trainer
        return trainer.num_generations if self.training else trainer.num_generations_eval

    @property
    def loss_type(self) -> str:
        return self._trainer.loss_type

    @property
    def importance_sampling_level(self) -> str:
        return self._trainer.importance_sampling_level

    @property
    def epsilon_low(self) -> float:
        return self._trainer.epsilon_low

    @property
    def epsilon_high(self) -> float:
        return self._trainer.epsilon_high

    @property
    def processing_class(self) -> Any:
        return self._trainer.processing_class

    def add_completion_rewards(self, batch: dict[str, Any]) -> None:
        """During `on_generation`: add [`completion_rewards`] to the batch under `COMPLETION_REWARDS_KEY` (once)."""
        if COMPLETION_REWARDS_KEY not in batch:
            rewards = self.completion_rewards(batch)
            if rewards is not None:
                batch[COMPLETION_REWARDS_KEY] = rewards

    def completion_rewards(self, batch: dict[str, Any]) -> torch.Tensor | None:
        """During `on_generation`: the weighted reward of each of this process's completions, as TRL sums it for the
        logged `reward` (NaN where no reward function scored a completion), or `None` when there are none."""
        per_func = self._trainer._last_rewards_per_func
        if per_func is None:
            return None
        weights = self._trainer.reward_weights.to(per_func.device).unsqueeze(0)
        rewards = (per_func * weights).nansum(dim=1)
        rewards[per_func.isnan().all(dim=1)] = torch.nan
        num_local = batch["completion_ids"].size(0)
        start = self.process_index * num_local
        return rewards[start : start + num_local]

    def component(self, name: str) -> "Component | None":
        """Another component of the trainer, by name (e.g. `stages`, the stage detector), or `None`."""
        return self._trainer.get_component(name)

    def _require_loss_pass(self, what: str) -> LossPass:
        loss_pass = self._trainer._loss_pass
        if loss_pass is None:
            raise RuntimeError(
                f"`{what}` can only be called from inside a loss pass (`shape`, `loss`, `on_forward`, `on_shaped`)."
            )
        return loss_pass
