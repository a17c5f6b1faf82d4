# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Moved to `trl_entropy.ppl_shaping.functional`, the method's own package; re-exported here."""

from ..ppl_shaping.functional import (  # noqa: F401
    IQR_FENCE,
    SIGMA_FLOOR,
    check_ppl_advantage_params,
    completion_log_perplexity,
    finite_token_mask,
    ppl_advantage_weights,
    ppl_shaped_advantages,
)
