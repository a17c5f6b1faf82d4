# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Moved to `trl_entropy.position_shaping.functional`, the method's own package; re-exported here."""

from ..position_shaping.functional import (  # noqa: F401
    check_position_advantage_params,
    position_bonus,
    position_shaped_advantages,
    relative_positions,
)
