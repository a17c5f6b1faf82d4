# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""The policy's forward as the hook sees it: the loss mask, the modules under any wrapping, the final hidden states of
a forward, and the whole LM head under ZeRO-3 or FSDP2. Knows no method."""

import contextlib
from typing import Any

import torch
from trl.trainer.utils import maybe_gather_lm_head_ctx


def loss_mask(batch: dict[str, Any]) -> torch.Tensor:
    """The mask of the completion tokens TRL's loss counts: the completion mask times the tool mask, when there is
    one (tool outputs inside a completion are not the policy's tokens)."""
    mask = batch["completion_mask"]
    if "tool_mask" in batch:
        mask = mask * batch["tool_mask"]
    return mask.float()


@contextlib.contextmanager
def capture_final_hidden_states(model, enabled: bool = True):
    """
    Keep, detached, the final hidden states of the forwards run in the block: a list of the backbone's outputs (one
    per chunk TRL forwards), empty when `enabled` is false. TRL's fused head calls the backbone module and reads the
    head's weight directly, so the backbone's output is the head's input. The hook lives for the block only:
    reference forwards and activation recomputation in a later backward are not captured.
    """
    captured: list[torch.Tensor] = []
    hook = None
    if enabled:
        backbone = policy_modules(model)[1]
        hook = backbone.register_forward_hook(lambda module, args, output: captured.append(output[0].detach()))
    try:
        yield captured
    finally:
        if hook is not None:
            hook.remove()


def completion_hidden_states(captured: list[torch.Tensor], num_positions: int, trainer, model) -> torch.Tensor:
    """The `(B, T, H)` hidden states that predict the `T = num_positions` completion tokens, from the outputs
    [`capture_final_hidden_states`] kept; raises if the fused head did not call the backbone."""
    if not captured:
        raise RuntimeError(
            f"{type(trainer).__name__} needs the final hidden states of the policy forward, but the model's "
            f"backbone ({type(policy_modules(model)[1]).__name__}) was not called by TRL's fused LM head."
        )
    # Hidden state i predicts token i + 1: the completion's T tokens are predicted from T positions ending one
    # before the last.
    return torch.cat([h[:, -num_positions - 1 : -1] for h in captured], dim=0)


def policy_modules(model) -> tuple[torch.nn.Module, torch.nn.Module, torch.nn.Module]:
    """The causal LM under any Accelerate/DDP/PEFT wrapping, its backbone (the module TRL's fused head calls) and its
    LM head."""
    while hasattr(model, "module") and isinstance(model.module, torch.nn.Module):  # DDP, DeepSpeed engine
        model = model.module
    if hasattr(model, "get_base_model"):  # PEFT
        model = model.get_base_model()
    return model, model.base_model, model.get_output_embeddings()


def logit_transform(text_config) -> tuple[float, float | None]:
    """The multiplier and soft-cap a model applies to its projected logits (the attributes TRL's fused head reads)."""
    softcap = getattr(text_config, "final_logit_softcapping", None)
    scale = getattr(text_config, "logit_scale", None)
    if scale is None:
        scale = getattr(text_config, "output_multiplier", None)
    if scale is None:
        scale = getattr(text_config, "lm_head_multiplier", None)
    if scale is None and getattr(text_config, "logits_scaling", None) is not None:
        scaling = text_config.logits_scaling
        scale = scaling if text_config.model_type == "hyperclovax" else 1 / scaling
    return (1.0 if scale is None else float(scale)), softcap


def with_full_lm_head(model, compute):
    """
    `compute(weight, bias, logit_scale, softcap)` with the policy's whole LM head, detached: gathered under ZeRO-3
    (which leaves an empty weight outside the gather, so read shapes inside `compute`) and unsharded under FSDP2.
    """
    causal_lm, _, lm_head = policy_modules(model)
    scale, softcap = logit_transform(causal_lm.config.get_text_config())
    weight, bias = lm_head.weight, lm_head.bias
    with maybe_gather_lm_head_ctx(weight, *(() if bias is None else (bias,))):
        if hasattr(weight, "full_tensor"):  # FSDP2 shards the head as a DTensor
            weight = weight.full_tensor()
            bias = None if bias is None else bias.full_tensor()
        # the head may run in float32 (`cast_lm_head_to_fp32`) while the backbone ran in bfloat16: callers cast the
        # hidden states to the weight's dtype
        return compute(weight.detach(), None if bias is None else bias.detach(), scale, softcap)
