# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Collectives the methods share, on top of Accelerate's, and the layout check of the methods that work over a whole
optimizer step."""

import torch


def gather_variable_length(accelerator, local: torch.Tensor) -> tuple[torch.Tensor, int]:
    """
    Concatenate along the first dimension a tensor whose first dimension differs between processes, in process order,
    on every process (two collectives, whatever the trailing dimensions).

    Args:
        accelerator (`accelerate.Accelerator`):
            The trainer's accelerator.
        local (`torch.Tensor`):
            This process's values, `(n_p, ...)`; the trailing dimensions are the same on every process.

    Returns:
        `tuple[torch.Tensor, int]`: The values of all processes, `(sum n_p, ...)`, and the offset of this process's
        values in it.
    """
    if local.dim() == 0:
        raise ValueError("`local` must have at least one dimension, got a scalar.")
    if accelerator.num_processes == 1:
        return local, 0
    counts = accelerator.gather(torch.tensor([local.size(0)], device=local.device)).tolist()
    padded = local.new_zeros((max(counts), *local.shape[1:]))
    padded[: local.size(0)] = local
    gathered = accelerator.gather(padded).view(len(counts), max(counts), *local.shape[1:])
    values = torch.cat([gathered[rank, :count] for rank, count in enumerate(counts)])
    return values, sum(counts[: accelerator.process_index])


def check_step_scope_layout(args, field_name: str, value: str, alternative: str) -> None:
    """A scope over the micro-batches of one optimizer step needs them in one generation batch: refuse (naming
    `field_name`, its `value` and the `alternative` scope) a `steps_per_generation` that is not a multiple of
    `gradient_accumulation_steps`."""
    accumulation, per_generation = args.gradient_accumulation_steps, args.steps_per_generation
    if per_generation is not None and per_generation % accumulation != 0:
        raise ValueError(
            f"`{field_name}={value!r}` works over the {accumulation} micro-batches of an optimizer step, which must "
            f"come from one generation: `steps_per_generation` ({per_generation}) must be a multiple of "
            f"`gradient_accumulation_steps` ({accumulation}). Use `{field_name}={alternative!r}` or change one of "
            "the two."
        )
