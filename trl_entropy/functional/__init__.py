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
from .ppo import (
    check_ppo_params,
    clipped_value_loss,
    explained_variance,
    gae,
    masked_mean_var,
    masked_sums,
    mean_var_from_sums,
    outcome_token_rewards,
    whiten,
)
from .semantic_entropy import NO_ANSWER_POLICIES, answer_clusters, semantic_entropy
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
    "NO_ANSWER_POLICIES",
    "answer_clusters",
    "check_ppo_params",
    "clipped_value_loss",
    "explained_variance",
    "gae",
    "masked_mean_var",
    "masked_sums",
    "mean_var_from_sums",
    "outcome_token_rewards",
    "semantic_entropy",
    "whiten",
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
