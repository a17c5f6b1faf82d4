# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Small checks shared by the methods' pure functions (a leaf module: torch only)."""

import torch


def check_value(name: str, value, valid: bool, valid_range: str) -> None:
    """Raise a `ValueError` naming the field, its value and the valid range unless `valid`."""
    if not valid:
        raise ValueError(f"`{name}` must be {valid_range}, got {value!r}.")


def token_advantages(advantages: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """`(B,)` or `(B, T)` advantages as a `(B, T)` view, checked against the tokens' shape."""
    if advantages.dim() == 1:
        advantages = advantages.unsqueeze(1)
    if advantages.dim() != 2 or advantages.size(0) != shape[0] or advantages.size(1) not in (1, shape[1]):
        raise ValueError(
            f"`advantages` must have shape (B,) or (B, T) with (B, T) = {tuple(shape)}, got {tuple(advantages.shape)}."
        )
    return advantages.expand(shape)
