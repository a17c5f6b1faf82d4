# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Position metrics: how a method treats the positions of a completion that are known to be decisions or forced.

On a task whose solver can tell, for every prefix of a completion, how many next tokens still lead to a correct
answer (`viable_next`), each position is a *decision* (`viable_next >= 2`: several continuations can still succeed),
*forced* (`== 1`: only one can) or *dead* (`0`: the prefix can no longer succeed). The step-by-step countdown task
(`trl_entropy.tasks.countdown_steps`) labels its completions this way.

[`PositionMetrics`] is a callback that gives a trl-entropy trainer such a labeller. The trainer then labels every
generated batch once (before TRL shuffles and splits it) and, in each loss pass, logs under `task/`:

- `task/decision_share`, `task/forced_share`, `task/dead_share`: shares of the valid completion positions;
- `task/entropy_decision`, `task/entropy_forced`: mean policy entropy (same forward as the loss) at those positions;
- for every per-token tensor a method publishes with `EntropyGRPOTrainer.record_token_values`:
  - a *value* `NAME` (e.g. the entropy advantage's bonus `psi`): `task/NAME_decision`, `task/NAME_forced`, its mean
    at decision and at forced positions;
  - a *selection* `NAME` (e.g. PAEC's soft mask, SENT's constrained tokens; a position counts as selected when its
    weight is at least 0.5): `task/NAME_precision` (share of selected positions that are decisions),
    `task/NAME_recall` (share of decision positions that are selected) and `task/NAME_forced_share` (share of
    selected positions that are forced).

Every figure is a `(sum, count)` pair reduced over all processes, so it is the exact share or mean over the positions
of the step, like the methods' own `entropy/` metrics. Dead positions count as valid positions that are neither
decisions nor forced.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from transformers import TrainerCallback

from .hook.component import OBSERVER_ORDER, Component
from .hook.context import TOKEN_VALUE_KINDS  # noqa: F401  (re-exported: its home was this module)


TASK_METRIC_PREFIX = "task/"
# Batch key of the per-position `viable_next` counts (-1 past the end), added at generation when labelled.
POSITION_LABELS_KEY = "trl_entropy_viable_next"
SELECTION_THRESHOLD = 0.5

#: `labeller(inputs, completion_ids, processing_class) -> (B, T)` viable-next counts, `-1` past the completion's end.
#: `inputs` are the dataset rows of the local batch, one per completion, in the order of `completion_ids`' rows.
PositionLabeller = Callable[[list[dict[str, Any]], torch.Tensor, Any], torch.Tensor]


def position_metric_sums(
    viable_next: torch.Tensor,
    mask: torch.Tensor,
    entropies: torch.Tensor,
    token_values: dict[str, tuple[torch.Tensor, str]] | None = None,
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    r"""
    The `(sum, count)` pairs of the position metrics of one micro-batch (see the module docstring for the names).

    Args:
        viable_next (`torch.Tensor`):
            `(B, T)` integer counts of viable next tokens per completion position; negative past the completion's end.
        mask (`torch.Tensor`):
            `(B, T)` mask of the positions the loss counts (TRL's completion mask times its tool mask).
        entropies (`torch.Tensor`):
            `(B, T)` per-token entropies of the policy.
        token_values (`dict[str, tuple[torch.Tensor, str]]`, *optional*):
            Per-token tensors `(B, T)` published by the method, each with its kind, `"value"` or `"selection"`.

    Returns:
        `dict[str, tuple[torch.Tensor, torch.Tensor]]`: Metric name (without the `task/` prefix) to `(sum, count)`.
    """
    valid = (mask > 0) & (viable_next >= 0)
    decision = valid & (viable_next >= 2)
    forced = valid & (viable_next == 1)
    dead = valid & (viable_next == 0)
    entropies = entropies.detach().float()
    num_valid = valid.sum()
    sums = {
        "decision_share": (decision.sum(), num_valid),
        "forced_share": (forced.sum(), num_valid),
        "dead_share": (dead.sum(), num_valid),
        "entropy_decision": ((entropies * decision).sum(), decision.sum()),
        "entropy_forced": ((entropies * forced).sum(), forced.sum()),
    }
    for name, (values, kind) in sorted((token_values or {}).items()):
        values = values.detach().float()
        if kind == "value":
            sums[f"{name}_decision"] = ((values * decision).sum(), decision.sum())
            sums[f"{name}_forced"] = ((values * forced).sum(), forced.sum())
        elif kind == "selection":
            selected = valid & (values >= SELECTION_THRESHOLD)
            sums[f"{name}_precision"] = ((selected & decision).sum(), selected.sum())
            sums[f"{name}_recall"] = ((selected & decision).sum(), decision.sum())
            sums[f"{name}_forced_share"] = ((selected & forced).sum(), selected.sum())
        else:
            raise ValueError(f"Token value {name!r} has kind {kind!r}; expected one of {TOKEN_VALUE_KINDS}.")
    return sums


class PositionMetrics(TrainerCallback):
    r"""
    Attach a position labeller to a trl-entropy trainer: pass an instance in `callbacks=`, and the trainer logs the
    `task/` metrics of the module docstring at every step.

    Labelling runs once per generated batch, on every process, on the CPU (the solver is plain Python); the loss-pass
    figures are a few masked sums over tensors the loss already holds.

    Args:
        labeller (`PositionLabeller`):
            `labeller(inputs, completion_ids, processing_class)` returning the `(B, T)` viable-next counts of the local
            completions (`-1` past their end), e.g. [`countdown_steps_labeller`].
    """

    def __init__(self, labeller: PositionLabeller):
        self.labeller = labeller

    def trainer_component(self, args: Any) -> PositionMetricsFeed:
        """The component that labels each generated batch and logs the `task/` metrics (added by the trainer)."""
        return PositionMetricsFeed(args, self)

    def label(self, inputs: list[dict[str, Any]], completion_ids: torch.Tensor, processing_class) -> torch.Tensor:
        """The viable-next counts of a generated batch, checked for shape, on the device of `completion_ids`."""
        labels = torch.as_tensor(self.labeller(inputs, completion_ids.cpu(), processing_class))
        if labels.shape != completion_ids.shape:
            raise ValueError(
                f"The position labeller returned labels of shape {tuple(labels.shape)} for completions of shape "
                f"{tuple(completion_ids.shape)}."
            )
        return labels.to(device=completion_ids.device, dtype=torch.long)


class PositionMetricsFeed(Component):
    """Labels every generated batch with a [`PositionMetrics`] labeller (once, before TRL shuffles and splits it) and
    logs the `task/` metrics of each loss pass, after every component published its per-token tensors."""

    name = "position_metrics"
    order = OBSERVER_ORDER

    def __init__(self, args: Any, callback: PositionMetrics):
        super().__init__(args)
        self.callback = callback

    def on_generation(self, ctx, batch, rows) -> None:
        batch[POSITION_LABELS_KEY] = self.callback.label(rows, batch["completion_ids"], ctx.processing_class)

    def on_loss_pass_end(self, ctx, forward) -> None:
        labels = forward.inputs.get(POSITION_LABELS_KEY)
        if labels is None:
            return
        sums = position_metric_sums(labels, forward.mask, forward.entropies, forward.token_values)
        for name, (total, count) in sums.items():
            ctx.log_metric(name, total, count, prefix=TASK_METRIC_PREFIX)


def countdown_steps_labeller(inputs: list[dict[str, Any]], completion_ids: torch.Tensor, processing_class):
    """The [`PositionLabeller`] of the step-by-step countdown task (dataset columns `numbers` and `target`)."""
    from .tasks.countdown_steps import label_batch

    missing = {"numbers", "target"} - set(inputs[0]) if inputs else set()
    if missing:
        raise ValueError(f"The countdown-steps position labeller needs the dataset columns {sorted(missing)}.")
    return label_batch(
        [row["numbers"] for row in inputs], [row["target"] for row in inputs], completion_ids, processing_class
    )


__all__ = [
    "POSITION_LABELS_KEY",
    "TASK_METRIC_PREFIX",
    "PositionMetrics",
    "PositionMetricsFeed",
    "countdown_steps_labeller",
    "position_metric_sums",
]
