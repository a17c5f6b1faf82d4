# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Moved to `trl_entropy.entropy_advantage.functional`, the method's own package; re-exported here."""

from ..entropy_advantage.functional import (  # noqa: F401
    check_entropy_advantage_params,
    entropy_advantage,
)
