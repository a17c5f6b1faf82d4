# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Pure tensor functions: the mathematics of every method, free of trainer state."""

from .entropy_advantage import check_entropy_advantage_params, entropy_advantage
from .paec import (
    DecisionStatistics,
    check_paec_params,
    decision_score,
    decision_statistics,
    nucleus_entropy,
    nucleus_statistics,
    paec_penalty,
    soft_mask,
    top2_gap,
)
from .position_shaping import (
    check_position_advantage_params,
    position_bonus,
    position_shaped_advantages,
    relative_positions,
)
from .ppl_shaping import (
    check_ppl_advantage_params,
    completion_log_perplexity,
    ppl_advantage_weights,
    ppl_shaped_advantages,
)
from .sent_kl import (
    CovSelection,
    check_sent_kl_params,
    kl_estimate,
    low_entropy_cov_coefficients,
    low_entropy_cov_kl,
    low_entropy_cov_selection,
    selection_coefficients,
)


__all__ = [
    "CovSelection",
    "check_sent_kl_params",
    "kl_estimate",
    "low_entropy_cov_coefficients",
    "low_entropy_cov_kl",
    "low_entropy_cov_selection",
    "selection_coefficients",
    "DecisionStatistics",
    "check_paec_params",
    "decision_score",
    "decision_statistics",
    "nucleus_entropy",
    "nucleus_statistics",
    "paec_penalty",
    "soft_mask",
    "top2_gap",
    "check_entropy_advantage_params",
    "check_position_advantage_params",
    "check_ppl_advantage_params",
    "completion_log_perplexity",
    "entropy_advantage",
    "position_bonus",
    "position_shaped_advantages",
    "ppl_advantage_weights",
    "ppl_shaped_advantages",
    "relative_positions",
]
