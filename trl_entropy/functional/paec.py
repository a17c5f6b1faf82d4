# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Moved to `trl_entropy.paec.functional`, the method's own package; re-exported here."""

from ..paec.functional import (  # noqa: F401
    _CANDIDATE_GROWTH,
    _FIRST_CANDIDATES,
    _MASS_TOLERANCE,
    DEFAULT_TILE_LOGITS,
    ENTROPY_NORMALIZATIONS,
    MASK_SCOPES,
    PAEC_SCOPES,
    SCORE_COMBINATIONS,
    DecisionStatistics,
    _nucleus_from_sorted,
    check_mask_params,
    check_paec_params,
    check_score_params,
    check_top_p,
    decision_score,
    decision_statistics,
    logit_tiles,
    nucleus_entropy,
    nucleus_statistics,
    paec_penalty,
    soft_mask,
    top2_gap,
)
