# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Pure tensor functions: the mathematics of every method, free of trainer state."""

from .entropy_advantage import check_entropy_advantage_params, entropy_advantage


__all__ = ["check_entropy_advantage_params", "entropy_advantage"]
