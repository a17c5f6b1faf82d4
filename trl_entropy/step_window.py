# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""`OptimizerStepWindow`: a method's per-micro-batch quantities computed once per optimizer step, over all of its
micro-batches on every process, before the step's first loss pass (Clip-Cov/KL-Cov `global`, PAEC `step`)."""

from typing import Any

import torch
from trl.models.utils import disable_gradient_checkpointing

from .hook.policy import capture_final_hidden_states, completion_hidden_states, loss_mask


# Arguments of TRL's policy forward that `_compute_loss` reads from the batch (besides the ids and masks).
FORWARD_INPUT_KEYS = (
    "pixel_values", "image_grid_thw", "num_images", "pixel_attention_mask", "spatial_shapes", "num_tiles",
    "image_sizes", "token_type_ids", "mm_token_type_ids", "image_position_ids",
)  # fmt: skip


class OptimizerStepWindow:
    """
    A mixin before [`EntropyGRPOTrainer`] for methods whose per-micro-batch quantities depend on the whole optimizer
    step.

    TRL buffers the generation batch and feeds its slices one per micro-batch, counting them in `_step`; an optimizer
    step is `current_gradient_accumulation_steps` consecutive slices, and the policy does not change until its last
    backward. So when TRL prepares the first micro-batch of a step (`_step % accumulation == 0`), and
    [`step_window_active`] says so, [`build_step_window`] receives all the step's micro-batches (this process's; it
    gathers across processes itself) and returns the window, kept in `step_window`; each loss pass reads its entry by
    [`step_window_index`]. [`step_window_forward`] is the policy's forward without gradient that a window needs.
    """

    # The config field that selects the step scope, for error messages.
    step_window_field: str = ""
    step_window: Any = None
    _step_window_shapes: tuple[tuple[int, ...], ...] = ()

    def step_window_active(self) -> bool:
        """Whether the current micro-batches read a step window (checked when TRL prepares each micro-batch)."""
        raise NotImplementedError

    def build_step_window(self, batches: list[dict[str, Any]]) -> Any:
        """The window of the optimizer step whose micro-batches on this process are `batches`, in TRL's order."""
        raise NotImplementedError

    def _prepare_inputs(self, generation_batch):
        inputs = super()._prepare_inputs(generation_batch)
        if self.step_window_active():
            accumulation = self.current_gradient_accumulation_steps
            if self._step % accumulation == 0:  # TRL counts micro-batches in `_step`; this one opens a step
                start = self._step % self.args.steps_per_generation
                batches = self._buffered_inputs[start : start + accumulation]
                self._step_window_shapes = tuple(tuple(loss_mask(batch).shape) for batch in batches)
                self.step_window = self.build_step_window(batches)
        return inputs

    def step_window_index(self, mask: torch.Tensor) -> int:
        """The index of this loss pass's micro-batch in the step window, checked against the window's shapes."""
        index = self._step % self.current_gradient_accumulation_steps
        shapes = self._step_window_shapes
        if self.step_window is None or index >= len(shapes):
            raise RuntimeError(
                f"`{self.step_window_field}`: no step window entry for micro-batch {index} of this step; the window "
                "is built when TRL prepares the step's first micro-batch."
            )
        if shapes[index] != tuple(mask.shape):
            raise RuntimeError(
                f"`{self.step_window_field}`: the window's micro-batch {index} has shape {shapes[index]}, the loss "
                f"pass {tuple(mask.shape)}; TRL fed the micro-batches in another order than it buffered them."
            )
        return index

    def step_window_forward(
        self, batch: dict[str, Any], compute_entropy: bool = False, capture_hidden_states: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """The policy's per-token log-probs, entropies (with `compute_entropy`) and final hidden states of the
        completion positions (with `capture_hidden_states`, `(B, T, H)`) on one buffered micro-batch, without
        gradient, through TRL's own forward (fused LM head: no `(B, T, V)` logits)."""
        num_positions = batch["completion_ids"].size(1)
        with (
            torch.no_grad(),
            disable_gradient_checkpointing(self.model, self.args.gradient_checkpointing_kwargs),
            capture_final_hidden_states(self.model, capture_hidden_states) as captured,
        ):
            logps, entropies, _ = self._get_per_token_logps_and_entropies(
                self.model,
                torch.cat([batch["prompt_ids"], batch["completion_ids"]], dim=1),
                torch.cat([batch["prompt_mask"], batch["completion_mask"]], dim=1),
                num_positions,
                compute_entropy=compute_entropy,
                **{key: batch.get(key) for key in FORWARD_INPUT_KEYS},
            )
        hidden_states = None
        if capture_hidden_states:
            hidden_states = completion_hidden_states(captured, num_positions, self, self.model)
        return logps, entropies, hidden_states
