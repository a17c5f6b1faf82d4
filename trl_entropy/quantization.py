# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""4-bit (bitsandbytes) policies on the CPU: generation with a policy that is being trained must keep its layout."""

import contextlib
from collections.abc import Iterator

import torch


# Set on every `bitsandbytes.nn.Linear4bit` (bitsandbytes >= 0.49): whether its forward may repack the weight.
_REPACKING_FLAG = "support_avx512bf16_for_cpu"


@contextlib.contextmanager
def keep_4bit_training_layout(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    r"""
    Run eval-mode forwards (generation) of a 4-bit policy without bitsandbytes' one-way CPU inference repacking.

    On a CPU with AVX512-BF16, `bitsandbytes.nn.Linear4bit.forward` (bitsandbytes 0.50, `bitsandbytes/nn/modules.py`)
    converts the layer's weight with `bitsandbytes.functional._convert_weight_packed_for_cpu` on the first forward in
    eval mode whose input needs no gradient, and keeps it so: the 4-bit codes are re-ordered for an inference kernel,
    the block scales (`absmax`) are rounded to bfloat16 and the quantisation state is marked
    `packing_format_for_cpu`. From then on `bitsandbytes.matmul_4bit` sends every CPU forward, training ones
    included, to that kernel (`gemv_4bit`), which has no backward: the next training step fails in place (`result +=
    bias` on the biased projections) or, without bias, would silently give no gradient through the frozen layer.
    bitsandbytes' inverse conversion is lossy (the bfloat16 scales stay), so undoing it afterwards would change the
    frozen base weights; instead this context skips the conversion, by clearing the layers' flag that allows it for
    the duration, and restores the flags afterwards. The forwards inside then take the same dequantise-and-matmul path
    as the training forward, with the weights untouched. Models without 4-bit layers (and GPUs, where bitsandbytes
    never repacks) are unaffected.

    Args:
        model (`torch.nn.Module`):
            Policy (a PEFT model or a plain one) about to generate in eval mode.

    Yields:
        `torch.nn.Module`: The same model.
    """
    layers = [module for module in model.modules() if getattr(module, _REPACKING_FLAG, False)]
    for layer in layers:
        setattr(layer, _REPACKING_FLAG, False)
    try:
        yield model
    finally:
        for layer in layers:
            setattr(layer, _REPACKING_FLAG, True)


def has_cpu_inference_layout(model: torch.nn.Module) -> bool:
    """Whether any 4-bit layer of `model` holds bitsandbytes' CPU inference layout (see
    [`keep_4bit_training_layout`]), in which it can no longer train."""
    return any(
        getattr(getattr(getattr(module, "weight", None), "quant_state", None), "packing_format_for_cpu", False)
        for module in model.modules()
    )


def disable_cpu_inference_repacking(model: torch.nn.Module) -> int:
    r"""
    Keep every 4-bit layer of a policy that is trained in its training layout for good: clear the flag that lets
    bitsandbytes repack a layer on an eval-mode forward (see [`keep_4bit_training_layout`]).

    [`~trl_entropy.EntropyGRPOTrainer`] calls it on its model, so that no eval-mode generation during training can
    break the next step, whichever path it takes (TRL's own evaluation loop, an evaluation of the in-memory model, a
    user callback). Eval-mode forwards then dequantise as training forwards do: slower on the CPU than the packed
    kernel, and unchanged on GPUs, where bitsandbytes never repacks.

    Returns:
        `int`: The number of layers whose flag was cleared.
    """
    layers = [module for module in model.modules() if getattr(module, _REPACKING_FLAG, False)]
    for layer in layers:
        setattr(layer, _REPACKING_FLAG, False)
    return len(layers)
